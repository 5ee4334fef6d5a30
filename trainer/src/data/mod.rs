//! Training data: the built-in synthetic distributions (sampled fresh for every batch,
//! deterministically from the run's RNG) and a user's CSV (rows drawn with replacement).
//!
//! The networks see normalised data: every dataset has a fixed affine [`Normalizer`]
//! that maps it into about [-0.9, 0.9] per column, so a tanh generator output (the ONNX
//! contract's [-1, 1]) can reach every mode. Samples are mapped back before evaluation,
//! plotting and export metadata.
//!
//! - [`csv`]: a user's CSV file
//! - [`images`]: image datasets (IDX files, picture folders), inpainting masks, sample
//!   grids as PNG

pub mod csv;
pub mod images;

use std::f64::consts::PI;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use self::csv::{CsvData, read_csv};
use self::images::ImageSet;
use crate::config::{DataConfig, DatasetKind};
use crate::error::{Result, TrainError};

/// Standard deviation of each ring8 mode.
pub const RING8_SIGMA: f64 = 0.01;
/// Standard deviation of each grid25 mode.
pub const GRID25_SIGMA: f64 = 0.05;

/// Per-column affine map between data units and network units: `net = (x - center) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// value mapped to 0, per column
    pub center: Vec<f32>,
    /// data units per network unit, per column
    pub scale: Vec<f32>,
}

impl Normalizer {
    /// Data units -> network units, in place (row-major rows of `center.len()` columns).
    pub fn normalize(&self, x: &mut [f32]) {
        let dim = self.center.len();
        for (i, v) in x.iter_mut().enumerate() {
            let c = i % dim;
            *v = (*v - self.center[c]) / self.scale[c];
        }
    }

    /// Network units -> data units, in place.
    pub fn denormalize(&self, x: &mut [f32]) {
        let dim = self.center.len();
        for (i, v) in x.iter_mut().enumerate() {
            let c = i % dim;
            *v = *v * self.scale[c] + self.center[c];
        }
    }

    /// The identity map (networks work in data units).
    pub fn identity(dim: usize) -> Self {
        Self {
            center: vec![0.0; dim],
            scale: vec![1.0; dim],
        }
    }

    fn symmetric(dim: usize, half_range: f64) -> Self {
        Self {
            center: vec![0.0; dim],
            scale: vec![(half_range / 0.9) as f32; dim],
        }
    }

    fn from_ranges(ranges: &[(f64, f64)]) -> Self {
        let center = ranges
            .iter()
            .map(|(lo, hi)| ((lo + hi) / 2.0) as f32)
            .collect();
        let scale = ranges
            .iter()
            .map(|(lo, hi)| {
                let half = (hi - lo) / 2.0;
                if half > 0.0 { (half / 0.9) as f32 } else { 1.0 }
            })
            .collect();
        Self { center, scale }
    }
}

/// A batch in data units: `x` is row-major `n x dim`; `labels` has `n` class indices
/// (all 0 for an unconditional dataset).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// samples, row-major
    pub x: Vec<f32>,
    /// class index of each sample
    pub labels: Vec<i64>,
}

/// Isotropic Gaussian modes of a mixture, for the mode-coverage evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Modes {
    /// row-major `n_modes x dim`
    pub means: Vec<f32>,
    /// standard deviation of every mode
    pub sigma: f64,
}

/// A training distribution.
#[derive(Debug, Clone)]
pub enum Dataset {
    /// 1-D Gaussian mixture with equal weights.
    Gauss1d {
        /// component means
        means: Vec<f64>,
        /// component standard deviations
        stds: Vec<f64>,
    },
    /// 8 Gaussians on the unit circle.
    Ring8,
    /// 5x5 grid of Gaussians.
    Grid25,
    /// Rows of a CSV file.
    Csv(CsvData),
    /// Images (network units in [-1, 1]; flattened `[c, h, w]` per sample).
    Images(ImageSet),
}

impl Dataset {
    /// Builds the dataset a config names (reads the CSV file if it is one).
    pub fn from_config(config: &DataConfig) -> Result<Self> {
        Ok(match config.kind {
            DatasetKind::Gauss1d => Self::Gauss1d {
                means: config.means.clone(),
                stds: config.stds.clone(),
            },
            DatasetKind::Ring8 => Self::Ring8,
            DatasetKind::Grid25 => Self::Grid25,
            DatasetKind::Csv => {
                let path = config
                    .path
                    .as_deref()
                    .ok_or_else(|| TrainError::Config("data.path is required for csv".into()))?;
                Self::Csv(read_csv(path, config.label_column.as_deref())?)
            }
            DatasetKind::FashionMnist | DatasetKind::Idx | DatasetKind::ImageFolder => {
                Self::Images(ImageSet::from_config(config)?)
            }
        })
    }

    /// Dimension of one sample.
    pub fn dim(&self) -> usize {
        match self {
            Self::Gauss1d { .. } => 1,
            Self::Ring8 | Self::Grid25 => 2,
            Self::Csv(c) => c.columns.len(),
            Self::Images(set) => set.dim(),
        }
    }

    /// `[c, h, w]` of image datasets.
    pub fn image_shape(&self) -> Option<[usize; 3]> {
        match self {
            Self::Images(set) => Some(set.shape),
            _ => None,
        }
    }

    /// Shape of one sample: `[c, h, w]` for images, `[dim]` otherwise (the exported `x`
    /// without its batch).
    pub fn sample_shape(&self) -> Vec<usize> {
        match self.image_shape() {
            Some(shape) => shape.to_vec(),
            None => vec![self.dim()],
        }
    }

    /// Number of classes (mixture components / modes; CSV labels).
    pub fn classes(&self) -> usize {
        match self {
            Self::Gauss1d { means, .. } => means.len(),
            Self::Ring8 => 8,
            Self::Grid25 => 25,
            Self::Csv(c) => c.classes,
            Self::Images(set) => set.class_names.len(),
        }
    }

    /// Human-readable class names, carried into the run's metadata.
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Self::Gauss1d { means, .. } => means.iter().map(|m| format!("mean {m}")).collect(),
            Self::Ring8 => (0..8).map(|i| format!("angle {}deg", i * 45)).collect(),
            Self::Grid25 => {
                let coords = self.mode_means();
                coords
                    .chunks(2)
                    .map(|p| format!("({}, {})", p[0], p[1]))
                    .collect()
            }
            Self::Csv(c) => c.class_names.clone(),
            Self::Images(set) => set.class_names.clone(),
        }
    }

    /// Names of the values of one point sample: the CSV header's numeric columns, `x`
    /// (gauss1d) or `x`, `y` (ring8, grid25); empty for images (their layout is the
    /// output shape).
    pub fn column_names(&self) -> Vec<String> {
        match self {
            Self::Gauss1d { .. } => vec!["x".into()],
            Self::Ring8 | Self::Grid25 => vec!["x".into(), "y".into()],
            Self::Csv(c) => c.columns.clone(),
            Self::Images(_) => Vec::new(),
        }
    }

    /// The class index a user named: a class name (case-insensitive) or an index.
    pub fn class_index(&self, name: &str) -> Result<i64> {
        let names = self.class_names();
        let wanted = name.trim();
        if let Some(i) = names.iter().position(|n| n == wanted) {
            return Ok(i as i64);
        }
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(wanted)) {
            return Ok(i as i64);
        }
        if let Ok(i) = wanted.parse::<i64>() {
            self.check_labels(&[i])?;
            return Ok(i);
        }
        Err(TrainError::UnknownClass {
            name: wanted.to_string(),
            names,
        })
    }

    /// The fixed normalisation between data and network units.
    pub fn normalizer(&self) -> Normalizer {
        match self {
            Self::Gauss1d { means, stds } => {
                let lo = means
                    .iter()
                    .zip(stds)
                    .map(|(m, s)| m - 4.0 * s)
                    .fold(f64::MAX, f64::min);
                let hi = means
                    .iter()
                    .zip(stds)
                    .map(|(m, s)| m + 4.0 * s)
                    .fold(f64::MIN, f64::max);
                Normalizer::from_ranges(&[(lo, hi)])
            }
            Self::Ring8 => Normalizer::symmetric(2, 1.0 + 4.0 * RING8_SIGMA),
            Self::Grid25 => Normalizer::symmetric(2, 4.0 + 4.0 * GRID25_SIGMA),
            Self::Csv(c) => {
                let dim = c.columns.len();
                let mut ranges = vec![(f64::MAX, f64::MIN); dim];
                for row in c.values.chunks(dim) {
                    for (r, v) in ranges.iter_mut().zip(row) {
                        r.0 = r.0.min(f64::from(*v));
                        r.1 = r.1.max(f64::from(*v));
                    }
                }
                Normalizer::from_ranges(&ranges)
            }
            // pixels are already mapped to [-1, 1]
            Self::Images(set) => Normalizer::identity(set.dim()),
        }
    }

    /// The mixture's modes, where the mode-coverage protocol applies (ring8, grid25).
    pub fn modes(&self) -> Option<Modes> {
        match self {
            Self::Ring8 => Some(Modes {
                means: self.mode_means(),
                sigma: RING8_SIGMA,
            }),
            Self::Grid25 => Some(Modes {
                means: self.mode_means(),
                sigma: GRID25_SIGMA,
            }),
            _ => None,
        }
    }

    fn mode_means(&self) -> Vec<f32> {
        match self {
            Self::Ring8 => (0..8)
                .flat_map(|i| {
                    let a = 2.0 * PI * f64::from(i) / 8.0;
                    [a.cos() as f32, a.sin() as f32]
                })
                .collect(),
            Self::Grid25 => (0..25)
                .flat_map(|i| [(-4 + 2 * (i / 5)) as f32, (-4 + 2 * (i % 5)) as f32])
                .collect(),
            Self::Gauss1d { means, .. } => means.iter().map(|m| *m as f32).collect(),
            Self::Csv(_) | Self::Images(_) => Vec::new(),
        }
    }

    /// Draws class labels from the data's class distribution (uniform for the built-in
    /// mixtures, the empirical label frequencies for a CSV).
    pub fn sample_labels(&self, rng: &mut Pcg64, n: usize) -> Vec<i64> {
        match self {
            Self::Csv(c) => match &c.labels {
                Some(labels) => (0..n)
                    .map(|_| labels[rng.random_range(0..labels.len())])
                    .collect(),
                None => vec![0; n],
            },
            Self::Images(set) => set.sample_labels(rng, n),
            _ => (0..n)
                .map(|_| rng.random_range(0..self.classes()) as i64)
                .collect(),
        }
    }

    /// Draws `n` real samples (data units) with their labels.
    pub fn sample(&self, rng: &mut Pcg64, n: usize) -> Batch {
        match self {
            Self::Csv(c) => {
                let dim = c.columns.len();
                let rows = c.values.len() / dim;
                let mut x = Vec::with_capacity(n * dim);
                let mut labels = Vec::with_capacity(n);
                for _ in 0..n {
                    let r = rng.random_range(0..rows);
                    x.extend_from_slice(&c.values[r * dim..(r + 1) * dim]);
                    labels.push(c.labels.as_ref().map_or(0, |l| l[r]));
                }
                Batch { x, labels }
            }
            Self::Images(set) => {
                let (x, labels) = set.sample(rng, n);
                Batch { x, labels }
            }
            _ => {
                let labels = self.sample_labels(rng, n);
                let x = self.sample_given(rng, &labels);
                Batch { x, labels }
            }
        }
    }

    /// Draws one real sample of each given class (built-in mixtures only; a CSV returns
    /// rows of the matching label).
    pub fn sample_given(&self, rng: &mut Pcg64, labels: &[i64]) -> Vec<f32> {
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        match self {
            Self::Gauss1d { means, stds } => labels
                .iter()
                .map(|&l| (means[l as usize] + stds[l as usize] * normal()) as f32)
                .collect(),
            Self::Ring8 | Self::Grid25 => {
                let means = self.mode_means();
                let sigma = if matches!(self, Self::Ring8) {
                    RING8_SIGMA
                } else {
                    GRID25_SIGMA
                };
                labels
                    .iter()
                    .flat_map(|&l| {
                        let m = &means[2 * l as usize..2 * l as usize + 2];
                        let a = f64::from(m[0]) + sigma * normal();
                        let b = f64::from(m[1]) + sigma * normal();
                        [a as f32, b as f32]
                    })
                    .collect()
            }
            Self::Csv(c) => {
                let dim = c.columns.len();
                let rows = c.values.len() / dim;
                let mut out = Vec::with_capacity(labels.len() * dim);
                for &l in labels {
                    let candidates: Vec<usize> = (0..rows)
                        .filter(|&r| c.labels.as_ref().is_none_or(|ls| ls[r] == l))
                        .collect();
                    if candidates.is_empty() {
                        continue;
                    }
                    let r = candidates[rng.random_range(0..candidates.len())];
                    out.extend_from_slice(&c.values[r * dim..(r + 1) * dim]);
                }
                out
            }
            Self::Images(set) => set.sample_given(rng, labels),
        }
    }

    /// Checks that user-given labels are valid class indices.
    pub fn check_labels(&self, labels: &[i64]) -> Result<()> {
        let classes = self.classes();
        match labels.iter().find(|&&l| l < 0 || l as usize >= classes) {
            Some(&label) => Err(TrainError::LabelOutOfRange { label, classes }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ring8_modes_are_on_the_unit_circle() {
        let m = Dataset::Ring8.modes().unwrap();
        assert_eq!(m.means.len(), 16);
        assert!((m.means[0] - 1.0).abs() < 1e-6 && m.means[1].abs() < 1e-6);
        // mode 2 is at 90 degrees
        assert!(m.means[4].abs() < 1e-6 && (m.means[5] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn grid25_modes_cover_the_grid() {
        let m = Dataset::Grid25.modes().unwrap();
        assert_eq!(&m.means[0..2], &[-4.0, -4.0]);
        assert_eq!(&m.means[48..50], &[4.0, 4.0]);
        assert_eq!(m.sigma, 0.05);
    }

    #[test]
    fn samples_are_deterministic_for_a_seed() {
        let a = Dataset::Grid25.sample(&mut Pcg64::seed_from_u64(7), 100);
        let b = Dataset::Grid25.sample(&mut Pcg64::seed_from_u64(7), 100);
        assert_eq!(a, b);
        let c = Dataset::Grid25.sample(&mut Pcg64::seed_from_u64(8), 100);
        assert_ne!(a, c);
    }

    #[test]
    fn ring8_samples_lie_near_their_labelled_mode() {
        let d = Dataset::Ring8;
        let b = d.sample(&mut Pcg64::seed_from_u64(1), 2000);
        let means = d.modes().unwrap().means;
        for (p, &l) in b.x.chunks(2).zip(&b.labels) {
            let m = &means[2 * l as usize..];
            let dist = ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt();
            assert!(
                dist < 6.0 * RING8_SIGMA as f32,
                "sample {p:?} too far from mode {l}"
            );
        }
    }

    #[test]
    fn gauss1d_sample_statistics_match_the_mixture() {
        let d = Dataset::Gauss1d {
            means: vec![-2.0, 2.0],
            stds: vec![0.5, 0.5],
        };
        let b = d.sample(&mut Pcg64::seed_from_u64(3), 20_000);
        let mean: f64 = b.x.iter().map(|&v| f64::from(v)).sum::<f64>() / 20_000.0;
        let var: f64 =
            b.x.iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / 20_000.0;
        // mixture variance = 0.25 + 4 = 4.25
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 4.25).abs() < 0.1, "{var}");
    }

    #[test]
    fn normalizer_round_trips_and_bounds_the_data() {
        let d = Dataset::Grid25;
        let n = d.normalizer();
        let b = d.sample(&mut Pcg64::seed_from_u64(3), 1000);
        let mut x = b.x.clone();
        n.normalize(&mut x);
        assert!(x.iter().all(|v| v.abs() < 1.0));
        n.denormalize(&mut x);
        for (a, b) in x.iter().zip(&b.x) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn out_of_range_labels_are_rejected() {
        let err = Dataset::Ring8.check_labels(&[0, 8]).unwrap_err();
        assert!(matches!(
            err,
            TrainError::LabelOutOfRange {
                label: 8,
                classes: 8
            }
        ));
        assert!(Dataset::Ring8.check_labels(&[-1]).is_err());
        assert!(Dataset::Ring8.check_labels(&[0, 7]).is_ok());
    }
}
