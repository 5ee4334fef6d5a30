//! `edgegan-train train`: the flags, the config they resolve to, and the run; also the
//! evaluation classifier an image run is scored with (shared with `eval`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use edgegan_train::config::memory::{self, MemoryEstimate, MemoryLimit};
use edgegan_train::config::{DatasetKind, DeviceChoice, TrainConfig};
use edgegan_train::data::Dataset;
use edgegan_train::evaluation::classifier::{TrainedClassifier, train_classifier};
use edgegan_train::evaluation::{
    RUN_CLASSIFIER, auto_epochs, evaluate_image_run, evaluate_run, find_classifier,
    images::classifier_fits, record_classifier,
};
use edgegan_train::networks::ModelSize;
use edgegan_train::training::{self, Gan, RunDir, TrainOptions};

use crate::{one_line, write_stdout};

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// TOML config file; flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Dataset: gauss1d, ring8, grid25, csv, fashion_mnist, idx or image_folder.
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Condition G and D on the class.
    #[arg(long, conflicts_with = "unconditional")]
    conditional: bool,
    /// Train an unconditional GAN.
    #[arg(long)]
    unconditional: bool,
    /// CSV file for `--dataset csv`.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Folder of the IDX files (fashion_mnist, idx) or of the picture classes
    /// (image_folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Evaluation classifier of image runs (default: the run's recorded one, else one that
    /// reads its images: RUN/classifier or models/classifier, else one is trained on the
    /// run's data into RUN/classifier).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Label column of the CSV (for a conditional model).
    #[arg(long)]
    label_column: Option<String>,
    /// Generator steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Where the training steps run: cpu, gpu (wgpu: Vulkan, Metal or DX12; a software
    /// device too) or auto (a hardware GPU if there is one, else the CPU) [config: device;
    /// default cpu]. With --resume it may change: checkpoints load on either.
    #[arg(long)]
    device: Option<DeviceChoice>,
    /// Run folder (default: runs/<dataset>-<gan|cgan>). Must not exist, be empty, or hold
    /// only an unfinished run with no checkpoint (which starts over).
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint (with `--steps`, to a
    /// new total).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// No run header, progress bar or log lines (results are still printed).
    #[arg(long, short)]
    quiet: bool,
    /// Refuse a config whose training step is estimated to need more memory than this
    /// (bytes, or with K, M, G, T: powers of 1024) [default: 3/4 of the machine's memory].
    #[arg(long, value_name = "BYTES", value_parser = memory::parse_bytes)]
    max_memory: Option<u64>,
}

impl TrainArgs {
    /// Low args -> the validated config the run will use.
    pub(crate) fn resolve(&self) -> anyhow::Result<TrainConfig> {
        let mut config = match &self.config {
            Some(path) => TrainConfig::from_toml_file(path)?,
            None => TrainConfig::default(),
        };
        if let Some(kind) = self.dataset {
            config.data.kind = kind;
        }
        if self.conditional {
            config.data.conditional = true;
        }
        if self.unconditional {
            config.data.conditional = false;
        }
        if let Some(csv) = &self.csv {
            config.data.path = Some(csv.clone());
        }
        if let Some(dir) = &self.data_dir {
            config.data.dir = Some(dir.clone());
        }
        if let Some(col) = &self.label_column {
            config.data.label_column = Some(col.clone());
        }
        if let Some(steps) = self.steps {
            config.steps = steps;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(device) = self.device {
            config.device = device;
        }
        if self.csv.is_some() && config.data.kind != DatasetKind::Csv {
            bail!(
                "--csv applies to the csv dataset; this run's dataset is {:?} (add --dataset csv)",
                config.data.kind
            );
        }
        config.validate()?;
        // the run must find its data from any folder, and its config.toml shows only
        // what applies to it
        config.data.absolutize()?;
        Ok(config.without_unused())
    }

    pub(crate) fn default_out(config: &TrainConfig) -> PathBuf {
        let kind = format!("{:?}", config.data.kind).to_lowercase();
        let gan = if config.data.conditional {
            "cgan"
        } else {
            "gan"
        };
        Path::new("runs").join(format!("{kind}-{gan}"))
    }
}

/// The memory a training step of `config` on `dataset` is estimated to need, checked
/// against the limit before any network is built or any folder made.
fn check_training_memory(
    config: &TrainConfig,
    dataset: &Dataset,
    limit: &MemoryLimit,
) -> anyhow::Result<Option<MemoryEstimate>> {
    // None: the networks cannot be built for this data, and Gan::new says why
    let estimate = memory::training_estimate(config, dataset);
    if let Some(e) = &estimate {
        e.check(limit)?;
    }
    Ok(estimate)
}

/// Loads a run's GAN to sample `n` samples of `bytes_per_value` bytes each, after
/// checking the memory that needs against `--max-memory` (or the machine's default).
pub(crate) fn load_for_sampling(
    run: &RunDir,
    config: TrainConfig,
    checkpoint: Option<&Path>,
    n: usize,
    bytes_per_value: u64,
    max_memory: Option<u64>,
) -> anyhow::Result<Gan> {
    let dataset = Dataset::from_config(&config.data)?;
    if let Some(e) = memory::sampling_estimate(&config, &dataset, n, bytes_per_value) {
        e.check(&MemoryLimit::from_flag(max_memory))?;
    }
    Ok(training::load_gan_with(run, config, dataset, checkpoint)?)
}

pub(crate) fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let verbose = !args.quiet;
    let limit = MemoryLimit::from_flag(args.max_memory);
    let estimate: Option<MemoryEstimate>;
    let (run, mut gan) = match &args.resume {
        Some(root) => {
            if args.config.is_some()
                || args.dataset.is_some()
                || args.seed.is_some()
                || args.conditional
                || args.unconditional
                || args.csv.is_some()
                || args.data_dir.is_some()
                || args.label_column.is_some()
            {
                bail!("--resume takes the run's own config; only --steps and --device may change");
            }
            let (run, mut config) = RunDir::open_locked(root)?;
            if let Some(steps) = args.steps {
                config.steps = steps;
            }
            if let Some(device) = args.device {
                config.device = device;
            }
            config.validate()?;
            let checkpoints = run.checkpoints();
            let dataset = Dataset::from_config(&config.data)?;
            estimate = check_training_memory(&config, &dataset, &limit)?;
            let gan = if !checkpoints.join("latest").exists()
                && training::checkpoint::list(&checkpoints)?.is_empty()
            {
                // killed before its first checkpoint: nothing to continue from
                eprintln!(
                    "{} holds no checkpoint (it stopped before its first one): starting over \
                     from step 0",
                    root.display()
                );
                Gan::new(config.clone(), dataset)?
            } else {
                training::load_gan_with(&run, config.clone(), dataset, None)?
            };
            if gan.step >= config.steps {
                bail!(
                    "{} is already at step {} of {}; pass --steps to train further",
                    root.display(),
                    gan.step,
                    config.steps
                );
            }
            run.update_config(&config)?;
            if verbose {
                eprintln!("resuming {} at step {}", root.display(), gan.step);
            }
            (run, gan)
        }
        None => {
            let config = args.resolve()?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| TrainArgs::default_out(&config));
            // the config, the data, the memory a step needs and the networks are checked
            // before the folder is made
            let dataset = Dataset::from_config(&config.data)?;
            estimate = check_training_memory(&config, &dataset, &limit)?;
            let gan = Gan::new(config.clone(), dataset)?;
            let (run, restarted) = RunDir::create_reporting(&out, &config)?;
            if restarted {
                eprintln!(
                    "{} held an unfinished run with no checkpoint: starting it over",
                    out.display()
                );
            }
            (run, gan)
        }
    };
    // class and column names travel with the run (sample --label NAME, plots, export)
    run.record_names(&gan.dataset)?;
    let g = ModelSize::of(&gan.generator);
    let d = ModelSize::of(&gan.discriminator);
    let size = format!(
        "G {} params ({} B f32, {} B int8), D {} params",
        g.params, g.f32_bytes, g.int8_bytes, d.params
    );
    if verbose {
        eprintln!(
            "run {}: {:?}{}, {size}, {} steps, on {}",
            run.root.display(),
            gan.config.data.kind,
            if gan.conditional() {
                " conditional"
            } else if gan.inpainting() {
                " inpainting"
            } else {
                ""
            },
            gan.config.steps,
            gan.device.description
        );
        if let Some(e) = &estimate {
            eprintln!(
                "memory: a step needs about {} (limit {}, {})",
                memory::human(e.total()),
                memory::human(limit.bytes),
                limit.source
            );
        }
    }
    let started = std::time::Instant::now();
    training::train(&run, &mut gan, TrainOptions { verbose })?;
    let secs = started.elapsed().as_secs_f64();
    if verbose && let (Some(e), Some(peak)) = (&estimate, memory::peak_resident_bytes()) {
        eprintln!(
            "memory: peak resident {} ({peak} bytes), estimated {} ({} bytes)",
            memory::human(peak),
            memory::human(e.total()),
            e.total()
        );
    }
    // the model's size is part of what a user chooses: always print it with the result
    outln!("trained to step {} in {secs:.1} s; {size}", gan.step);
    if gan.dataset.image_shape().is_some() {
        training::progress::write_sample_grid(&run, &gan)?;
        match image_classifier(&run, &gan, args.classifier.as_deref(), true) {
            Ok(classifier) => {
                let report = evaluate_image_run(&run, &gan, &classifier, None, 1234)?;
                outln!("{report}");
            }
            Err(err) => {
                // the trained weights are saved: a classifier problem must not turn a
                // finished run into a failure, nor leave an eval.json of older weights
                let stale = run.path("eval.json");
                if stale.exists() {
                    std::fs::remove_file(&stale)
                        .with_context(|| format!("removing the stale {}", stale.display()))?;
                }
                outln!(
                    "evaluation skipped: {}; the training is saved: run `edgegan-train classifier \
                     --like {}`, then `edgegan-train eval --run {}`",
                    one_line(&err),
                    run.root.display(),
                    run.root.display()
                );
            }
        }
    } else {
        let report = evaluate_run(&run, &gan, None, 1234)?;
        outln!("{report}");
    }
    outln!(
        "run folder: {} (plots in {}, eval.json)",
        run.root.display(),
        run.path("plots").display()
    );
    Ok(())
}

/// The classifier an image run is evaluated with, recorded in its `run.json`: `explicit`
/// when given, else the one the run records or one that reads its images; when there is
/// none, `train_missing` trains one on the run's data into `RUN/classifier` (and says so),
/// otherwise it is an error that says how to make one.
pub(crate) fn image_classifier(
    run: &RunDir,
    gan: &Gan,
    explicit: Option<&Path>,
    train_missing: bool,
) -> anyhow::Result<PathBuf> {
    let Dataset::Images(set) = &gan.dataset else {
        bail!("the image evaluation needs an image dataset");
    };
    let chosen = match explicit {
        Some(dir) => {
            let card = TrainedClassifier::load_card(dir)?;
            if !classifier_fits(&card, set) {
                bail!(
                    "the classifier in {} reads {:?} images of the classes [{}]; this run's \
                     data are {:?} images of the classes [{}]: run `edgegan-train classifier \
                     --like {}` (it trains one on the run's data and records it)",
                    dir.display(),
                    card.shape,
                    card.class_names.join(", "),
                    set.shape,
                    set.class_names.join(", "),
                    run.root.display()
                );
            }
            dir.to_path_buf()
        }
        None => match find_classifier(run, set)? {
            Some(dir) => dir,
            None if train_missing => {
                let out = run.path(RUN_CLASSIFIER);
                let epochs = auto_epochs(set);
                eprintln!(
                    "no evaluation classifier reads this run's {:?} images of the classes [{}]: \
                     training one on its training images ({epochs} epochs) into {}",
                    set.shape,
                    set.class_names.join(", "),
                    out.display()
                );
                let trained = train_classifier(set, epochs, 7, &out, |_, _| {})?;
                outln!(
                    "evaluation classifier: held-out accuracy {:.4} on {} images ({})",
                    trained.card.test_accuracy,
                    trained.card.test_images,
                    out.display()
                );
                out
            }
            None => bail!(
                "no evaluation classifier reads this run's {:?} images of the classes [{}]: \
                 run `edgegan-train classifier --like {}` (it trains one on the run's data and \
                 records it), or pass --classifier DIR",
                set.shape,
                set.class_names.join(", "),
                run.root.display()
            ),
        },
    };
    record_classifier(run, &chosen)?;
    Ok(chosen)
}
