//! `cargo bench --workspace --bench lower_chain [-- NODES]`: how long the compiler takes on a
//! chain of NODES `Tanh` nodes (default 100,000), split into tract's part (caps, parse,
//! type, declutter) and the lowering walk; on a 256 KiB thread stack, so a walk that
//! recursed per node would overflow. The chain lowers to one op per node, over the
//! format's 1,024, so the compile ends at the writer's refusal, after the lowering.
//! Each figure is the thread's CPU time (what a shared machine's load does not inflate)
//! and its wall time. On a long chain nearly all of it is tract's translation to its typed
//! model, quadratic in the node count: tract 0.23.9's `TypedModel::wire_node` compares the
//! new node's name with every node's.

#[allow(dead_code)]
#[path = "../tests/common/onnx.rs"]
mod onnx;

use std::time::Instant;

use edgegan_compiler::compile::{CompileError, CompileOptions, compile_onnx_bytes};
use edgegan_compiler::tract::{OnnxLimits, caps};
use onnx::tanh_chain;
use tract_onnx::prelude::*;

/// This thread's CPU time in seconds (Linux: `/proc/thread-self/stat`, in 1/100 s).
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // the fields after the command name: state is the first, utime the 12th, stime the 13th
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(f64::NAN, |(u, s)| (u + s) / 100.0)
}

/// CPU and wall time since a start.
#[derive(Clone, Copy)]
struct Clock {
    cpu: f64,
    wall: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            cpu: thread_cpu_s(),
            wall: Instant::now(),
        }
    }

    /// (CPU, wall) seconds since the start.
    fn lap(&self) -> (f64, f64) {
        (thread_cpu_s() - self.cpu, self.wall.elapsed().as_secs_f64())
    }
}

fn row(name: &str, (cpu, wall): (f64, f64)) {
    println!("  {name:<44} {cpu:8.2} s CPU {wall:8.2} s wall");
}

type Outcome = (
    Result<(usize, usize), String>,
    Vec<(&'static str, (f64, f64))>,
    (f64, f64),
    Result<usize, CompileError>,
);

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
    let (counts, steps, total, result): Outcome = thread
        .spawn(move || {
            // tract's part alone (what the compile does before its walk), step by step
            let mut steps = vec![];
            let mut clock = Clock::start();
            let mut lap = |name: &'static str| {
                steps.push((name, clock.lap()));
                clock = Clock::start();
            };
            let counts = caps::check(&bytes, &limits)
                .map_err(|e| e.to_string())
                .and_then(|proto| {
                    lap("caps");
                    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
                    let m = caps::parse_with(&onnx, &proto, None).map_err(|e| e.to_string())?;
                    lap("parse");
                    let n = m.nodes().len();
                    let m = m.into_typed().map_err(|e| format!("{e:#}"))?;
                    lap("type (into_typed)");
                    let m = m.into_decluttered().map_err(|e| format!("{e:#}"))?;
                    lap("declutter");
                    Ok((n, m.nodes().len()))
                });
            let options = CompileOptions {
                limits,
                ..CompileOptions::default()
            };
            let clock = Clock::start();
            let result = compile_onnx_bytes(&bytes, &options).map(|c| c.graph.ops.len());
            (counts, steps, clock.lap(), result)
        })?
        .join()
        .map_err(|_| "the compile panicked")?;
    let (before, after) = counts?;
    println!(
        "{nodes}-node Tanh chain ({before} tract nodes, {after} after declutter), 256 KiB stack:"
    );
    let (mut cpu, mut wall) = (0.0, 0.0);
    for (name, t) in &steps {
        row(&format!("tract: {name}"), *t);
        cpu += t.0;
        wall += t.1;
    }
    row("tract in all", (cpu, wall));
    // the walk is the difference, too small to read off two figures of tract's size on a
    // long chain (`perf record` on this bench puts the compiler's own code at 0.1 %)
    row("compile (tract again, the walk, the writer)", total);
    match result {
        Err(CompileError::Build(e)) => println!("  then refused by the writer: {e}"),
        Ok(ops) => println!("  compiled: {ops} ops"),
        Err(e) => return Err(format!("the compile failed before the writer: {e}").into()),
    }
    Ok(())
}
