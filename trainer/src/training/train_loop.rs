//! The training loop of a run folder: steps the [`Gan`] to `config.steps`, logging to
//! `metrics.jsonl`, checkpointing, and redrawing the progress plots and sample grids.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::checkpoint;
use super::gan::{Gan, StepStats};
use super::progress::{write_plots, write_sample_grid};
use super::run_dir::{LogRecord, RunDir};
use crate::error::{Result, TrainError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::test_support::{
        QUIET, assert_same_networks, devices, max_param_diff, new_run, param_bits, tiny_config,
        tiny_image_gan,
    };
    use crate::training::load_gan;

    #[test]
    fn resumed_run_ends_bit_identical_to_an_uninterrupted_one() {
        for device in devices() {
            let dir = tempfile::tempdir().unwrap();
            let mut config = tiny_config(DatasetKind::Ring8, true);
            config.algorithm.ema_decay = Some(0.99);
            config.steps = 40;
            config.device = device;

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
            let on = format!("on {device:?}");
            assert!(resumed.generator_ema.is_some(), "{on}");
            assert_same_networks(&resumed, &straight, &on);
            // the log was replayed, not duplicated
            let steps: Vec<usize> = run.read_log().unwrap().iter().map(|r| r.step).collect();
            assert_eq!(steps, (1..=8).map(|i| i * 5).collect::<Vec<_>>(), "{on}");
        }
    }

    /// A run trained on one device continues on the other: every weight arrives bit for
    /// bit, and so does Adam's state: the next step on the new device lands where the
    /// same step on the old one does, to float rounding (a reset Adam would be off by
    /// about the learning rate).
    #[cfg(feature = "gpu")]
    #[test]
    fn checkpoints_continue_on_the_other_device() {
        use crate::config::DeviceChoice::{Cpu, Gpu};
        for (from, to) in [(Cpu, Gpu), (Gpu, Cpu)] {
            let dir = tempfile::tempdir().unwrap();
            let mut config = tiny_config(DatasetKind::Ring8, true);
            config.algorithm.ema_decay = Some(0.99);
            config.steps = 10;
            config.device = from;
            let (run, mut gan) = new_run(dir.path(), &config);
            train(&run, &mut gan, QUIET).unwrap();
            let (run, mut moved_config) = RunDir::open(&run.root).unwrap();
            moved_config.device = to;
            moved_config.steps = 12;
            let mut moved = load_gan(&run, moved_config, None).unwrap();
            let what = format!("{from:?} -> {to:?}");
            assert_eq!(moved.step, 10, "{what}");
            assert!(moved.generator_ema.is_some(), "{what}");
            assert_same_networks(&moved, &gan, &what);
            let before = param_bits(&moved.generator);
            moved.train_step().unwrap();
            gan.train_step().unwrap();
            assert_ne!(
                param_bits(&moved.generator),
                before,
                "G did not train after {what}"
            );
            for (diff, net) in [
                (max_param_diff(&moved.generator, &gan.generator), "G"),
                (
                    max_param_diff(&moved.discriminator, &gan.discriminator),
                    "D",
                ),
            ] {
                assert!(
                    diff < 1e-6,
                    "{what}: {net} after one more step differs by {diff} from the same step \
                     on the device it trained on"
                );
            }
        }
    }

    #[test]
    fn image_run_writes_grids_and_checkpoints_that_load_back_bit_identical() {
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
}
