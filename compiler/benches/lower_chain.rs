//! `cargo bench --workspace --bench lower_chain [-- NODES]`: how long the compiler takes on a
//! chain of NODES `Tanh` nodes (default 100,000), split into tract's part (caps, parse,
//! type, declutter) and the lowering walk; on a 256 KiB thread stack, so a walk that
//! recursed per node would overflow. The chain lowers to one op per node, over the
//! format's 1,024, so the compile ends at the writer's refusal, after the lowering.

#[allow(dead_code)]
#[path = "../tests/common/onnx.rs"]
mod onnx;

use std::time::Instant;

use edgegan_compiler::compile::{CompileError, CompileOptions, compile_onnx_bytes};
use edgegan_compiler::tract::{OnnxLimits, caps};
use onnx::tanh_chain;
use tract_onnx::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes: usize = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(a) => a.parse().map_err(|e| format!("NODES {a:?}: {e}"))?,
        None => 100_000,
    };
    let bytes = tanh_chain(nodes);
    let limits = OnnxLimits {
        max_nodes: nodes + 1,
        ..OnnxLimits::default()
    };
    let thread = std::thread::Builder::new().stack_size(256 << 10);
    let (load, total, result) = thread
        .spawn(move || {
            // tract's part alone (what the compile does before its walk), step by step
            let start = Instant::now();
            let mut steps = vec![];
            let mut lap = |name: &'static str| {
                steps.push((name, start.elapsed().as_secs_f64()));
            };
            let load = caps::check(&bytes, &limits)
                .map_err(|e| e.to_string())
                .and_then(|proto| {
                    lap("caps");
                    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
                    let m = caps::parse_with(&onnx, &proto, None).map_err(|e| e.to_string())?;
                    lap("parse");
                    let n = m.nodes().len();
                    let m = m.into_typed().map_err(|e| format!("{e:#}"))?;
                    lap("type");
                    let m = m.into_decluttered().map_err(|e| format!("{e:#}"))?;
                    lap("declutter");
                    Ok((n, m.nodes().len()))
                });
            let load_s = start.elapsed().as_secs_f64();
            let mut last = 0.0;
            for (name, t) in steps {
                eprintln!("    {name:<10} {:8.2} s", t - last);
                last = t;
            }
            let options = CompileOptions {
                limits,
                ..CompileOptions::default()
            };
            let start = Instant::now();
            let result = compile_onnx_bytes(&bytes, &options).map(|c| c.graph.ops.len());
            (
                load.map(|n| (n, load_s)),
                start.elapsed().as_secs_f64(),
                result,
            )
        })?
        .join()
        .map_err(|_| "the compile panicked")?;
    let (counts, load_s) = load?;
    println!(
        "{nodes}-node Tanh chain ({} tract nodes, {} after declutter), 256 KiB stack:",
        counts.0, counts.1
    );
    println!("  tract (caps, parse, type, declutter)  {load_s:8.2} s");
    println!("  compile (the same, then the walk)     {total:8.2} s");
    println!(
        "  the lowering walk (difference)        {:8.2} s",
        (total - load_s).max(0.0)
    );
    match result {
        Err(CompileError::Build(e)) => println!("  then refused by the writer: {e}"),
        Ok(ops) => println!("  compiled: {ops} ops"),
        Err(e) => return Err(format!("the compile failed before the writer: {e}").into()),
    }
    Ok(())
}
