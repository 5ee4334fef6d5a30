//! Evaluation metrics for trained generators, in plain Rust (std + serde only).
//!
//! * [`mode_report`]: the mode-coverage protocol for mixtures of isotropic
//!   Gaussians used by VEEGAN (Srivastava et al., "VEEGAN: Reducing Mode
//!   Collapse in GANs using Implicit Variational Learning", NeurIPS 2017,
//!   arXiv:1705.07761) and PacGAN (Lin et al., "PacGAN: The power of two
//!   samples in generative adversarial networks", NeurIPS 2018,
//!   arXiv:1712.04086) on the 2-D ring-of-8 and 5×5 grid-of-25 benchmarks.
//!   Each generated sample is assigned to its nearest mode mean; it is *high
//!   quality* if it lies within three standard deviations of that mean; a mode
//!   is *captured* if it receives at least `min_count` high-quality samples
//!   (PacGAN uses 20 out of 2,500 samples for 25 modes); and the *reverse KL*
//!   is `KL(p_gen || uniform)` of the histogram of high-quality samples over
//!   the modes. For conditional models the report also gives the fraction of
//!   samples that land, with high quality, on the mode of the requested class.
//! * [`ks_two_sample`]: the two-sample Kolmogorov–Smirnov statistic
//!   `sup_t |F_a(t) - F_b(t)|` between two empirical CDFs (Kolmogorov 1933,
//!   Smirnov 1948).
//! * [`wasserstein1`]: the 1-D Wasserstein-1 (earth mover's) distance, using
//!   the identity `W1 = ∫ |F_a(t) - F_b(t)| dt` for distributions on the real
//!   line (Vallender 1974).
//! * [`mean`]: an overflow-safe arithmetic mean.
//!
//! No function here panics on user input: empty slices, non-finite values,
//! ragged matrices, `dim == 0`, bad `sigma` and bad class labels are all
//! reported as [`MetricsError`].

use serde::{Deserialize, Serialize};

/// Radius, in standard deviations, within which a sample counts as a
/// high-quality sample of its nearest mode (VEEGAN / PacGAN use 3).
pub const HIGH_QUALITY_SIGMAS: f64 = 3.0;

/// Why a metric could not be computed. Every variant names the offending
/// argument so the message is actionable on its own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// An input that needs at least one element (or row) was empty.
    #[error("`{what}` is empty; at least one value is required")]
    Empty {
        /// Name of the empty argument.
        what: &'static str,
    },
    /// The dimension of a row-major matrix was 0.
    #[error("`dim` must be at least 1")]
    ZeroDim,
    /// A row-major matrix's length is not a multiple of its row width.
    #[error("`{what}` has {len} values, which is not a multiple of dim {dim}")]
    RaggedRows {
        /// Name of the argument.
        what: &'static str,
        /// Its length in values.
        len: usize,
        /// The row width it was checked against.
        dim: usize,
    },
    /// `sigma` was zero, negative, NaN or infinite.
    #[error("`sigma` must be finite and > 0, got {0}")]
    InvalidSigma(f64),
    /// An input held NaN or ±infinity; `index` is the first such position
    /// (a flat index; for a row-major matrix the row is `index / dim`).
    #[error("`{what}[{index}]` is {value}; all values must be finite")]
    NonFinite {
        /// Name of the argument.
        what: &'static str,
        /// Flat index of the first non-finite value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// `requested` did not have exactly one class per sample.
    #[error("`requested` has {got} entries but there are {expected} samples")]
    RequestedLength {
        /// Number of samples (rows).
        expected: usize,
        /// Length of `requested`.
        got: usize,
    },
    /// A requested class has no corresponding mode.
    #[error(
        "`requested[{index}]` is class {class}, but there are only {n_modes} modes (classes 0..{n_modes})"
    )]
    ClassOutOfRange {
        /// Position of the first bad label in `requested`.
        index: usize,
        /// The bad label.
        class: usize,
        /// Number of modes, i.e. one past the largest valid class.
        n_modes: usize,
    },
    /// The result does not fit in a finite `f64` (inputs spanning more than
    /// `f64::MAX`).
    #[error("{what} overflows f64")]
    Overflow {
        /// Which quantity overflowed.
        what: &'static str,
    },
}

/// PacGAN / VEEGAN mode-coverage protocol for mixtures of isotropic Gaussians.
///
/// Produced by [`mode_report`]; every float is finite, so the report always
/// serializes to JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ModeReport {
    /// Number of generated samples evaluated (rows of `samples`).
    pub n_samples: usize,
    /// Number of mixture components (rows of `means`).
    pub n_modes: usize,
    /// Modes with at least `min_count` high-quality samples (PacGAN uses 20
    /// for 2,500 samples). With `min_count == 0` every mode counts.
    pub modes_captured: usize,
    /// Fraction of samples within `3 sigma` (inclusive) of their nearest mode,
    /// where distance is Mahalanobis distance for isotropic `sigma`, i.e.
    /// euclidean distance / `sigma`.
    pub high_quality_fraction: f64,
    /// `KL(p_gen || uniform)` of the histogram of high-quality samples over
    /// modes, natural log: `Σ_k p_k ln(p_k · n_modes)`, with empty bins
    /// contributing 0. It is 0 for a perfectly uniform histogram and at most
    /// `ln(n_modes)` (all samples on one mode). If there are no high-quality
    /// samples at all it is defined as the maximum, `ln(n_modes)`. Tiny
    /// negative rounding residue is clamped to 0.
    pub reverse_kl: f64,
    /// High-quality sample count per mode, indexed like the rows of `means`.
    pub mode_counts: Vec<usize>,
    /// For conditional models: fraction of all samples whose nearest mode
    /// equals the requested class AND that are high quality. `None` when no
    /// classes were requested.
    pub class_accuracy: Option<f64>,
    /// The same accuracy per requested class `0..n_modes`: the entry for
    /// class `c` is (correct samples requested as `c`) / (samples requested
    /// as `c`), or `None` if class `c` was never requested (JSON cannot hold
    /// NaN). `None` overall when no classes were requested.
    pub per_class_accuracy: Option<Vec<Option<f64>>>,
}

/// Evaluates generated `samples` against a mixture of isotropic Gaussians
/// with centres `means` and common standard deviation `sigma`.
///
/// * `samples`: row-major `n × dim`, `n ≥ 1`, all finite.
/// * `dim`: row width, `≥ 1`.
/// * `means`: row-major `n_modes × dim`, `n_modes ≥ 1`, all finite; mode `i`
///   is row `i`.
/// * `sigma`: isotropic standard deviation of each mode, finite and `> 0`.
/// * `min_count`: a mode is captured when it has `≥ min_count` high-quality
///   samples.
/// * `requested`: for conditional models, the requested class per sample
///   (class `i` is mode `i`); must have length `n` and entries `< n_modes`.
///
/// Each sample is assigned to its nearest mode by euclidean distance (ties go
/// to the lower mode index) and is high quality if that distance divided by
/// `sigma` is at most [`HIGH_QUALITY_SIGMAS`]. See [`ModeReport`] for the
/// fields.
///
/// # Errors
/// [`MetricsError::ZeroDim`], [`MetricsError::InvalidSigma`],
/// [`MetricsError::Empty`], [`MetricsError::RaggedRows`],
/// [`MetricsError::NonFinite`] (first bad flat index in `samples` or
/// `means`), [`MetricsError::RequestedLength`] and
/// [`MetricsError::ClassOutOfRange`] (first bad index and its value).
pub fn mode_report(
    samples: &[f32],
    dim: usize,
    means: &[f32],
    sigma: f64,
    min_count: usize,
    requested: Option<&[usize]>,
) -> Result<ModeReport, MetricsError> {
    if dim == 0 {
        return Err(MetricsError::ZeroDim);
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(MetricsError::InvalidSigma(sigma));
    }
    let n_samples = row_count("samples", samples, dim)?;
    let n_modes = row_count("means", means, dim)?;
    check_finite_f32("samples", samples)?;
    check_finite_f32("means", means)?;
    if let Some(requested) = requested {
        if requested.len() != n_samples {
            return Err(MetricsError::RequestedLength {
                expected: n_samples,
                got: requested.len(),
            });
        }
        if let Some((index, &class)) = requested.iter().enumerate().find(|&(_, &c)| c >= n_modes) {
            return Err(MetricsError::ClassOutOfRange {
                index,
                class,
                n_modes,
            });
        }
    }

    // (nearest mode, is high quality) per sample.
    let assignments: Vec<(usize, bool)> = samples
        .chunks_exact(dim)
        .map(|x| {
            let (nearest, squared) = nearest_mode(x, means, dim);
            (nearest, squared.sqrt() / sigma <= HIGH_QUALITY_SIGMAS)
        })
        .collect();

    let mut mode_counts = vec![0usize; n_modes];
    for &(nearest, high_quality) in &assignments {
        if high_quality {
            mode_counts[nearest] += 1;
        }
    }
    let n_high_quality: usize = mode_counts.iter().sum();
    let modes_captured = mode_counts.iter().filter(|&&c| c >= min_count).count();

    let (class_accuracy, per_class_accuracy) = match requested {
        None => (None, None),
        Some(requested) => {
            // (times requested, times correct) per class.
            let mut tally = vec![(0usize, 0usize); n_modes];
            for (&(nearest, high_quality), &class) in assignments.iter().zip(requested) {
                tally[class].0 += 1;
                if high_quality && nearest == class {
                    tally[class].1 += 1;
                }
            }
            let correct: usize = tally.iter().map(|&(_, ok)| ok).sum();
            let per_class = tally
                .iter()
                .map(|&(asked, ok)| (asked > 0).then(|| ok as f64 / asked as f64))
                .collect();
            (Some(correct as f64 / n_samples as f64), Some(per_class))
        }
    };

    Ok(ModeReport {
        n_samples,
        n_modes,
        modes_captured,
        high_quality_fraction: n_high_quality as f64 / n_samples as f64,
        reverse_kl: reverse_kl_to_uniform(&mode_counts),
        mode_counts,
        class_accuracy,
        per_class_accuracy,
    })
}

/// Two-sample Kolmogorov–Smirnov statistic `sup_t |F_a(t) - F_b(t)|` between
/// the empirical CDFs of `a` and `b` (any sizes, any order).
///
/// Ties are handled correctly: both CDFs are evaluated only after all values
/// equal to `t` in either sample have been counted. The result is in `[0, 1]`.
///
/// # Errors
/// [`MetricsError::Empty`] if either slice is empty;
/// [`MetricsError::NonFinite`] naming the first NaN/±inf.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Result<f64, MetricsError> {
    let a = sorted_finite("a", a)?;
    let b = sorted_finite("b", b)?;
    let (n, m) = (a.len() as u128, b.len() as u128);
    // |i/n - j/m| = |i·m - j·n| / (n·m): compare exactly in integers.
    let sup = EcdfSteps::new(&a, &b)
        .map(|(_, i, j)| (i as u128 * m).abs_diff(j as u128 * n))
        .max()
        .unwrap_or(0);
    Ok(sup as f64 / (n * m) as f64)
}

/// Wasserstein-1 distance between two 1-D empirical distributions of any
/// sizes: `∫ |F_a(t) - F_b(t)| dt` over the merged sorted support, i.e. the
/// sum over consecutive distinct support points `t_k < t_{k+1}` of
/// `|F_a(t_k) - F_b(t_k)| · (t_{k+1} - t_k)`.
///
/// # Errors
/// [`MetricsError::Empty`] if either slice is empty;
/// [`MetricsError::NonFinite`] naming the first NaN/±inf;
/// [`MetricsError::Overflow`] if the distance is not a finite `f64` (samples
/// spanning more than `f64::MAX`).
pub fn wasserstein1(a: &[f64], b: &[f64]) -> Result<f64, MetricsError> {
    let a = sorted_finite("a", a)?;
    let b = sorted_finite("b", b)?;
    let (n, m) = (a.len() as u128, b.len() as u128);
    let nm = (n * m) as f64;
    let steps = EcdfSteps::new(&a, &b);
    let distance: f64 = steps
        .clone()
        .zip(steps.skip(1))
        .map(|((t, i, j), (next, _, _))| {
            let gap = (i as u128 * m).abs_diff(j as u128 * n) as f64 / nm;
            gap * (next - t)
        })
        .sum();
    if distance.is_finite() {
        Ok(distance)
    } else {
        Err(MetricsError::Overflow {
            what: "wasserstein1 distance",
        })
    }
}

/// Arithmetic mean of `x`. Does not overflow for large finite values (falls
/// back to summing `x_i / n` when the plain sum is infinite).
///
/// # Errors
/// [`MetricsError::Empty`] on an empty slice; [`MetricsError::NonFinite`]
/// naming the first NaN/±inf; [`MetricsError::Overflow`] in the
/// pathological case where even the rescaled sum rounds past `f64::MAX`.
pub fn mean(x: &[f64]) -> Result<f64, MetricsError> {
    if x.is_empty() {
        return Err(MetricsError::Empty { what: "x" });
    }
    check_finite("x", x)?;
    let n = x.len() as f64;
    let sum: f64 = x.iter().sum();
    let mean = if sum.is_finite() {
        sum / n
    } else {
        x.iter().map(|v| v / n).sum()
    };
    if mean.is_finite() {
        Ok(mean)
    } else {
        Err(MetricsError::Overflow { what: "mean" })
    }
}

/// Number of rows of a non-empty row-major matrix of width `dim` (`dim > 0`).
fn row_count(what: &'static str, values: &[f32], dim: usize) -> Result<usize, MetricsError> {
    if values.is_empty() {
        return Err(MetricsError::Empty { what });
    }
    if !values.len().is_multiple_of(dim) {
        return Err(MetricsError::RaggedRows {
            what,
            len: values.len(),
            dim,
        });
    }
    Ok(values.len() / dim)
}

fn check_finite_f32(what: &'static str, values: &[f32]) -> Result<(), MetricsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricsError::NonFinite {
            what,
            index,
            value: f64::from(values[index]),
        }),
        None => Ok(()),
    }
}

fn check_finite(what: &'static str, values: &[f64]) -> Result<(), MetricsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricsError::NonFinite {
            what,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Validates (non-empty, finite) and returns a sorted copy.
fn sorted_finite(what: &'static str, values: &[f64]) -> Result<Vec<f64>, MetricsError> {
    if values.is_empty() {
        return Err(MetricsError::Empty { what });
    }
    check_finite(what, values)?;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(sorted)
}

/// Index and squared euclidean distance of the closest row of `means`
/// (first one on ties). `means` has at least one row of width `dim`.
fn nearest_mode(x: &[f32], means: &[f32], dim: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (k, mu) in means.chunks_exact(dim).enumerate() {
        let squared: f64 = x
            .iter()
            .zip(mu)
            .map(|(&xi, &mi)| (f64::from(xi) - f64::from(mi)).powi(2))
            .sum();
        if squared < best.1 {
            best = (k, squared);
        }
    }
    best
}

/// `Σ_k p_k ln(p_k K)` over non-empty bins, or `ln K` if all bins are empty.
fn reverse_kl_to_uniform(counts: &[usize]) -> f64 {
    let k = counts.len() as f64;
    let total: usize = counts.iter().sum();
    if total == 0 {
        return k.ln();
    }
    let total = total as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            p * (p * k).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

/// Walks the merged support of two sorted, finite samples, yielding
/// `(t, #a ≤ t, #b ≤ t)` once per distinct value `t`, in increasing order.
/// Counting all values equal to `t` before yielding is what makes ties exact.
#[derive(Clone)]
struct EcdfSteps<'a> {
    a: &'a [f64],
    b: &'a [f64],
    i: usize,
    j: usize,
}

impl<'a> EcdfSteps<'a> {
    fn new(a: &'a [f64], b: &'a [f64]) -> Self {
        Self { a, b, i: 0, j: 0 }
    }
}

impl Iterator for EcdfSteps<'_> {
    type Item = (f64, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let t = match (self.a.get(self.i), self.b.get(self.j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return None,
        };
        while self.a.get(self.i).is_some_and(|&x| x == t) {
            self.i += 1;
        }
        while self.b.get(self.j).is_some_and(|&y| y == t) {
            self.j += 1;
        }
        Some((t, self.i, self.j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= EPS,
            "expected {expected}, got {actual}"
        );
    }

    /// Small deterministic LCG so the cross-check tests need no `rand`.
    fn lcg_values(seed: u64, n: usize, levels: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 33) % levels) as f64 * 0.5
            })
            .collect()
    }

    // Two modes at (0,0) and (1,0), sigma 0.1, so the high-quality radius is 0.3.
    const TWO_MODES: [f32; 4] = [0.0, 0.0, 1.0, 0.0];
    // p0 (0.05,0): nearest 0, d = 0.05          -> high quality
    // p1 (0.31,0): nearest 0, d = 0.31 > 0.3    -> not high quality
    // p2 (1,0.2):  nearest 1, d = 0.2           -> high quality
    // p3 (0.9,0):  nearest 1, d = 0.1           -> high quality
    // p4 (1.1,0.1): nearest 1, d = sqrt(0.02) ≈ 0.141 -> high quality
    const FIVE_POINTS: [f32; 10] = [0.05, 0.0, 0.31, 0.0, 1.0, 0.2, 0.9, 0.0, 1.1, 0.1];

    // ---------------------------------------------------------------- KS

    #[test]
    fn disjoint_samples_have_ks_one() {
        // F_a reaches 1 at t = 3 while F_b is still 0.
        assert_eq!(ks_two_sample(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), Ok(1.0));
    }

    #[test]
    fn identical_samples_have_zero_ks() {
        assert_eq!(ks_two_sample(&[3.0, 1.0, 2.0], &[1.0, 2.0, 3.0]), Ok(0.0));
        assert_eq!(ks_two_sample(&[1.0, 1.0, 1.0], &[1.0]), Ok(0.0));
    }

    #[test]
    fn ks_evaluates_after_all_tied_values() {
        // a = [1,2,2,3], b = [2,2,2,4]
        // t=1: F_a = 1/4, F_b = 0   -> 1/4
        // t=2: F_a = 3/4, F_b = 3/4 -> 0   (a naive merge that steps through a's
        //                                   2s first would see 3/4 - 0 = 3/4)
        // t=3: F_a = 1,   F_b = 3/4 -> 1/4
        // t=4: 1, 1                 -> 0
        assert_eq!(
            ks_two_sample(&[1.0, 2.0, 2.0, 3.0], &[2.0, 2.0, 2.0, 4.0]),
            Ok(0.25)
        );
    }

    #[test]
    fn ks_handles_different_sizes() {
        // a = [1,2,3,4], b = [2.5]
        // t=1: 1/4 - 0; t=2: 2/4 - 0; t=2.5: |2/4 - 1| = 1/2; t=3: 1/4; t=4: 0
        assert_eq!(ks_two_sample(&[4.0, 3.0, 2.0, 1.0], &[2.5]), Ok(0.5));
    }

    #[test]
    fn ks_is_symmetric() {
        let a = [0.3, -1.0, 2.0, 2.0];
        let b = [0.0, 2.0, 5.0];
        assert_eq!(ks_two_sample(&a, &b), ks_two_sample(&b, &a));
    }

    #[test]
    fn ks_treats_signed_zeros_as_equal() {
        assert_eq!(ks_two_sample(&[-0.0, 0.0], &[0.0, -0.0]), Ok(0.0));
    }

    #[test]
    fn ks_matches_brute_force_on_random_tied_data() {
        // Brute force: evaluate both ECDFs at every support point by counting.
        let ecdf =
            |s: &[f64], t: f64| s.iter().filter(|&&x| x <= t).count() as f64 / s.len() as f64;
        for seed in 0..20 {
            let a = lcg_values(seed, 7 + seed as usize, 6);
            let b = lcg_values(seed + 100, 3 + 2 * seed as usize, 6);
            let expected = a
                .iter()
                .chain(&b)
                .map(|&t| (ecdf(&a, t) - ecdf(&b, t)).abs())
                .fold(0.0, f64::max);
            assert_close(ks_two_sample(&a, &b).unwrap(), expected);
        }
    }

    #[test]
    fn ks_empty_input_is_error() {
        assert_eq!(
            ks_two_sample(&[], &[1.0]),
            Err(MetricsError::Empty { what: "a" })
        );
        assert_eq!(
            ks_two_sample(&[1.0], &[]),
            Err(MetricsError::Empty { what: "b" })
        );
    }

    #[test]
    fn ks_nan_is_error_naming_index() {
        let err = ks_two_sample(&[1.0, 2.0], &[0.0, 1.0, f64::NAN, f64::NAN]).unwrap_err();
        assert!(
            matches!(err, MetricsError::NonFinite { what: "b", index: 2, value } if value.is_nan()),
            "{err:?}"
        );
    }

    #[test]
    fn ks_infinity_is_error() {
        assert_eq!(
            ks_two_sample(&[f64::NEG_INFINITY], &[1.0]),
            Err(MetricsError::NonFinite {
                what: "a",
                index: 0,
                value: f64::NEG_INFINITY
            })
        );
    }

    // ---------------------------------------------------------------- W1

    #[test]
    fn point_masses_one_apart_have_w1_one() {
        assert_eq!(wasserstein1(&[0.0], &[1.0]), Ok(1.0));
    }

    #[test]
    fn identical_samples_have_zero_w1() {
        assert_eq!(wasserstein1(&[0.0, 1.0], &[0.0, 1.0]), Ok(0.0));
        assert_eq!(wasserstein1(&[2.0, 2.0], &[2.0]), Ok(0.0));
    }

    #[test]
    fn w1_of_two_zeros_and_a_one_against_a_one_is_two_thirds() {
        // On [0,1): F_a = 2/3, F_b = 0; from 1 on both are 1. Area = 2/3.
        assert_close(wasserstein1(&[0.0, 0.0, 1.0], &[1.0]).unwrap(), 2.0 / 3.0);
    }

    #[test]
    fn w1_handles_different_sample_sizes() {
        // a = [0,2], b = [1]: [0,1): |1/2 - 0| · 1 = 1/2; [1,2): |1/2 - 1| · 1 = 1/2.
        assert_close(wasserstein1(&[2.0, 0.0], &[1.0]).unwrap(), 1.0);
        // a = [0,4], b = [1]: [0,1): 1/2 · 1; [1,4): 1/2 · 3. Total 2.
        // (Quantile view: |0-1|·1/2 + |4-1|·1/2 = 2.)
        assert_close(wasserstein1(&[0.0, 4.0], &[1.0]).unwrap(), 2.0);
    }

    #[test]
    fn w1_of_shifted_sample_equals_shift() {
        // Shifting every point by 2 moves each unit of mass exactly 2.
        assert_close(
            wasserstein1(&[0.0, 1.0, 5.0], &[2.0, 3.0, 7.0]).unwrap(),
            2.0,
        );
    }

    #[test]
    fn w1_is_symmetric() {
        let a = [0.0, 0.5, 3.0];
        let b = [1.0, -2.0];
        assert_eq!(wasserstein1(&a, &b), wasserstein1(&b, &a));
    }

    #[test]
    fn w1_matches_sorted_pairing_for_equal_sizes() {
        // For equal sizes, W1 = mean |a_(i) - b_(i)| over sorted order statistics.
        for seed in 0..20 {
            let n = 1 + seed as usize;
            let mut a = lcg_values(seed, n, 9);
            let mut b = lcg_values(seed + 50, n, 9);
            let w1 = wasserstein1(&a, &b).unwrap();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let expected = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / n as f64;
            assert_close(w1, expected);
        }
    }

    #[test]
    fn w1_empty_input_is_error() {
        assert_eq!(
            wasserstein1(&[], &[]),
            Err(MetricsError::Empty { what: "a" })
        );
        assert_eq!(
            wasserstein1(&[0.0], &[]),
            Err(MetricsError::Empty { what: "b" })
        );
    }

    #[test]
    fn w1_nan_is_error_naming_index() {
        let err = wasserstein1(&[0.0, f64::NAN], &[1.0]).unwrap_err();
        assert!(
            matches!(
                err,
                MetricsError::NonFinite {
                    what: "a",
                    index: 1,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn w1_beyond_f64_range_is_overflow_error() {
        // Support spans 2·f64::MAX, which is +inf.
        assert_eq!(
            wasserstein1(&[-f64::MAX], &[f64::MAX]),
            Err(MetricsError::Overflow {
                what: "wasserstein1 distance"
            })
        );
    }

    // -------------------------------------------------------------- mean

    #[test]
    fn mean_of_small_slice() {
        // (1 + 2 + 3 + 4) / 4 = 2.5
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), Ok(2.5));
        assert_eq!(mean(&[-7.0]), Ok(-7.0));
    }

    #[test]
    fn mean_of_huge_values_does_not_overflow() {
        // MAX + MAX is +inf, but (MAX/2) + (MAX/2) = MAX exactly.
        assert_eq!(mean(&[f64::MAX, f64::MAX]), Ok(f64::MAX));
    }

    #[test]
    fn mean_of_empty_slice_is_error() {
        assert_eq!(mean(&[]), Err(MetricsError::Empty { what: "x" }));
    }

    #[test]
    fn mean_non_finite_is_error_naming_index() {
        assert_eq!(
            mean(&[1.0, 2.0, f64::INFINITY]),
            Err(MetricsError::NonFinite {
                what: "x",
                index: 2,
                value: f64::INFINITY
            })
        );
        assert!(matches!(
            mean(&[f64::NAN]),
            Err(MetricsError::NonFinite { index: 0, .. })
        ));
    }

    // -------------------------------------------------------- mode report

    #[test]
    fn hand_placed_points_give_hand_computed_report() {
        let report = mode_report(&FIVE_POINTS, 2, &TWO_MODES, 0.1, 2, None).unwrap();
        assert_eq!(report.n_samples, 5);
        assert_eq!(report.n_modes, 2);
        // p0 on mode 0; p2, p3, p4 on mode 1; p1 rejected.
        assert_eq!(report.mode_counts, vec![1, 3]);
        assert_close(report.high_quality_fraction, 4.0 / 5.0);
        // min_count 2: only mode 1 (3 samples) qualifies.
        assert_eq!(report.modes_captured, 1);
        // p = [1/4, 3/4], K = 2:
        // 1/4 ln(1/4 · 2) + 3/4 ln(3/4 · 2) = -1/4 ln 2 + 3/4 ln 1.5
        //   = -0.17328679513998632 + 0.3040988310811233 = 0.13081203594113698
        let expected = 0.75 * 1.5f64.ln() - 0.25 * 2f64.ln();
        assert_close(report.reverse_kl, expected);
        assert!((report.reverse_kl - 0.130_812_035_941_137).abs() < 1e-12);
        assert_eq!(report.class_accuracy, None);
        assert_eq!(report.per_class_accuracy, None);
    }

    #[test]
    fn sample_outside_three_sigma_is_not_high_quality() {
        // (0.31, 0) is 3.1 sigma from (0,0).
        let report = mode_report(&[0.31, 0.0], 2, &TWO_MODES, 0.1, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![0, 0]);
        assert_eq!(report.high_quality_fraction, 0.0);
        assert_eq!(report.modes_captured, 0);
    }

    #[test]
    fn sample_inside_three_sigma_is_high_quality() {
        // (0.29, 0) is 2.9 sigma from (0,0).
        let report = mode_report(&[0.29, 0.0], 2, &TWO_MODES, 0.1, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![1, 0]);
        assert_eq!(report.high_quality_fraction, 1.0);
    }

    #[test]
    fn quality_radius_uses_euclidean_distance_over_all_coordinates() {
        // (0.25, 0.25) has each coordinate within 3 sigma but lies
        // sqrt(0.125) ≈ 0.354 > 0.3 from (0,0).
        let report = mode_report(&[0.25, 0.25], 2, &TWO_MODES, 0.1, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![0, 0]);
    }

    #[test]
    fn modes_captured_respects_min_count() {
        // Counts are [1, 3].
        let captured = |min_count| {
            mode_report(&FIVE_POINTS, 2, &TWO_MODES, 0.1, min_count, None)
                .unwrap()
                .modes_captured
        };
        assert_eq!(captured(0), 2);
        assert_eq!(captured(1), 2);
        assert_eq!(captured(3), 1);
        assert_eq!(captured(4), 0);
    }

    #[test]
    fn uniform_coverage_has_zero_reverse_kl() {
        // One sample exactly on each mode: p = [1/2, 1/2], 2 · 1/2 ln(1) = 0.
        let report = mode_report(&TWO_MODES, 2, &TWO_MODES, 0.1, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![1, 1]);
        assert_eq!(report.reverse_kl, 0.0);
        assert_eq!(report.modes_captured, 2);
    }

    #[test]
    fn collapse_onto_one_mode_has_reverse_kl_ln_k() {
        // 4 modes on a line, all samples near mode 2: p = [0,0,1,0],
        // KL = 1 · ln(1 · 4) = ln 4.
        let means = [0.0, 10.0, 20.0, 30.0];
        let samples = [20.0, 20.5, 19.5];
        let report = mode_report(&samples, 1, &means, 1.0, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![0, 0, 3, 0]);
        assert_close(report.reverse_kl, 4f64.ln());
        assert_eq!(report.modes_captured, 1);
    }

    #[test]
    fn no_high_quality_samples_gives_max_reverse_kl() {
        // Nothing within 3 sigma of any of 3 modes: defined as ln 3.
        let means = [0.0, 10.0, 20.0];
        let report = mode_report(&[5.0, 15.0], 1, &means, 1.0, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![0, 0, 0]);
        assert_eq!(report.high_quality_fraction, 0.0);
        assert_close(report.reverse_kl, 3f64.ln());
    }

    #[test]
    fn single_mode_mixture_has_zero_reverse_kl() {
        // K = 1: ln(1) = 0 whether or not any sample is high quality.
        let hit = mode_report(&[0.0], 1, &[0.0], 1.0, 1, None).unwrap();
        let miss = mode_report(&[9.0], 1, &[0.0], 1.0, 1, None).unwrap();
        assert_eq!(hit.reverse_kl, 0.0);
        assert_eq!(miss.reverse_kl, 0.0);
    }

    #[test]
    fn equidistant_sample_goes_to_lower_index_mode() {
        // (0.5, 0) is 0.5 from both modes; sigma 1 makes it high quality.
        let report = mode_report(&[0.5, 0.0], 2, &TWO_MODES, 1.0, 1, None).unwrap();
        assert_eq!(report.mode_counts, vec![1, 0]);
    }

    #[test]
    fn mode_report_works_in_three_dimensions() {
        // Modes (0,0,0) and (1,1,1), sigma 0.1.
        // (0.1,0.1,0.1): d = sqrt(0.03) ≈ 0.173 to mode 0 -> high quality.
        // (1,1,0.8):     d = 0.2 to mode 1 -> high quality.
        // (0.5,0.5,0.4): d ≈ 0.81 to mode 0 -> not.
        let means = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let samples = [0.1, 0.1, 0.1, 1.0, 1.0, 0.8, 0.5, 0.5, 0.4];
        let report = mode_report(&samples, 3, &means, 0.1, 1, None).unwrap();
        assert_eq!(report.n_samples, 3);
        assert_eq!(report.mode_counts, vec![1, 1]);
        assert_close(report.high_quality_fraction, 2.0 / 3.0);
        assert_eq!(report.reverse_kl, 0.0);
    }

    #[test]
    fn conditional_accuracy_counts_only_high_quality_samples_on_requested_mode() {
        // requested = [0, 0, 1, 0, 1]
        // p0 req 0: nearest 0, HQ        -> correct
        // p1 req 0: nearest 0, not HQ    -> wrong
        // p2 req 1: nearest 1, HQ        -> correct
        // p3 req 0: nearest 1            -> wrong
        // p4 req 1: nearest 1, HQ        -> correct
        // overall 3/5; class 0: 1 of {p0,p1,p3} = 1/3; class 1: 2 of {p2,p4} = 1.
        let requested = [0, 0, 1, 0, 1];
        let report = mode_report(&FIVE_POINTS, 2, &TWO_MODES, 0.1, 2, Some(&requested)).unwrap();
        assert_close(report.class_accuracy.unwrap(), 0.6);
        let per_class = report.per_class_accuracy.unwrap();
        assert_eq!(per_class.len(), 2);
        assert_close(per_class[0].unwrap(), 1.0 / 3.0);
        assert_eq!(per_class[1], Some(1.0));
        // Unconditional fields are unchanged by `requested`.
        assert_eq!(report.mode_counts, vec![1, 3]);
    }

    #[test]
    fn class_without_requests_has_no_accuracy() {
        // Three modes; only classes 0 and 2 requested, both hit exactly.
        let means = [0.0, 10.0, 20.0];
        let report = mode_report(&[0.0, 20.0], 1, &means, 1.0, 1, Some(&[0, 2])).unwrap();
        assert_eq!(report.class_accuracy, Some(1.0));
        assert_eq!(
            report.per_class_accuracy,
            Some(vec![Some(1.0), None, Some(1.0)])
        );
    }

    #[test]
    fn report_round_trips_through_json() {
        // Class 1 is never requested, so its accuracy must serialize as null.
        // 5.0 is equidistant from modes 0 and 10 (goes to mode 0) and 5 sigma
        // away, so class 2 scores 1/2.
        let means = [0.0, 10.0, 20.0];
        let report = mode_report(&[0.0, 20.0, 5.0], 1, &means, 1.0, 1, Some(&[0, 2, 2])).unwrap();
        assert_eq!(
            report.per_class_accuracy,
            Some(vec![Some(1.0), None, Some(0.5)])
        );
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            json.contains(r#""per_class_accuracy":[1.0,null,0.5]"#),
            "{json}"
        );
        let back: ModeReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn zero_dim_is_error() {
        assert_eq!(
            mode_report(&[0.0], 0, &[0.0], 1.0, 1, None),
            Err(MetricsError::ZeroDim)
        );
    }

    #[test]
    fn non_positive_or_non_finite_sigma_is_error() {
        for sigma in [0.0, -0.1, f64::INFINITY] {
            assert_eq!(
                mode_report(&[0.0], 1, &[0.0], sigma, 1, None),
                Err(MetricsError::InvalidSigma(sigma))
            );
        }
        assert!(matches!(
            mode_report(&[0.0], 1, &[0.0], f64::NAN, 1, None),
            Err(MetricsError::InvalidSigma(s)) if s.is_nan()
        ));
    }

    #[test]
    fn empty_samples_or_means_is_error() {
        assert_eq!(
            mode_report(&[], 2, &TWO_MODES, 0.1, 1, None),
            Err(MetricsError::Empty { what: "samples" })
        );
        assert_eq!(
            mode_report(&[0.0, 0.0], 2, &[], 0.1, 1, None),
            Err(MetricsError::Empty { what: "means" })
        );
    }

    #[test]
    fn length_not_multiple_of_dim_is_error() {
        assert_eq!(
            mode_report(&[0.0, 0.0, 1.0], 2, &TWO_MODES, 0.1, 1, None),
            Err(MetricsError::RaggedRows {
                what: "samples",
                len: 3,
                dim: 2
            })
        );
        assert_eq!(
            mode_report(&[0.0, 0.0], 2, &[0.0, 0.0, 1.0], 0.1, 1, None),
            Err(MetricsError::RaggedRows {
                what: "means",
                len: 3,
                dim: 2
            })
        );
    }

    #[test]
    fn nan_sample_is_error_naming_index() {
        let samples = [0.0, 0.0, 1.0, f32::NAN, f32::NAN, 0.0];
        let err = mode_report(&samples, 2, &TWO_MODES, 0.1, 1, None).unwrap_err();
        assert!(
            matches!(err, MetricsError::NonFinite { what: "samples", index: 3, value } if value.is_nan()),
            "{err:?}"
        );
        assert!(err.to_string().contains("samples[3]"), "{err}");
    }

    #[test]
    fn infinite_mean_is_error_naming_index() {
        assert_eq!(
            mode_report(
                &[0.0, 0.0],
                2,
                &[0.0, 0.0, f32::INFINITY, 0.0],
                0.1,
                1,
                None
            ),
            Err(MetricsError::NonFinite {
                what: "means",
                index: 2,
                value: f64::INFINITY
            })
        );
    }

    #[test]
    fn requested_length_mismatch_is_error() {
        assert_eq!(
            mode_report(&FIVE_POINTS, 2, &TWO_MODES, 0.1, 1, Some(&[0, 1])),
            Err(MetricsError::RequestedLength {
                expected: 5,
                got: 2
            })
        );
    }

    #[test]
    fn requested_class_out_of_range_is_error_naming_index_and_value() {
        let err =
            mode_report(&FIVE_POINTS, 2, &TWO_MODES, 0.1, 1, Some(&[0, 1, 1, 7, 2])).unwrap_err();
        assert_eq!(
            err,
            MetricsError::ClassOutOfRange {
                index: 3,
                class: 7,
                n_modes: 2
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("requested[3]") && message.contains("class 7"),
            "{message}"
        );
    }

    #[test]
    fn errors_display_actionable_messages() {
        assert_eq!(
            MetricsError::Empty { what: "a" }.to_string(),
            "`a` is empty; at least one value is required"
        );
        assert_eq!(
            MetricsError::InvalidSigma(-1.0).to_string(),
            "`sigma` must be finite and > 0, got -1"
        );
        assert_eq!(
            MetricsError::RequestedLength {
                expected: 5,
                got: 2
            }
            .to_string(),
            "`requested` has 2 entries but there are 5 samples"
        );
        // Usable as a boxed std error.
        let boxed: Box<dyn std::error::Error> = Box::new(MetricsError::ZeroDim);
        assert_eq!(boxed.to_string(), "`dim` must be at least 1");
    }
}
