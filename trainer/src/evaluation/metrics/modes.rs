//! The mode-coverage protocol of VEEGAN and PacGAN for mixtures of isotropic Gaussians
//! (ring of 8, grid of 25): modes captured, high-quality fraction, reverse KL, and the
//! accuracy of landing on the requested mode for conditional models.

use serde::{Deserialize, Serialize};

use super::{MetricsError, check_finite, row_count};

/// Radius, in standard deviations, within which a sample counts as a
/// high-quality sample of its nearest mode (VEEGAN / PacGAN use 3).
pub const HIGH_QUALITY_SIGMAS: f64 = 3.0;

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
    check_finite("samples", samples)?;
    check_finite("means", means)?;
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

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;

    // Two modes at (0,0) and (1,0), sigma 0.1, so the high-quality radius is 0.3.
    const TWO_MODES: [f32; 4] = [0.0, 0.0, 1.0, 0.0];
    // p0 (0.05,0): nearest 0, d = 0.05          -> high quality
    // p1 (0.31,0): nearest 0, d = 0.31 > 0.3    -> not high quality
    // p2 (1,0.2):  nearest 1, d = 0.2           -> high quality
    // p3 (0.9,0):  nearest 1, d = 0.1           -> high quality
    // p4 (1.1,0.1): nearest 1, d = sqrt(0.02) ≈ 0.141 -> high quality
    const FIVE_POINTS: [f32; 10] = [0.05, 0.0, 0.31, 0.0, 1.0, 0.2, 0.9, 0.0, 1.1, 0.1];

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
