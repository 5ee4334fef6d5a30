//! The run folder a user watches and resumes:
//!
//! ```text
//! runs/NAME/
//!   config.toml, config.json   the resolved configuration
//!   metrics.jsonl              one line per `log_every` steps: losses, D(real), D(fake)
//!   checkpoints/step-NNNNNNN/  G, D, both optimisers, EMA, step, RNG (see `checkpoint`)
//!   checkpoints/latest         the newest checkpoint's name
//!   plots/losses.png           D and G loss against step
//!   plots/d_outputs.png        mean D(real) and D(fake) against step, ideal 0.5 dashed
//!   plots/samples.png          2-D: generated samples over the real modes
//!   plots/histogram.png        1-D: real vs generated histograms and D(x)
//!   eval.json                  the last evaluation
//! ```
//!
//! Nothing here overwrites an existing run: a new run needs an empty or absent folder,
//! and `--resume` continues one from its latest checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::data::images;
use crate::error::{Result, TrainError};
use crate::evaluation::points::{self as eval, EvalReport};
use crate::plots::{self, Series};
use crate::training::checkpoint;
use crate::training::{Gan, StepStats};

/// Seed of the fixed noise used for the progress plots, so successive plots show the
/// same latent points moving.
const PLOT_SEED: u64 = 0x706c_6f74;

/// One line of `metrics.jsonl`: means over the `log_every` steps ending at `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// last step of the window
    pub step: usize,
    /// mean D loss (itself the mean of its fake and real losses)
    pub d_loss: f32,
    /// mean G loss
    pub g_loss: f32,
    /// mean D(real) (ideal end 0.5 for BCE)
    pub d_real: f32,
    /// mean D(fake) (ideal end 0.5 for BCE)
    pub d_fake: f32,
    /// wall-clock seconds since this process started training
    pub elapsed_s: f64,
    /// steps per second over the window
    pub steps_per_s: f64,
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// its root
    pub root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RunDir {
    /// Creates a new run folder and writes the resolved config into it. Refuses a
    /// folder that already has content, so no earlier run is overwritten.
    pub fn create(root: &Path, config: &TrainConfig) -> Result<Self> {
        if root.exists() {
            let non_empty = std::fs::read_dir(root)
                .map_err(io_err(root))?
                .next()
                .is_some();
            if non_empty {
                return Err(TrainError::Run {
                    path: root.to_path_buf(),
                    message: "already exists and is not empty; resume it with `--resume` \
                              or choose another `--out`"
                        .into(),
                });
            }
        }
        std::fs::create_dir_all(root.join("plots")).map_err(io_err(root))?;
        let run = Self {
            root: root.to_path_buf(),
        };
        checkpoint::write_atomic(&run.path("config.toml"), config.to_toml()?.as_bytes())?;
        let json =
            serde_json::to_vec_pretty(config).map_err(|e| TrainError::Config(e.to_string()))?;
        checkpoint::write_atomic(&run.path("config.json"), &json)?;
        Ok(run)
    }

    /// Opens an existing run folder and reads its config.
    pub fn open(root: &Path) -> Result<(Self, TrainConfig)> {
        let config_path = root.join("config.toml");
        if !config_path.is_file() {
            return Err(TrainError::Run {
                path: root.to_path_buf(),
                message: "is not a run folder (no config.toml)".into(),
            });
        }
        let config = TrainConfig::from_toml_file(&config_path)?;
        Ok((
            Self {
                root: root.to_path_buf(),
            },
            config,
        ))
    }

    /// A path inside the run folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The checkpoints folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.path("checkpoints")
    }

    /// Updates the step count recorded in `config.toml` (a resumed run may train longer).
    pub fn update_config(&self, config: &TrainConfig) -> Result<()> {
        checkpoint::write_atomic(&self.path("config.toml"), config.to_toml()?.as_bytes())?;
        let json =
            serde_json::to_vec_pretty(config).map_err(|e| TrainError::Config(e.to_string()))?;
        checkpoint::write_atomic(&self.path("config.json"), &json)
    }

    /// Reads `metrics.jsonl` (empty if absent).
    pub fn read_log(&self) -> Result<Vec<LogRecord>> {
        let path = self.path("metrics.jsonl");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| TrainError::Data {
                    path: path.clone(),
                    message: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }

    /// Rewrites `metrics.jsonl` with only the records up to `step` (a resumed run
    /// replays the steps after its checkpoint and logs them again).
    pub fn truncate_log(&self, step: usize) -> Result<Vec<LogRecord>> {
        let kept: Vec<LogRecord> = self
            .read_log()?
            .into_iter()
            .filter(|r| r.step <= step)
            .collect();
        let mut text = String::new();
        for r in &kept {
            text.push_str(
                &serde_json::to_string(r).map_err(|e| TrainError::Config(e.to_string()))?,
            );
            text.push('\n');
        }
        checkpoint::write_atomic(&self.path("metrics.jsonl"), text.as_bytes())?;
        Ok(kept)
    }

    fn append_log(&self, record: &LogRecord) -> Result<()> {
        let path = self.path("metrics.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let line = serde_json::to_string(record).map_err(|e| TrainError::Config(e.to_string()))?;
        writeln!(file, "{line}").map_err(io_err(&path))
    }

    /// Writes the evaluation as `eval.json`.
    pub fn write_eval(&self, report: &EvalReport) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(report).map_err(|e| TrainError::Config(e.to_string()))?;
        checkpoint::write_atomic(&self.path("eval.json"), &json)
    }
}

/// Builds a GAN for a run's config, resuming from the latest checkpoint when there is one.
pub fn load_gan(run: &RunDir, config: TrainConfig, checkpoint_dir: Option<&Path>) -> Result<Gan> {
    let dataset = Dataset::from_config(&config.data)?;
    let mut gan = Gan::new(config, dataset)?;
    let dir = match checkpoint_dir {
        Some(d) => d.to_path_buf(),
        None => checkpoint::latest(&run.checkpoints())?,
    };
    checkpoint::load(&mut gan, &dir)?;
    Ok(gan)
}

/// How [`train`] reports progress.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// draw a progress bar (when stderr is a terminal) and print log lines
    pub verbose: bool,
}

/// Trains `gan` in `run` until `gan.config.steps`, logging, checkpointing and plotting.
/// On divergence the last good checkpoint stays in place and the error names it.
pub fn train(run: &RunDir, gan: &mut Gan, options: TrainOptions) -> Result<()> {
    let total = gan.config.steps;
    let mut history = run.truncate_log(gan.step)?;
    let bar = if options.verbose {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(gan.step as u64);
    let start = Instant::now();
    let mut window_start = Instant::now();
    let mut window: Vec<StepStats> = Vec::with_capacity(gan.config.log_every);
    let mut last_checkpoint: Option<PathBuf> = checkpoint::latest(&run.checkpoints()).ok();

    while gan.step < total {
        let stats = match gan.train_step() {
            Ok(s) => s,
            Err(TrainError::Diverged {
                step, what, value, ..
            }) => {
                bar.abandon();
                let hint = match &last_checkpoint {
                    Some(p) => format!(" at {}", p.display()),
                    None => " (none was written yet)".into(),
                };
                return Err(TrainError::Diverged {
                    step,
                    what,
                    value,
                    hint,
                });
            }
            Err(e) => return Err(e),
        };
        window.push(stats);
        bar.inc(1);
        let step = gan.step;
        if step.is_multiple_of(gan.config.log_every) || step == total {
            let n = window.len() as f32;
            let secs = window_start.elapsed().as_secs_f64();
            let record = LogRecord {
                step,
                d_loss: window.iter().map(|s| s.d_loss).sum::<f32>() / n,
                g_loss: window.iter().map(|s| s.g_loss).sum::<f32>() / n,
                d_real: window.iter().map(|s| s.d_real).sum::<f32>() / n,
                d_fake: window.iter().map(|s| s.d_fake).sum::<f32>() / n,
                elapsed_s: start.elapsed().as_secs_f64(),
                steps_per_s: if secs > 0.0 { f64::from(n) / secs } else { 0.0 },
            };
            run.append_log(&record)?;
            let message = format!(
                "D loss {:.4}  G loss {:.4}  D(real) {:.3}  D(fake) {:.3}",
                record.d_loss, record.g_loss, record.d_real, record.d_fake
            );
            if options.verbose {
                if bar.is_hidden() {
                    eprintln!(
                        "step {step:>7}  {message}  ({:.0} steps/s)",
                        record.steps_per_s
                    );
                } else {
                    bar.set_message(message);
                }
            }
            history.push(record);
            window.clear();
            window_start = Instant::now();
        }
        let grid_every = gan.config.grid_every;
        if grid_every > 0 && step.is_multiple_of(grid_every) && gan.dataset.image_shape().is_some()
        {
            write_sample_grid(run, gan)?;
        }
        let every = gan.config.checkpoint_every;
        if (every > 0 && step.is_multiple_of(every)) || step == total {
            last_checkpoint = Some(checkpoint::save(
                gan,
                &run.checkpoints(),
                gan.config.keep_checkpoints,
            )?);
            write_plots(run, gan, &history)?;
        }
    }
    bar.finish_and_clear();
    if last_checkpoint.is_none() || gan.step == 0 {
        checkpoint::save(gan, &run.checkpoints(), gan.config.keep_checkpoints)?;
    }
    Ok(())
}

/// Evaluates `gan` with the dataset's default sample count and writes `eval.json`.
pub fn evaluate(run: &RunDir, gan: &Gan, samples: Option<usize>, seed: u64) -> Result<EvalReport> {
    let n = samples.unwrap_or_else(|| eval::default_samples(gan.config.data.kind));
    let report = eval::evaluate(gan, n, seed)?;
    run.write_eval(&report)?;
    Ok(report)
}

/// Default classifier folder for the image evaluation (the shipped one).
pub const DEFAULT_CLASSIFIER: &str = "models/classifier";

/// Evaluates an image GAN with the classifier in `classifier_dir` and writes
/// `eval.json`. `samples` defaults to the held-out split (capped at 10,000).
pub fn evaluate_images(
    run: &RunDir,
    gan: &Gan,
    classifier_dir: &Path,
    samples: Option<usize>,
    seed: u64,
) -> Result<crate::evaluation::images::ImageEvalReport> {
    let classifier = crate::evaluation::classifier::TrainedClassifier::load(classifier_dir)?;
    let report = crate::evaluation::images::evaluate_images(
        gan,
        &classifier,
        samples.unwrap_or(10_000),
        seed,
    )?;
    let path = run.path("eval.json");
    let json = serde_json::to_vec_pretty(&report).map_err(|e| TrainError::Run {
        path: path.clone(),
        message: e.to_string(),
    })?;
    checkpoint::write_atomic(&path, &json)?;
    Ok(report)
}

/// Redraws the run's plots from the log history and the current generator.
pub fn write_plots(run: &RunDir, gan: &Gan, history: &[LogRecord]) -> Result<()> {
    let dir = run.path("plots");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    if !history.is_empty() {
        let pts = |f: fn(&LogRecord) -> f32| -> Vec<(f64, f64)> {
            history
                .iter()
                .map(|r| (r.step as f64, f64::from(f(r))))
                .collect()
        };
        let (d_loss, g_loss) = (pts(|r| r.d_loss), pts(|r| r.g_loss));
        plots::line_chart(
            &dir.join("losses.png"),
            "Losses",
            "step",
            "loss",
            &[
                Series {
                    name: "D loss (mean of fake and real)",
                    points: &d_loss,
                },
                Series {
                    name: "G loss",
                    points: &g_loss,
                },
            ],
            None,
        )?;
        let (d_real, d_fake) = (pts(|r| r.d_real), pts(|r| r.d_fake));
        plots::line_chart(
            &dir.join("d_outputs.png"),
            "Discriminator outputs",
            "step",
            "mean D(x)",
            &[
                Series {
                    name: "D(real)",
                    points: &d_real,
                },
                Series {
                    name: "D(fake)",
                    points: &d_fake,
                },
            ],
            Some((gan.loss().ideal_score(), "ideal end")),
        )?;
    }
    let dataset = &gan.dataset;
    if dataset.image_shape().is_some() {
        return write_sample_grid(run, gan);
    }
    let mut rng = Pcg64::seed_from_u64(PLOT_SEED);
    let n = 2_000;
    let labels: Vec<i64> = if gan.conditional() {
        (0..n).map(|i| (i % dataset.classes()) as i64).collect()
    } else {
        vec![0; n]
    };
    let samples = gan.generate(&mut rng, &labels)?;
    let title = format!("{:?} at step {}", gan.config.data.kind, gan.step);
    match dataset.dim() {
        1 => {
            let real = dataset.sample(&mut rng, 20_000);
            let real: Vec<f64> = real.x.iter().map(|&v| f64::from(v)).collect();
            let generated: Vec<f64> = samples.iter().map(|&v| f64::from(v)).collect();
            // D(x) over the data range, like the seed's figure 5 (label 0 for a conditional D)
            let lo = real.iter().copied().fold(f64::MAX, f64::min);
            let hi = real.iter().copied().fold(f64::MIN, f64::max);
            let xs: Vec<f32> = (0..200)
                .map(|i| (lo + (hi - lo) * i as f64 / 199.0) as f32)
                .collect();
            let d = gan.discriminate(&xs, &vec![0; xs.len()])?;
            let curve: Vec<(f64, f64)> = xs
                .iter()
                .zip(&d)
                .map(|(&x, &y)| (f64::from(x), f64::from(y)))
                .collect();
            plots::histogram_1d(
                &dir.join("histogram.png"),
                &title,
                &real,
                &generated,
                60,
                Some(&curve),
            )?;
        }
        2 => {
            if let Some(modes) = dataset.modes() {
                let modes: Vec<(f64, f64)> = modes
                    .means
                    .chunks(2)
                    .map(|m| (f64::from(m[0]), f64::from(m[1])))
                    .collect();
                let pts: Vec<(f64, f64)> = samples
                    .chunks(2)
                    .map(|p| (f64::from(p[0]), f64::from(p[1])))
                    .collect();
                let classes: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
                let labels = gan.conditional().then_some(classes.as_slice());
                plots::scatter_2d(&dir.join("samples.png"), &title, &modes, &pts, labels)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Columns of a conditional grid (samples per class).
const GRID_COLUMNS: usize = 10;
/// Rows of an inpainting grid (one (masked input, completion, truth) triple per row).
const INPAINT_ROWS: usize = 8;

/// The current generator's sample grid, from fixed noise (so successive grids show the
/// same latent points changing): one row per class for a conditional model, 10x10 for an
/// unconditional one, (masked input, completion, truth) rows for inpainting. Written as
/// `samples/step-NNNNNNN.png` and `plots/samples.png`.
pub fn write_sample_grid(run: &RunDir, gan: &Gan) -> Result<()> {
    let Some(shape) = gan.dataset.image_shape() else {
        return Ok(());
    };
    let (tiles, rows, cols) = sample_grid(gan, PLOT_SEED)?;
    let dir = run.path("samples");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let file = dir.join(format!("{}.png", checkpoint::folder_name(gan.step)));
    images::grid::write_grid(&file, &tiles, shape, rows, cols, 2)?;
    let plots = run.path("plots");
    std::fs::create_dir_all(&plots).map_err(io_err(&plots))?;
    images::grid::write_grid(&plots.join("samples.png"), &tiles, shape, rows, cols, 2)
}

/// The tiles of [`write_sample_grid`] (network units) and the grid's rows and columns.
pub fn sample_grid(gan: &Gan, seed: u64) -> Result<(Vec<f32>, usize, usize)> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let dataset = &gan.dataset;
    if gan.inpainting() {
        let Dataset::Images(set) = dataset else {
            return Ok((Vec::new(), 0, 0));
        };
        let dim = set.dim();
        // held-out images when there are any, so the grid shows generalisation
        let source = if set.test.is_empty() {
            &set.train
        } else {
            &set.test
        };
        let (truth, _) = source.head_unit(INPAINT_ROWS, dim);
        let n = truth.len() / dim;
        let masks = match gan.config.data.masks {
            Some(kind) => images::random_masks(kind, n, set.shape, &mut rng),
            None => vec![1.0; truth.len()],
        };
        let completed = gan.complete(&mut rng, &truth, &masks)?;
        let masked = images::apply_mask(&truth, &masks);
        let mut tiles = Vec::with_capacity(3 * truth.len());
        for i in 0..n {
            for part in [&masked, &completed, &truth] {
                tiles.extend_from_slice(&part[i * dim..(i + 1) * dim]);
            }
        }
        return Ok((tiles, n, 3));
    }
    let (rows, labels): (usize, Vec<i64>) = if gan.conditional() {
        let classes = dataset.classes();
        (
            classes,
            (0..classes * GRID_COLUMNS)
                .map(|i| (i / GRID_COLUMNS) as i64)
                .collect(),
        )
    } else {
        (GRID_COLUMNS, vec![0; GRID_COLUMNS * GRID_COLUMNS])
    };
    Ok((gan.generate(&mut rng, &labels)?, rows, GRID_COLUMNS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::training::gan::tests::{param_bits, tiny_config};

    const QUIET: TrainOptions = TrainOptions { verbose: false };

    fn new_run(root: &Path, config: &TrainConfig) -> (RunDir, Gan) {
        let run = RunDir::create(root, config).unwrap();
        let gan = Gan::new(config.clone(), Dataset::from_config(&config.data).unwrap()).unwrap();
        (run, gan)
    }

    #[test]
    fn resumed_run_ends_bit_identical_to_an_uninterrupted_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tiny_config(DatasetKind::Ring8, true);
        config.algorithm.ema_decay = Some(0.99);
        config.steps = 40;

        let (run, mut straight) = new_run(&dir.path().join("straight"), &config);
        train(&run, &mut straight, QUIET).unwrap();

        let mut first_half = config.clone();
        first_half.steps = 20;
        let (run, mut gan) = new_run(&dir.path().join("resumed"), &first_half);
        train(&run, &mut gan, QUIET).unwrap();
        drop(gan);
        let (run, mut config_on_disk) = RunDir::open(&run.root).unwrap();
        config_on_disk.steps = 40;
        let mut resumed = load_gan(&run, config_on_disk, None).unwrap();
        assert_eq!(resumed.step, 20);
        train(&run, &mut resumed, QUIET).unwrap();

        assert_eq!(resumed.step, 40);
        assert_eq!(
            param_bits(&resumed.generator),
            param_bits(&straight.generator)
        );
        assert_eq!(
            param_bits(&resumed.discriminator),
            param_bits(&straight.discriminator)
        );
        assert_eq!(
            param_bits(resumed.generator_ema.as_ref().unwrap()),
            param_bits(straight.generator_ema.as_ref().unwrap())
        );
        // the log was replayed, not duplicated
        let steps: Vec<usize> = run.read_log().unwrap().iter().map(|r| r.step).collect();
        assert_eq!(steps, (1..=8).map(|i| i * 5).collect::<Vec<_>>());
    }

    #[test]
    fn image_run_writes_grids_and_checkpoints_that_load_back_bit_identical() {
        use crate::training::gan::tests::{param_bits, tiny_image_gan};
        for condition in ["label", "mask"] {
            let dir = tempfile::tempdir().unwrap();
            let mut gan = tiny_image_gan(condition);
            gan.config.steps = 6;
            gan.config.checkpoint_every = 3;
            gan.config.grid_every = 2;
            let run = RunDir::create(&dir.path().join("r"), &gan.config).unwrap();
            train(&run, &mut gan, QUIET).unwrap();
            for f in [
                "samples/step-0000002.png",
                "samples/step-0000006.png",
                "plots/samples.png",
            ] {
                assert!(run.path(f).is_file(), "{condition}: {f} missing");
            }
            let grid = image::open(run.path("plots/samples.png")).unwrap();
            // label: 2 classes x 10 columns of 8x8 tiles at zoom 2 (+2 px gaps);
            // mask: (masked, completion, truth) rows
            let expected = if condition == "label" {
                (10 * 16 + 11 * 2, 2 * 16 + 3 * 2)
            } else {
                (3 * 16 + 4 * 2, 8 * 16 + 9 * 2)
            };
            assert_eq!((grid.width(), grid.height()), expected, "{condition}");
            let mut fresh = tiny_image_gan(condition);
            checkpoint::load(&mut fresh, &checkpoint::latest(&run.checkpoints()).unwrap()).unwrap();
            assert_eq!(param_bits(&fresh.generator), param_bits(&gan.generator));
            assert_eq!(fresh.step, 6);
        }
    }

    #[test]
    fn run_folder_holds_config_log_checkpoints_and_plots() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(DatasetKind::Ring8, true);
        let (run, mut gan) = new_run(&dir.path().join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        let report = evaluate(&run, &gan, Some(200), 1).unwrap();
        for f in [
            "config.toml",
            "config.json",
            "metrics.jsonl",
            "eval.json",
            "plots/losses.png",
            "plots/d_outputs.png",
            "plots/samples.png",
        ] {
            assert!(run.path(f).is_file(), "{f} missing");
        }
        // keep_checkpoints = 2 of steps 10, 20, 30
        let kept = checkpoint::list(&run.checkpoints()).unwrap();
        let names: Vec<String> = kept
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["step-0000020", "step-0000030"]);
        assert_eq!(checkpoint::latest(&run.checkpoints()).unwrap(), kept[1]);
        assert_eq!(report.step, 30);
        let (_, on_disk) = RunDir::open(&run.root).unwrap();
        assert_eq!(on_disk, config);
    }

    #[test]
    fn one_dimensional_run_draws_the_histogram() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(DatasetKind::Gauss1d, false);
        let (run, mut gan) = new_run(&dir.path().join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        assert!(run.path("plots/histogram.png").is_file());
        let report = evaluate(&run, &gan, Some(500), 1).unwrap();
        assert_eq!(report.marginals.len(), 1);
        assert!(report.modes.is_none());
    }

    #[test]
    fn existing_run_folder_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("precious.txt"), "keep me").unwrap();
        let err = RunDir::create(&root, &TrainConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(root.join("precious.txt")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn divergence_keeps_the_last_good_checkpoint_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(DatasetKind::Ring8, false);
        let (run, mut gan) = new_run(&dir.path().join("r"), &config);
        gan.config.steps = 10;
        train(&run, &mut gan, QUIET).unwrap();
        gan.config.steps = 200;
        gan.config.g_optimizer.lr = 1e30;
        gan.config.d_optimizer.lr = 1e30;
        let err = train(&run, &mut gan, QUIET).unwrap_err();
        assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
        assert!(err.to_string().contains("step-0000010"), "{err}");
        let (run, config) = RunDir::open(&run.root).unwrap();
        let restored = load_gan(&run, config, None).unwrap();
        assert_eq!(restored.step, 10);
    }

    fn trained_run(dir: &Path) -> RunDir {
        let mut config = tiny_config(DatasetKind::Ring8, true);
        config.steps = 10;
        let (run, mut gan) = new_run(&dir.join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        run
    }

    #[test]
    fn truncated_checkpoint_is_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        let g = ckpt.join("generator.bpk");
        let bytes = std::fs::read(&g).unwrap();
        for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&g, &bytes[..cut]).unwrap();
            let (run, config) = RunDir::open(&run.root).unwrap();
            let err = load_gan(&run, config, None)
                .err()
                .expect("truncated checkpoint loaded");
            assert!(
                err.to_string().contains("generator.bpk"),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_state_and_missing_checkpoint_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        std::fs::write(ckpt.join("state.json"), "{ not json").unwrap();
        let (run, config) = RunDir::open(&run.root).unwrap();
        let err = load_gan(&run, config.clone(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("state.json") && err.contains("malformed"),
            "{err}"
        );
        std::fs::remove_dir_all(run.checkpoints()).unwrap();
        let err = load_gan(&run, config, None).err().unwrap().to_string();
        assert!(err.contains("no checkpoint"), "{err}");
    }

    #[test]
    fn checkpoint_of_another_model_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let (_, mut config) = RunDir::open(&run.root).unwrap();
        config.generator.hidden = vec![32];
        let err = load_gan(&run, config.clone(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("different model"), "{err}");
        // the same check when state.json is consistent but the tensors are not
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        let mut state = checkpoint::read_state(&ckpt).unwrap();
        state.config = config.clone();
        std::fs::write(ckpt.join("state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
        let err = load_gan(&run, config, None).err().unwrap().to_string();
        assert!(err.contains("generator.bpk"), "{err}");
    }
}
