//! `edgegan-fuzz egm|onnx --execs N`: the mutation fuzzer's long run (see the crate docs).
//! Prints the counts and the rate; on a crash writes the input to `--crash-dir` and exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use edgegan_fuzz::{Lane, Stats, Target, corpus, models_dir, run};

#[derive(Debug, Parser)]
#[command(name = "edgegan-fuzz", about)]
struct Cli {
    /// What to fuzz.
    target: TargetArg,
    /// Executions.
    #[arg(long, default_value_t = 100_000)]
    execs: u64,
    /// The run's seed (with the execution number it names each input).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first execution number (to replay one input, or continue a run).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Folder of model folders [default: the repository's models/].
    #[arg(long)]
    models: Option<PathBuf>,
    /// Where a crashing input is written.
    #[arg(long, default_value = ".")]
    crash_dir: PathBuf,
    /// Go on after a crash (its input is written all the same) and count them.
    #[arg(long)]
    keep_going: bool,
    /// The fast lane (the long runs): load and validate every `.egm` input, sample only
    /// the models of at most 100,000 multiply-accumulates; lower every ONNX input and
    /// write it as f32, compile only those models completely.
    #[arg(long)]
    fast: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    /// The .egm parser under the host limits, then one sample.
    Egm,
    /// The ONNX compiler with its caps.
    Onnx,
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("edgegan-fuzz: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main_inner() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let target = match cli.target {
        TargetArg::Egm => Target::Egm,
        TargetArg::Onnx => Target::Onnx,
    };
    // checked before the run, so a crash found hours in is not lost for want of a folder
    if !cli.crash_dir.is_dir() {
        anyhow::bail!("--crash-dir {}: not a folder", cli.crash_dir.display());
    }
    let dir = cli.models.unwrap_or_else(models_dir);
    let seeds = corpus(&dir, target).map_err(anyhow::Error::msg)?;
    let lane = if cli.fast { Lane::Fast } else { Lane::Full };
    println!(
        "fuzzing {target:?} ({lane:?} lane): {} inputs from {}, seed {}, executions {}..{}",
        seeds.len(),
        dir.display(),
        cli.seed,
        cli.first,
        cli.first.saturating_add(cli.execs)
    );
    // The panic hook's message is printed with the crash below; keep stderr quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let line = |s: &Stats| {
        let secs = start.elapsed().as_secs_f64();
        format!(
            "{} executions ({} accepted, {} loaded but not {}, {} refused) in {secs:.1} s, \
             {:.0} per second",
            s.execs,
            s.accepted,
            s.loaded,
            match target {
                Target::Egm => "sampled",
                Target::Onnx => "compiled",
            },
            s.rejected,
            s.execs as f64 / secs.max(1e-9)
        )
    };
    let every = match target {
        Target::Egm => 100_000,
        Target::Onnx => 1_000,
    };
    let end = cli.first.saturating_add(cli.execs);
    let (mut next, mut total, mut crashes) = (cli.first, Stats::default(), 0u64);
    loop {
        let result = run(
            target,
            lane,
            &seeds,
            cli.seed,
            next,
            end - next,
            every,
            |s| println!("{}", line(&total.plus(s))),
        );
        let crash = match result {
            Ok(stats) => {
                total = total.plus(&stats);
                break;
            }
            Err(crash) => crash,
        };
        let path = cli.crash_dir.join(format!(
            "crash-{}-seed{}-exec{}.bin",
            match target {
                Target::Egm => "egm",
                Target::Onnx => "onnx",
            },
            cli.seed,
            crash.exec
        ));
        std::fs::write(&path, &crash.input)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "CRASH at execution {}: {}\ninput written to {} (replay: --seed {} --first {} --execs 1)",
            crash.exec,
            crash.message,
            path.display(),
            cli.seed,
            crash.exec
        );
        crashes += 1;
        total = total.plus(&crash.before).plus(&Stats {
            execs: 1,
            ..Stats::default()
        });
        next = crash.exec + 1;
        if !cli.keep_going || next >= end {
            break;
        }
    }
    if crashes == 0 {
        println!("done: {}; no crash", line(&total));
        Ok(ExitCode::SUCCESS)
    } else {
        println!("done: {}; {crashes} crash(es)", line(&total));
        Ok(ExitCode::FAILURE)
    }
}
