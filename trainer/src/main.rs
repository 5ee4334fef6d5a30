//! `edgegan-train`: train, evaluate and sample GANs. The binary is glue: it parses
//! flags into a validated config, then calls the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use edgegan_train::config::{DataConfig, DatasetKind, example_config, limits, memory};
use edgegan_train::data::images::ImageSet;
use edgegan_train::evaluation::classifier::{TrainedClassifier, train_classifier};
use edgegan_train::evaluation::{
    DEFAULT_CLASSIFIER, RUN_CLASSIFIER, auto_epochs, evaluate_image_run, evaluate_run,
    images::score_images, record_classifier,
};
use edgegan_train::export::{export_run, shipped::ship_run};
use edgegan_train::training::RunDir;

/// `println!` to stdout that returns an error (a [`StdoutError`]) instead of panicking
/// when stdout is closed (`| head -1`) or full (`> /dev/full`).
macro_rules! outln {
    ($($arg:tt)*) => {
        write_stdout(&format!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` to stdout, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        write_stdout(&format!("{}", format_args!($($arg)*)))?
    };
}

// after the macros, so the subcommand handlers can use them
mod cli;

use cli::sample::{SampleArgs, sample};
use cli::train::{TrainArgs, image_classifier, load_for_sampling, train};

/// Writing to stdout failed.
#[derive(Debug)]
struct StdoutError(std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// Writes `text` to stdout and flushes it.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| StdoutError(e).into())
}

/// An error unless the flag `name`'s `value` is at most `max`, naming both.
fn flag_max(name: &str, value: usize, max: usize) -> anyhow::Result<()> {
    if value > max {
        bail!("{name} = {value} is above the limit of {max}");
    }
    Ok(())
}

/// Whether `err` is a closed stdout (the reader, e.g. `head`, has all it wanted).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Train GANs and conditional GANs (Burn, CPU) and evaluate them.
#[derive(Debug, Parser)]
#[command(name = "edgegan-train", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a GAN (default: the seed's algorithm on the conditional ring of 8 Gaussians),
    /// then evaluate it.
    Train(TrainArgs),
    /// Evaluate a run's latest (or a given) checkpoint; writes eval.json.
    Eval(EvalArgs),
    /// Print generated samples as CSV (data units), one row per sample.
    Sample(SampleArgs),
    /// Export a run's generator (the EMA weights when enabled) to ONNX per the contract
    /// (inputs `z`, `label`; output `x`; symbolic batch), checked against Burn with tract.
    Export(ExportArgs),
    /// Score images made elsewhere (e.g. `firmware-sim sample --format csv` from a
    /// quantised device model) with the evaluation classifier: FD, precision/recall,
    /// label accuracy against the held-out images.
    Score(ScoreArgs),
    /// Write a run's generator as a shipped model folder (generator.onnx checked against
    /// Burn, config.toml, generator.bpk): what models/<name>/ holds besides its card.
    Ship(ShipArgs),
    /// Train the evaluation classifier of an image dataset (the yardstick of the image
    /// metrics); prints its held-out accuracy. `--like RUN` trains it on a run's data and
    /// records it in the run.
    Classifier(ClassifierArgs),
    /// Print a commented config to start from (`--example image_folder`).
    Config(ConfigArgs),
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Which: image_folder, image_folder_rgb, csv, fashion_mnist or ring8.
    #[arg(long)]
    example: String,
}

#[derive(Debug, Args)]
struct ScoreArgs {
    /// CSV with a header and rows `seed,class,x0,x1,...` (values in [-1, 1]; class may be
    /// empty for unconditional samples), as `firmware-sim sample --format csv` writes.
    #[arg(long)]
    samples: PathBuf,
    /// Dataset the samples imitate.
    #[arg(long, default_value = "fashion_mnist")]
    dataset: DatasetKind,
    /// Folder of the dataset's files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Evaluation classifier.
    #[arg(long, default_value = DEFAULT_CLASSIFIER)]
    classifier: PathBuf,
    /// Seed of the real-vs-held-out floor.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
}

/// Reads `seed,class,x0,...` rows: (values, labels if every row has one).
fn read_sample_csv(path: &Path) -> anyhow::Result<(Vec<f32>, Option<Vec<i64>>)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    let mut all_labelled = true;
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        match row.get(1).filter(|c| !c.is_empty()) {
            Some(c) => labels.push(c.parse::<i64>().with_context(|| {
                format!(
                    "{}: row {}: class `{c}` is not an integer",
                    path.display(),
                    i + 2
                )
            })?),
            None => all_labelled = false,
        }
        for (j, cell) in row.iter().enumerate().skip(2) {
            let v: f32 = cell.parse().with_context(|| {
                format!(
                    "{}: row {}, column {}: `{cell}` is not a number",
                    path.display(),
                    i + 2,
                    j + 1
                )
            })?;
            if !v.is_finite() {
                bail!(
                    "{}: row {}, column {}: {v} is not finite",
                    path.display(),
                    i + 2,
                    j + 1
                );
            }
            x.push(v);
        }
    }
    Ok((x, all_labelled.then_some(labels)))
}

/// The image dataset `kind` from `dir` (its default folder when `None`), for `score`.
fn image_set(kind: DatasetKind, dir: Option<&Path>) -> anyhow::Result<ImageSet> {
    let data = DataConfig {
        kind,
        dir: dir.map(Path::to_path_buf),
        ..Default::default()
    };
    Ok(ImageSet::from_config(&data)?)
}

fn score(args: &ScoreArgs) -> anyhow::Result<()> {
    let set = image_set(args.dataset, args.data_dir.as_deref())?;
    let classifier = TrainedClassifier::load(&args.classifier)?;
    let (x, labels) = read_sample_csv(&args.samples)?;
    if let Some(l) = &labels
        && let Some(bad) = l
            .iter()
            .find(|&&v| v < 0 || v as usize >= set.class_names.len())
    {
        bail!(
            "{}: class {bad} is outside the dataset's {} classes",
            args.samples.display(),
            set.class_names.len()
        );
    }
    let report = score_images(&set, &classifier, &x, labels.as_deref(), args.seed)?;
    outln!("{report}");
    Ok(())
}

#[derive(Debug, Args)]
struct ShipArgs {
    /// Run folder.
    #[arg(long)]
    run: PathBuf,
    /// Model folder (created), e.g. models/fashion-cgan.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing, non-empty model folder.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct ClassifierArgs {
    /// Train it on this run's data (its config's data section) and record it in the run;
    /// written to RUN/classifier unless --out says otherwise.
    #[arg(long, conflicts_with_all = ["dataset", "data_dir", "channels", "image_size"])]
    like: Option<PathBuf>,
    /// Output folder (classifier.bpk + classifier.json); default models/classifier, or
    /// RUN/classifier with --like.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Dataset: fashion_mnist (default), idx or image_folder.
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Folder of the IDX files / picture classes (default for fashion_mnist: Debian's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// image_folder: 1 (grayscale) or 3 (RGB).
    #[arg(long)]
    channels: Option<usize>,
    /// image_folder: picture size, `28` or `HxW` (e.g. `40x32`).
    #[arg(long)]
    image_size: Option<String>,
    /// Epochs over the training split (default: 3, more for a small set so it gets about
    /// 300 gradient steps).
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Run folder.
    #[arg(long)]
    run: PathBuf,
    /// Output file.
    #[arg(long, default_value = "generator.onnx")]
    out: PathBuf,
    /// Checkpoint folder (default: the run's latest).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Run folder.
    #[arg(long)]
    run: PathBuf,
    /// Checkpoint folder (default: the run's latest).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Generated samples (default: 2,500 for mode datasets, 10,000 otherwise).
    #[arg(long)]
    samples: Option<usize>,
    /// Evaluation seed.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// Evaluation classifier of image runs (default: the one the run records).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Refuse when the evaluation is estimated to need more memory than this (bytes, or
    /// with K, M, G, T) [default: 3/4 of the machine's memory].
    #[arg(long, value_name = "BYTES", value_parser = memory::parse_bytes)]
    max_memory: Option<u64>,
}

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    if args.samples == Some(0) {
        bail!("--samples must be at least 1");
    }
    if let Some(n) = args.samples {
        flag_max("--samples", n, limits::MAX_SAMPLES)?;
    }
    // eval writes eval.json and run.json: one writer at a time
    let (run, config) = RunDir::open_locked(&args.run)?;
    // the samples, their normalised copy and the evaluation's own arrays
    // (the default is 2,500 or 10,000: the larger is estimated)
    let n = args.samples.unwrap_or(10_000);
    let gan = load_for_sampling(
        &run,
        config,
        args.checkpoint.as_deref(),
        n,
        16,
        args.max_memory,
    )?;
    if gan.dataset.image_shape().is_some() {
        let classifier = image_classifier(&run, &gan, args.classifier.as_deref(), false)?;
        let report = evaluate_image_run(&run, &gan, &classifier, args.samples, args.seed)
            .with_context(|| format!("with the classifier in {}", classifier.display()))?;
        outln!("{report}");
        outln!("wrote {}", run.path("eval.json").display());
        return Ok(());
    }
    let report = evaluate_run(&run, &gan, args.samples, args.seed)?;
    outln!("{report}");
    outln!("wrote {}", run.path("eval.json").display());
    Ok(())
}

fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let report = export_run(&args.run, &args.out, args.checkpoint.as_deref())?;
    // long arrays (an image normaliser is 784 zeros and 784 ones) are summarised; the
    // ONNX file holds them in full
    outln!("{}", serde_json::to_string_pretty(&report.summary())?);
    eprintln!(
        "wrote {} ({} bytes); tract matches Burn to {:.1e} (batch 1, 7, 64)",
        args.out.display(),
        report.bytes,
        report.max_abs_diff
    );
    Ok(())
}

/// `28` or `40x32` (height x width).
fn parse_size(text: &str) -> anyhow::Result<[usize; 2]> {
    let parse = |t: &str| -> anyhow::Result<usize> {
        t.trim().parse().ok().filter(|&v| v > 0).with_context(|| {
            format!("--image-size `{text}`: expected a positive size like 28 or 40x32")
        })
    };
    Ok(match text.split_once(['x', 'X']) {
        Some((h, w)) => [parse(h)?, parse(w)?],
        None => [parse(text)?; 2],
    })
}

fn classifier(args: &ClassifierArgs) -> anyhow::Result<()> {
    if args.epochs == Some(0) {
        bail!("--epochs must be at least 1");
    }
    let (data, out, run) = match &args.like {
        Some(root) => {
            // it records the classifier in the run's run.json: one writer at a time
            let (run, config) = RunDir::open_locked(root)?;
            let out = args.out.clone().unwrap_or_else(|| run.path(RUN_CLASSIFIER));
            (config.data, out, Some(run))
        }
        None => {
            let mut data = DataConfig {
                kind: args.dataset.unwrap_or(DatasetKind::FashionMnist),
                dir: args.data_dir.clone(),
                ..Default::default()
            };
            if let Some(c) = args.channels {
                data.channels = c;
            }
            if let Some(size) = &args.image_size {
                data.image_size = parse_size(size)?;
            }
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CLASSIFIER));
            (data, out, None)
        }
    };
    if !data.kind.is_image() {
        bail!(
            "the classifier is for image datasets (fashion_mnist, idx, image_folder); {} is {:?}",
            args.like
                .as_ref()
                .map_or("this dataset".into(), |r| r.display().to_string()),
            data.kind
        );
    }
    if data.kind == DatasetKind::ImageFolder && data.dir.is_none() {
        bail!("--dataset image_folder needs --data-dir (the folder with one sub-folder per class)");
    }
    let set = ImageSet::from_config(&data)?;
    let epochs = args.epochs.unwrap_or_else(|| auto_epochs(&set));
    let started = std::time::Instant::now();
    let trained = train_classifier(&set, epochs, args.seed, &out, |epoch, loss| {
        eprintln!("epoch {epoch}: mean cross-entropy {loss:.4}")
    })?;
    outln!(
        "classifier: held-out accuracy {:.4} on {} images after {epochs} epochs ({:.1} s); wrote {}",
        trained.card.test_accuracy,
        trained.card.test_images,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if let Some(run) = run {
        record_classifier(&run, &out)?;
        outln!(
            "recorded in {}: `edgegan-train eval --run {}` and --resume use it",
            run.path("run.json").display(),
            run.root.display()
        );
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Train(args) => train(args),
        Command::Eval(args) => {
            eval(args).with_context(|| format!("evaluating {}", args.run.display()))
        }
        Command::Sample(args) => {
            sample(args).with_context(|| format!("sampling {}", args.run.display()))
        }
        Command::Export(args) => {
            export(args).with_context(|| format!("exporting {}", args.run.display()))
        }
        Command::Classifier(args) => classifier(args),
        Command::Score(args) => score(args),
        Command::Ship(args) => {
            // held while shipping: no resume replaces the checkpoint being shipped
            let _lock = RunDir::open_locked(&args.run)
                .with_context(|| format!("shipping {}", args.run.display()))?;
            let report = ship_run(&args.run, &args.out, args.force)
                .with_context(|| format!("shipping {}", args.run.display()))?;
            outln!(
                "wrote {} (generator.onnx {} bytes, tract matches Burn to {:.1e}; config.toml, generator.bpk)",
                args.out.display(),
                report.bytes,
                report.max_abs_diff
            );
            Ok(())
        }
        Command::Config(args) => {
            out!("{}", example_config(&args.example)?);
            Ok(())
        }
    }
}

/// The error and its causes on one line, each cause only when the text before does not
/// already hold it (a `TrainError::Io` shows its OS error, which is also its source).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Burn's implicit default device: the CPU, unless `BURN_DEVICE` says otherwise.
///
/// Burn materialises a loaded optimizer state on its *default* device, which with the
/// `gpu` feature is wgpu's: loading a CPU run's checkpoint (`--resume`, `sample`, `eval`)
/// would open a GPU, or fail where there is none. The trainer names every device it
/// computes on itself (`--device`); Adam moves the loaded state to its parameters' device
/// on the next step, so staging it on the CPU is always right.
#[allow(unsafe_code)] // std::env::set_var, once, before any thread exists
fn default_burn_device_to_the_cpu() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: called first thing in `main`, while this is the only thread, so nothing
        // can read the environment concurrently.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

fn main() -> ExitCode {
    default_burn_device_to_the_cpu();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // a closed stdout ends the command quietly, as it does for `head`'s producers
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("edgegan-train: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_flags_override_the_default_config() {
        let cli = Cli::try_parse_from([
            "edgegan-train",
            "train",
            "--dataset",
            "grid25",
            "--unconditional",
            "--steps",
            "7",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else {
            panic!("not train")
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.data.kind, DatasetKind::Grid25);
        assert!(!c.data.conditional);
        assert_eq!(c.steps, 7);
        assert_eq!(TrainArgs::default_out(&c), Path::new("runs/grid25-gan"));
    }

    #[test]
    fn unknown_dataset_flag_is_rejected() {
        let err =
            Cli::try_parse_from(["edgegan-train", "train", "--dataset", "cifar"]).unwrap_err();
        assert!(err.to_string().contains("cifar"), "{err}");
    }

    #[test]
    fn out_and_resume_conflict() {
        assert!(
            Cli::try_parse_from(["edgegan-train", "train", "--out", "a", "--resume", "b"]).is_err()
        );
    }

    #[test]
    fn csv_without_path_is_rejected() {
        let cli = Cli::try_parse_from(["edgegan-train", "train", "--dataset", "csv"]).unwrap();
        let Command::Train(args) = cli.command else {
            panic!("not train")
        };
        assert!(args.resolve().is_err());
    }
}
