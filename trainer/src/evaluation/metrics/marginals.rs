//! Distances between two 1-D samples: the two-sample Kolmogorov–Smirnov statistic and
//! the Wasserstein-1 distance, both exact over the merged empirical CDFs (ties included).

use super::{MetricsError, sorted_finite};

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
    use super::super::assert_close;
    use super::*;

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
}
