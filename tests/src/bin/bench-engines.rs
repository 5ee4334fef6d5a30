//! `bench-engines [MODEL_DIR...]`: every engine side by side (one thread, plus
//! multi-threaded batch-64 rows for the runtime's `ParallelSampler` and ONNX Runtime), as a markdown
//! table: latency per sample (median of several timed runs), heap allocations per sample
//! (a counting global allocator), working memory, and model bytes.
//!
//! ```text
//! cargo run --release -p edgegan-tests --bin bench-engines
//! cargo run --release -p edgegan-tests --bin bench-engines -- models/ring8-cgan models/fashion-cgan
//! ```
//!
//! Without arguments it benchmarks `models/ring8-cgan` (MLP) and `models/fashion-cgan`
//! (conv) where present. A folder needs `generator.onnx` and `model.{f32,w8a32,w8a8}.egm`
//! (`scripts/compile-models.sh`); no model card or checkpoint is needed.
//!
//! Engines: the device runtime (`Sampler::sample_with_noise`, one sample at a time, one
//! arena allocated once; and `BatchSampler::sample_rows`, the whole batch op by op in one
//! arena of batch × arena bytes, the ops prepared once), tract through the compiler crate's `TractSampler` (plan fixed at batch
//! 1, state and input tensors reused, one sample at a time), tract with the symbolic-batch
//! plan of the test suite (whole batch per run), and ONNX Runtime 1.32 (`intra_threads =
//! 1`, whole batch per run; its C++ allocations bypass Rust's global allocator, so its
//! counts are the Rust side only). At batch 64 three more rows: the runtime's
//! `ParallelSampler` (the batch split over rayon's threads, one arena each: per sample, or
//! one sub-batch per thread through a `BatchSampler` each) and ONNX Runtime with one
//! intra-op thread per core. ONNX Runtime int8 is not measured: making an int8 ONNX model
//! needs onnxruntime's Python `quantize_dynamic`/`quantize_static`, which is not
//! available at run time, and there is no Rust quantiser for ONNX graphs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use edgegan_compiler::TractSampler;
use edgegan_runtime::{BatchSampler, DeviceModel, Noise, ParallelSampler, Sampler};
use edgegan_tests::alloc::{Counting, allocations, live_bytes, peak_bytes, reset_peak};
use edgegan_tests::case::{CaseInputs, CaseSpec, ConditionSpec};
use edgegan_tests::engine::Engine;
use edgegan_tests::engines::egm::{EgmEngine, FORMATS, engine_name, row_condition};
use edgegan_tests::engines::ort::OrtEngine;
use edgegan_tests::engines::tract::TractEngine;
use edgegan_tests::model::{ConditionKind, ModelInfo, ONNX_FILE, repo_root};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Timed runs per measurement (at least [`MIN_RUNS`], more while under [`BUDGET`]).
const MAX_RUNS: usize = 15;
const MIN_RUNS: usize = 5;
const BUDGET: Duration = Duration::from_secs(3);

/// One row of the table.
struct Row {
    model: String,
    batch: usize,
    engine: String,
    /// median seconds per sample
    latency: f64,
    allocations: f64,
    /// arena bytes (runtime) or peak heap growth during one run (tract, ORT)
    memory: String,
    model_bytes: u64,
}

/// What one timed run does: the whole batch, returning an error text on failure.
type RunFn<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;

/// Median time per sample, allocations per sample and peak heap growth of one run.
fn measure(batch: usize, mut run: RunFn<'_>) -> Result<(f64, f64, usize), String> {
    for _ in 0..2 {
        run()?; // warm-up: caches, lazily built state
    }
    let base = live_bytes();
    reset_peak();
    let before = allocations();
    run()?;
    let count = allocations() - before;
    let peak = peak_bytes().saturating_sub(base);
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_RUNS || (times.len() < MAX_RUNS && start.elapsed() < BUDGET) {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok((median / batch as f64, count as f64 / batch as f64, peak))
}

/// The runtime's condition for row `i` of a case.
fn row(case: &CaseInputs, i: usize, per_mask: usize) -> edgegan_runtime::Condition<'_> {
    row_condition(&case.condition, i, per_mask)
}

fn bench_model(dir: &Path, rows: &mut Vec<Row>) -> Result<(), String> {
    let onnx = dir.join(ONNX_FILE);
    let info = ModelInfo::from_onnx(&onnx).map_err(|e| e.to_string())?;
    let name = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
    let condition = match info.condition {
        ConditionKind::None => ConditionSpec::None,
        ConditionKind::Label { .. } => ConditionSpec::LabelCycle,
        ConditionKind::Mask => ConditionSpec::MaskCenter,
    };
    let egm: Vec<EgmEngine> = FORMATS
        .iter()
        .map(|&f| EgmEngine::open(dir, &info, f))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let tract = TractEngine::load(&onnx).map_err(|e| e.to_string())?;
    let ort = OrtEngine::load(&onnx).map_err(|e| e.to_string())?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let ort_threads = OrtEngine::load_with_threads(&onnx, threads).map_err(|e| e.to_string())?;
    let mut tract_sampler = TractSampler::from_onnx_path(&onnx).map_err(|e| e.to_string())?;
    for batch in [1, 64] {
        let case = CaseSpec {
            batch,
            seed: 0,
            condition,
        }
        .inputs(&info);
        let per_sample: usize = info.output_shape.iter().product();
        let noise_dim = info.noise_dim;
        let mut out = vec![0.0f32; per_sample];
        let mut push = |engine: String, m: (f64, f64, usize), memory: String, bytes: u64| {
            rows.push(Row {
                model: name.clone(),
                batch,
                engine,
                latency: m.0,
                allocations: m.1,
                memory: if memory.is_empty() {
                    format!("{} B heap", m.2)
                } else {
                    memory
                },
                model_bytes: bytes,
            });
        };
        for engine in &egm {
            let model = DeviceModel::from_bytes(engine.bytes()).map_err(|e| e.to_string())?;
            let mut arena = vec![0u8; model.arena_bytes()];
            let mut sampler = Sampler::new(&model, &mut arena).map_err(|e| e.to_string())?;
            let per_mask = model.condition().mask_len();
            let m = measure(
                batch,
                Box::new(|| {
                    for (i, z) in case.z.data().chunks_exact(noise_dim).enumerate() {
                        sampler
                            .sample_with_noise(z, row(&case, i, per_mask), &mut out)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                }),
            )?;
            push(
                format!("runtime {}", engine_name(engine.format())),
                m,
                format!("{} B arena", model.arena_bytes()),
                engine.bytes().len() as u64,
            );
            // the whole batch as one run of the batch executor (ops prepared once)
            let mut batched = BatchSampler::new(&model, batch).map_err(|e| e.to_string())?;
            let mut outs = vec![0.0f32; batch * per_sample];
            let conditions = |i: usize| row(&case, i, per_mask);
            let m = measure(
                batch,
                Box::new(|| {
                    batched
                        .sample_rows(batch, Noise::Given(case.z.data()), &conditions, &mut outs)
                        .map_err(|e| e.to_string())
                }),
            )?;
            push(
                format!("runtime {} (BatchSampler)", engine_name(engine.format())),
                m,
                format!("{} B arena", batch * model.arena_bytes()),
                engine.bytes().len() as u64,
            );
            if batch > 1 {
                // the same rows split over rayon's threads, one arena per thread
                let mut par = ParallelSampler::new(&model, 0);
                let threads = par.workers();
                let mut outs = vec![0.0f32; batch * per_sample];
                let m = measure(
                    batch,
                    Box::new(|| {
                        par.for_each_row(&mut outs, per_sample, |i, sampler, out| {
                            let z = case
                                .z
                                .data()
                                .get(i * noise_dim..(i + 1) * noise_dim)
                                .ok_or(edgegan_runtime::Error::Internal)?;
                            sampler.sample_with_noise(z, row(&case, i, per_mask), out)
                        })
                        .map_err(|e| e.to_string())
                    }),
                )?;
                push(
                    format!(
                        "runtime {} (ParallelSampler, {threads} threads)",
                        engine_name(engine.format())
                    ),
                    m,
                    format!("{threads} × {} B arena", model.arena_bytes()),
                    engine.bytes().len() as u64,
                );
                // one sub-batch per thread, each run by a `BatchSampler`
                let m = measure(
                    batch,
                    Box::new(|| {
                        par.sample_rows(batch, Noise::Given(case.z.data()), &conditions, &mut outs)
                            .map_err(|e| e.to_string())
                    }),
                )?;
                let rows = batch.div_ceil(threads);
                push(
                    format!(
                        "runtime {} (ParallelSampler + BatchSampler, {threads} threads)",
                        engine_name(engine.format())
                    ),
                    m,
                    format!("{threads} × {} B arena", rows * model.arena_bytes()),
                    engine.bytes().len() as u64,
                );
            }
        }
        let onnx_bytes = info.bytes;
        let per_mask = tract_sampler.condition().mask_len();
        let m = measure(
            batch,
            Box::new(|| {
                for (i, z) in case.z.data().chunks_exact(noise_dim).enumerate() {
                    tract_sampler
                        .sample_with_noise(z, row(&case, i, per_mask), &mut out)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }),
        )?;
        push(
            "tract f32 (TractSampler, batch-1 plan)".into(),
            m,
            String::new(),
            onnx_bytes,
        );
        for (label, engine) in [
            ("tract f32 (batch plan)", &tract as &dyn Engine),
            ("ort f32 (1 thread)", &ort as &dyn Engine),
        ] {
            let m = measure(
                batch,
                Box::new(|| engine.run(&case).map(drop).map_err(|e| e.to_string())),
            )?;
            push(label.into(), m, String::new(), onnx_bytes);
        }
        if batch > 1 {
            let m = measure(
                batch,
                Box::new(|| ort_threads.run(&case).map(drop).map_err(|e| e.to_string())),
            )?;
            push(
                format!("ort f32 ({threads} threads)"),
                m,
                String::new(),
                onnx_bytes,
            );
        }
    }
    Ok(())
}

/// Three significant digits or so: ms above a millisecond, µs with one decimal down to
/// 10 µs and two below (ring8-cgan's batch rows are a fraction of a microsecond).
fn latency(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else if seconds >= 1e-5 {
        format!("{:.1} µs", seconds * 1e6)
    } else {
        format!("{:.2} µs", seconds * 1e6)
    }
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!(
            "usage: bench-engines [MODEL_DIR...] (default: models/ring8-cgan, models/fashion-cgan)"
        );
        return ExitCode::from(2);
    }
    let dirs: Vec<PathBuf> = if args.is_empty() {
        ["ring8-cgan", "fashion-cgan"]
            .iter()
            .map(|n| repo_root().join("models").join(n))
            .filter(|d| d.join(ONNX_FILE).is_file())
            .collect()
    } else {
        args
    };
    let mut rows = Vec::new();
    for dir in &dirs {
        eprintln!("bench-engines: {} ...", dir.display());
        if let Err(e) = bench_model(dir, &mut rows) {
            eprintln!("bench-engines: {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    println!(
        "One thread unless a row names more; latency = median over {MIN_RUNS}..{MAX_RUNS} timed runs of the whole batch, \
         divided by the batch; allocations = heap allocations of one run / batch; memory = \
         the runtime's arena, or the peak heap growth during one run.\n"
    );
    println!(
        "| model | batch | engine | latency / sample | allocs / sample | memory | model bytes |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {} | {} |",
            r.model,
            r.batch,
            r.engine,
            latency(r.latency),
            r.allocations,
            r.memory,
            r.model_bytes
        );
    }
    println!(
        "\nONNX Runtime's own allocations (C++, libc malloc and its arena) are not seen by \
         Rust's global allocator: its columns count only the ort crate's Rust-side \
         allocations (input/output values, names)."
    );
    println!(
        "ONNX Runtime int8: not measured (an int8 ONNX model needs onnxruntime's Python \
         quantiser, not available at run time; no Rust ONNX quantiser)."
    );
    ExitCode::SUCCESS
}
