//! Samples a model `n` times with the host runtime and prints a checksum of the outputs:
//! the target to run under `valgrind --tool=callgrind` when counting the runtime's host
//! instructions per sample (deterministic, unlike wall time on a shared machine).
//!
//! ```text
//! cargo build --release -p edgegan-runtime --features std --example sample_loop
//! valgrind --tool=callgrind target/release/examples/sample_loop MODEL.egm sampler|batch N [TIMES]
//! ```
//!
//! `sampler` makes the samples one at a time with `Sampler`, `batch` as one `BatchSampler`
//! batch of `N`; all of it `TIMES` times (default 1; with `perf`, a long run of one path).
//! Label models get label `i % classes`; mask models an all-unknown mask.

use std::process::ExitCode;

use edgegan_runtime::{BatchSampler, Condition, ConditionKind, DeviceModel, Noise, Sampler};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample_loop: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the loop for the command line `args`; `Err` is the one line `main` prints before
/// exiting with code 2.
fn run(args: &[String]) -> Result<(), String> {
    let (path, mode, n, times) = match args {
        [path, mode, n] => (path, mode, n, "1"),
        [path, mode, n, times] => (path, mode, n, times.as_str()),
        _ => return Err("usage: sample_loop MODEL.egm sampler|batch N [TIMES]".into()),
    };
    let n: usize = n
        .parse()
        .map_err(|_| format!("N must be a count, not {n:?}"))?;
    let times: usize = times
        .parse()
        .map_err(|_| format!("TIMES must be a count, not {times:?}"))?;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let model = DeviceModel::from_bytes(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let mask_len = match model.condition() {
        ConditionKind::Mask { .. } => model.condition().mask_len(),
        _ => 0,
    };
    let (mask, masked) = (vec![0.0f32; mask_len], vec![0.0f32; mask_len]);
    let condition = |i: usize| match model.condition() {
        ConditionKind::None => Condition::None,
        ConditionKind::Label { classes } => Condition::Label(i as u32 % classes),
        ConditionKind::Mask { .. } => Condition::Mask {
            mask: &mask,
            masked: &masked,
        },
    };
    let len = model.output_len();
    let mut out = vec![0.0f32; n * len];
    let seeds: Vec<u64> = (0..n as u64).map(|s| 1000 + s).collect();
    match mode.as_str() {
        "sampler" => {
            let mut arena = vec![0u8; model.arena_bytes()];
            let mut sampler = Sampler::new(&model, &mut arena).map_err(|e| e.to_string())?;
            for _ in 0..times {
                for (i, out) in out.chunks_mut(len.max(1)).enumerate() {
                    sampler
                        .sample(seeds[i], condition(i), out)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        "batch" => {
            let mut batch = BatchSampler::new(&model, n).map_err(|e| e.to_string())?;
            for _ in 0..times {
                batch
                    .sample_rows(n, Noise::Seeds(&seeds), &condition, &mut out)
                    .map_err(|e| e.to_string())?;
            }
        }
        other => return Err(format!("mode must be sampler or batch, not {other:?}")),
    }
    let sum: f64 = out.iter().map(|&v| f64::from(v)).sum();
    println!("{n} samples, output sum {sum:.6}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::run;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn model() -> String {
        format!(
            "{}/../models/ring8-cgan/model.w8a8.egm",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn bad_command_lines_are_one_line_errors_naming_the_input() {
        let e = run(&args(&["/no/such.egm", "sampler", "2"])).unwrap_err();
        assert!(e.starts_with("/no/such.egm: "), "{e}");
        let readme = format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        let e = run(&args(&[&readme, "batch", "2"])).unwrap_err();
        assert!(e.starts_with(&format!("{readme}: ")), "{e}");
        let e = run(&args(&[&model(), "sampler", "x"])).unwrap_err();
        assert_eq!(e, "N must be a count, not \"x\"");
        let e = run(&args(&[&model(), "batch", "2", "-1"])).unwrap_err();
        assert_eq!(e, "TIMES must be a count, not \"-1\"");
        let e = run(&args(&[&model(), "fast", "2"])).unwrap_err();
        assert_eq!(e, "mode must be sampler or batch, not \"fast\"");
        let e = run(&args(&[&model()])).unwrap_err();
        assert!(e.starts_with("usage: "), "{e}");
    }

    #[test]
    fn both_modes_run_a_shipped_model() {
        for mode in ["sampler", "batch"] {
            run(&args(&[&model(), mode, "3", "2"])).unwrap();
        }
    }
}
