//! What a user watches while a run trains: the loss and D-output charts, the 1-D
//! histogram or 2-D scatter of samples, and sample grids of image runs, all drawn from
//! fixed noise so successive pictures show the same latent points moving.

use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::checkpoint;
use super::gan::Gan;
use super::run_dir::{LogRecord, RunDir};
use crate::data::Dataset;
use crate::data::images::grid::write_labelled_grid;
use crate::data::images::masks::{apply_mask, random_masks};
use crate::error::{Result, TrainError};
use crate::plots::{self, Series};

/// Seed of the fixed noise used for the progress plots, so successive plots show the
/// same latent points moving.
const PLOT_SEED: u64 = 0x706c_6f74;

/// Redraws the run's plots from the log history and the current generator.
pub fn write_plots(run: &RunDir, gan: &Gan, history: &[LogRecord]) -> Result<()> {
    let dir = run.path("plots");
    std::fs::create_dir_all(&dir).map_err(TrainError::io(&dir))?;
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
        d if d >= 2 && matches!(dataset, Dataset::Csv(_)) => {
            // a user's CSV has no modes to draw: real rows under generated samples, one
            // panel (2 columns) or a pairs plot (more)
            let real = dataset.sample(&mut rng, n);
            let classes: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
            let names = dataset.class_names();
            plots::pairs_plot(
                &dir.join("samples.png"),
                &title,
                &dataset.column_names(),
                &real.x,
                &samples,
                gan.conditional()
                    .then_some((classes.as_slice(), names.as_slice())),
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
    // a conditional grid's rows are its classes: name them
    let names = if gan.conditional() {
        gan.dataset.class_names()
    } else {
        Vec::new()
    };
    let dir = run.path("samples");
    std::fs::create_dir_all(&dir).map_err(TrainError::io(&dir))?;
    let file = dir.join(format!("{}.png", checkpoint::folder_name(gan.step)));
    write_labelled_grid(&file, &tiles, shape, rows, cols, 2, &names)?;
    let plots = run.path("plots");
    std::fs::create_dir_all(&plots).map_err(TrainError::io(&plots))?;
    write_labelled_grid(
        &plots.join("samples.png"),
        &tiles,
        shape,
        rows,
        cols,
        2,
        &names,
    )
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
        let source = set.held_out();
        let (truth, _) = source.head_unit(INPAINT_ROWS, dim);
        let n = truth.len() / dim;
        let masks = match gan.config.data.masks {
            Some(kind) => random_masks(kind, n, set.shape, &mut rng),
            None => vec![1.0; truth.len()],
        };
        let completed = gan.complete(&mut rng, &truth, &masks)?;
        let masked = apply_mask(&truth, &masks);
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
