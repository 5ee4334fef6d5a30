//! The fuzzer's short run, in the test command: a few seconds of each target over the
//! shipped models. The long runs are
//! `cargo run --release -p edgegan-fuzz -- egm|onnx --fast --execs N`.

use edgegan_fuzz::{Lane, Stats, Target, corpus, models_dir, run};

fn short_run(target: Target, lane: Lane, execs: u64) -> Stats {
    let seeds = corpus(&models_dir(), target).unwrap();
    assert!(seeds.len() >= 3, "{} shipped models", seeds.len());
    match run(target, lane, &seeds, 12, 0, execs, 0, |_| {}) {
        Ok(stats) => {
            assert_eq!(stats.execs, execs);
            // Both verdicts are reached: the mutations are neither all fatal nor all
            // harmless, so the run exercises the checks and the sampler behind them.
            assert!(stats.accepted > 0 && stats.rejected > 0, "{stats:?}");
            stats
        }
        Err(crash) => panic!(
            "{target:?} crashed at execution {} (seed 12): {}",
            crash.exec, crash.message
        ),
    }
}

#[test]
fn egm_parser_and_sampler_survive_20000_mutated_models() {
    let stats = short_run(Target::Egm, Lane::Full, 20_000);
    assert_eq!(
        stats.loaded, 0,
        "the full lane samples every model that loads"
    );
}

#[test]
fn the_fast_egm_lane_validates_every_input_and_samples_the_small_models() {
    let stats = short_run(Target::Egm, Lane::Fast, 20_000);
    // the image models load without being sampled, the point models are sampled
    assert!(stats.loaded > 0, "{stats:?}");
}

#[test]
fn onnx_compiler_survives_60_mutated_generators() {
    short_run(Target::Onnx, Lane::Full, 60);
}

#[test]
fn the_fast_onnx_lane_lowers_every_input_and_compiles_the_small_models() {
    let stats = short_run(Target::Onnx, Lane::Fast, 300);
    // the image generators are lowered and written without being compiled completely
    assert!(stats.loaded > 0, "{stats:?}");
}
