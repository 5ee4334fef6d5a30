//! Deterministic evaluation of a trained GAN (same checkpoint + same seed = same JSON).
//!
//! - mixtures of Gaussian modes (ring8, grid25): the PacGAN protocol on 2,500 samples —
//!   modes captured (at least 20 high-quality samples), high-quality fraction (within 3
//!   sigma of the nearest mode), reverse KL of the mode histogram against uniform, and for
//!   conditional models the accuracy of landing on the requested mode;
//! - every other dataset (gauss1d, csv): per column, the two-sample KS statistic and
//!   Wasserstein-1 against fresh real samples (10,000 of each by default for 1-D, so a
//!   perfect generator's KS sits near 0.01), and mean D(x) on real and generated samples
//!   (the seed's ideal end is 0.5 on both).

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::metrics::{self, ModeReport};
use crate::config::DatasetKind;
use crate::data::Dataset;
use crate::error::Result;
use crate::training::Gan;

/// PacGAN: a mode with fewer high-quality samples than this is lost.
pub const MIN_SAMPLES_PER_MODE: usize = 20;

/// The distance between generated and real marginals of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// column name
    pub column: String,
    /// two-sample Kolmogorov–Smirnov statistic
    pub ks: f64,
    /// Wasserstein-1 distance in data units
    pub wasserstein1: f64,
}

/// Everything `edgegan-train eval` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// training step of the evaluated weights
    pub step: usize,
    /// dataset name
    pub dataset: DatasetKind,
    /// conditional model
    pub conditional: bool,
    /// which weights generated the samples: "ema" or "generator"
    pub weights: String,
    /// generated samples
    pub samples: usize,
    /// evaluation seed
    pub seed: u64,
    /// mode coverage (ring8, grid25)
    pub modes: Option<ModeReport>,
    /// per-column marginal distances (gauss1d, csv)
    pub marginals: Vec<ColumnReport>,
    /// mean D(x) over real samples
    pub d_real_mean: f64,
    /// mean D(x) over generated samples
    pub d_fake_mean: f64,
}

/// The default number of generated samples for a dataset.
pub fn default_samples(kind: DatasetKind) -> usize {
    match kind {
        DatasetKind::Ring8 | DatasetKind::Grid25 => 2_500,
        DatasetKind::Gauss1d | DatasetKind::Csv => 10_000,
        // the held-out split's size is the natural count; the image evaluation caps it
        DatasetKind::FashionMnist | DatasetKind::Idx | DatasetKind::ImageFolder => 10_000,
    }
}

/// Evaluates `gan` on `n` generated samples with an RNG seeded by `seed`.
pub fn evaluate(gan: &Gan, n: usize, seed: u64) -> Result<EvalReport> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let dataset = &gan.dataset;
    let dim = dataset.dim();
    let conditional = gan.conditional();
    // Conditional: every class requested equally often (round robin), so per-class
    // accuracy has the same support for each class.
    let labels: Vec<i64> = if conditional {
        (0..n).map(|i| (i % dataset.classes()) as i64).collect()
    } else {
        dataset.sample_labels(&mut rng, n)
    };
    let generated = gan.generate(&mut rng, &labels)?;
    let real = dataset.sample(&mut rng, n);

    let modes = match dataset.modes() {
        Some(m) => {
            let requested: Option<Vec<usize>> =
                conditional.then(|| labels.iter().map(|&l| l as usize).collect());
            Some(metrics::mode_report(
                &generated,
                dim,
                &m.means,
                m.sigma,
                MIN_SAMPLES_PER_MODE,
                requested.as_deref(),
            )?)
        }
        None => None,
    };
    let mut marginals = Vec::new();
    if modes.is_none() {
        let names: Vec<String> = match dataset {
            Dataset::Csv(c) => c.columns.clone(),
            _ => (0..dim).map(|i| format!("x{i}")).collect(),
        };
        for (c, column) in names.into_iter().enumerate() {
            let g = column_f64(&generated, dim, c);
            let r = column_f64(&real.x, dim, c);
            marginals.push(ColumnReport {
                column,
                ks: metrics::ks_two_sample(&g, &r)?,
                wasserstein1: metrics::wasserstein1(&g, &r)?,
            });
        }
    }
    let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let d_real_mean = metrics::mean(&to64(gan.discriminate(&real.x, &real.labels)?))?;
    let d_fake_mean = metrics::mean(&to64(gan.discriminate(&generated, &labels)?))?;
    Ok(EvalReport {
        step: gan.step,
        dataset: gan.config.data.kind,
        conditional,
        weights: if gan.generator_ema.is_some() {
            "ema"
        } else {
            "generator"
        }
        .into(),
        samples: n,
        seed,
        modes,
        marginals,
        d_real_mean,
        d_fake_mean,
    })
}

/// Column `c` of row-major `rows` (`dim` columns), as f64.
fn column_f64(rows: &[f32], dim: usize, c: usize) -> Vec<f64> {
    rows.iter()
        .skip(c)
        .step_by(dim)
        .map(|&v| f64::from(v))
        .collect()
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "evaluation at step {} ({:?}{}, {} samples, seed {}, {} weights)",
            self.step,
            self.dataset,
            if self.conditional {
                ", conditional"
            } else {
                ""
            },
            self.samples,
            self.seed,
            self.weights
        )?;
        if let Some(m) = &self.modes {
            writeln!(
                f,
                "  modes captured      {}/{}",
                m.modes_captured, m.n_modes
            )?;
            writeln!(
                f,
                "  high quality        {:.2} %",
                100.0 * m.high_quality_fraction
            )?;
            writeln!(f, "  reverse KL          {:.4}", m.reverse_kl)?;
            if let Some(acc) = m.class_accuracy {
                writeln!(f, "  class accuracy      {acc:.4}")?;
            }
        }
        for c in &self.marginals {
            writeln!(
                f,
                "  {:<18}  KS {:.4}   W1 {:.4}",
                c.column, c.ks, c.wasserstein1
            )?;
        }
        write!(
            f,
            "  mean D(real) {:.4}   mean D(fake) {:.4}   (ideal 0.5 for both)",
            self.d_real_mean, self.d_fake_mean
        )
    }
}
