//! The fuzzer's short run, in the test command: a few seconds of each target over the
//! shipped models. The long run is `cargo run --release -p edgegan-fuzz -- egm --execs N`.

use edgegan_fuzz::{Target, corpus, models_dir, run};

fn short_run(target: Target, execs: u64) {
    let seeds = corpus(&models_dir(), target).unwrap();
    assert!(seeds.len() >= 3, "{} shipped models", seeds.len());
    match run(target, &seeds, 12, 0, execs, 0, |_| {}) {
        Ok(stats) => {
            assert_eq!(stats.execs, execs);
            // Both verdicts are reached: the mutations are neither all fatal nor all
            // harmless, so the run exercises the checks and the sampler behind them.
            assert!(stats.accepted > 0 && stats.rejected > 0, "{stats:?}");
        }
        Err(crash) => panic!(
            "{target:?} crashed at execution {} (seed 12): {}",
            crash.exec, crash.message
        ),
    }
}

#[test]
fn egm_parser_and_sampler_survive_20000_mutated_models() {
    short_run(Target::Egm, 20_000);
}

#[test]
fn onnx_compiler_survives_60_mutated_generators() {
    short_run(Target::Onnx, 60);
}
