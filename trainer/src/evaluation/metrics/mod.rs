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
//!
//! [`modes`] holds the mode-coverage protocol, [`marginals`] the 1-D distances.

pub mod marginals;
pub mod modes;

pub use self::marginals::{ks_two_sample, wasserstein1};
pub use self::modes::{HIGH_QUALITY_SIGMAS, ModeReport, mode_report};

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

/// The first NaN or ±infinity in `values` (f32 or f64), as an error naming `what`.
fn check_finite<T: Copy + Into<f64>>(what: &'static str, values: &[T]) -> Result<(), MetricsError> {
    match values.iter().position(|&v| !v.into().is_finite()) {
        Some(index) => Err(MetricsError::NonFinite {
            what,
            index,
            value: values[index].into(),
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

/// Tolerance of the exact-arithmetic checks in the metric tests.
#[cfg(test)]
const EPS: f64 = 1e-12;

/// Asserts `actual` is within [`EPS`] of `expected` (shared by the metric tests).
#[cfg(test)]
fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= EPS,
        "expected {expected}, got {actual}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
