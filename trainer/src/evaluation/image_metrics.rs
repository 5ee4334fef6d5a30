//! Pure metric functions of the image evaluation, on feature matrices (row-major
//! `[n, dim]`) and images in [-1, 1]. Everything is f64 internally and deterministic.
//!
//! - Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017,
//!   here in the evaluation classifier's feature space rather than Inception's);
//! - precision, recall, density and coverage with k-nearest-neighbour balls (Kynkäänniemi
//!   et al. 2019; Naeem et al. 2020);
//! - L1 and PSNR over the unknown region of inpainted images.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

fn mean_cov(x: &[f32], dim: usize) -> (DVector<f64>, DMatrix<f64>) {
    let n = x.len() / dim;
    let mut mean = DVector::zeros(dim);
    for row in x.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean /= n.max(1) as f64;
    let mut cov = DMatrix::zeros(dim, dim);
    let mut centered = DVector::zeros(dim);
    for row in x.chunks(dim) {
        for (i, &v) in row.iter().enumerate() {
            centered[i] = f64::from(v) - mean[i];
        }
        cov.ger(1.0, &centered, &centered, 1.0);
    }
    cov /= (n.max(2) - 1) as f64;
    (mean, cov)
}

/// Square root of a symmetric positive semi-definite matrix (negative eigenvalues from
/// rounding are clamped to 0).
fn sqrtm_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(m);
    let sqrt = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&sqrt) * eig.eigenvectors.transpose()
}

/// Fréchet distance `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)` between
/// Gaussians fitted to `a` and `b` (row-major `[n, dim]`).
pub fn frechet_distance(a: &[f32], b: &[f32], dim: usize) -> f64 {
    let (ma, ca) = mean_cov(a, dim);
    let (mb, cb) = mean_cov(b, dim);
    let sa = sqrtm_psd(ca.clone());
    let inner = &sa * &cb * &sa;
    // symmetrise against rounding before the eigen-decomposition
    let inner = (&inner + inner.transpose()) * 0.5;
    let cross = sqrtm_psd(inner).trace();
    let d = (ma - mb).norm_squared() + ca.trace() + cb.trace() - 2.0 * cross;
    d.max(0.0)
}

/// Precision, recall, density and coverage of `fake` against `real`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prdc {
    /// fraction of fake samples inside some real sample's k-NN ball (fidelity)
    pub precision: f64,
    /// fraction of real samples inside some fake sample's k-NN ball (diversity)
    pub recall: f64,
    /// mean number of real balls containing each fake sample, / k (about 1 when matched)
    pub density: f64,
    /// fraction of real samples whose ball contains some fake sample
    pub coverage: f64,
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum()
}

/// Squared distance of each row of `x` to its k-th nearest other row.
fn knn_radii(x: &[f32], dim: usize, k: usize) -> Vec<f64> {
    let rows: Vec<&[f32]> = x.chunks(dim).collect();
    rows.iter()
        .enumerate()
        .map(|(i, a)| {
            let mut d: Vec<f64> = rows
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, b)| sq_dist(a, b))
                .collect();
            if d.is_empty() {
                return 0.0;
            }
            let kth = k.min(d.len()) - 1;
            d.select_nth_unstable_by(kth, f64::total_cmp);
            d[kth]
        })
        .collect()
}

/// [`Prdc`] with k-nearest-neighbour balls (`k = 5` in the papers).
pub fn prdc(real: &[f32], fake: &[f32], dim: usize, k: usize) -> Prdc {
    let real_r = knn_radii(real, dim, k);
    let fake_r = knn_radii(fake, dim, k);
    let reals: Vec<&[f32]> = real.chunks(dim).collect();
    let fakes: Vec<&[f32]> = fake.chunks(dim).collect();
    let mut precise = 0usize;
    let mut density = 0usize;
    let mut covered = vec![false; reals.len()];
    let mut recalled = vec![false; reals.len()];
    for (j, f) in fakes.iter().enumerate() {
        let mut inside_any = false;
        for (i, r) in reals.iter().enumerate() {
            let d = sq_dist(f, r);
            if d <= real_r[i] {
                inside_any = true;
                density += 1;
                covered[i] = true;
            }
            if d <= fake_r[j] {
                recalled[i] = true;
            }
        }
        precise += usize::from(inside_any);
    }
    let nf = fakes.len().max(1) as f64;
    let nr = reals.len().max(1) as f64;
    Prdc {
        precision: precise as f64 / nf,
        recall: recalled.iter().filter(|&&b| b).count() as f64 / nr,
        density: density as f64 / (k as f64 * nf),
        coverage: covered.iter().filter(|&&b| b).count() as f64 / nr,
    }
}

/// L1 (mean absolute error, in [0, 1] pixel units) and PSNR (dB, peak 1) over the
/// unknown pixels (`mask == 0`) of `completed` against `truth`, all in [-1, 1].
pub fn unknown_region_error(completed: &[f32], truth: &[f32], mask: &[f32]) -> (f64, f64) {
    let mut abs = 0.0;
    let mut sq = 0.0;
    let mut n = 0usize;
    for ((c, t), m) in completed.iter().zip(truth).zip(mask) {
        if *m == 0.0 {
            // [-1, 1] -> [0, 1]
            let d = (f64::from(*c) - f64::from(*t)) / 2.0;
            abs += d.abs();
            sq += d * d;
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, f64::INFINITY);
    }
    let mse = sq / n as f64;
    let psnr = if mse > 0.0 {
        10.0 * (1.0 / mse).log10()
    } else {
        f64::INFINITY
    };
    (abs / n as f64, psnr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, dim: usize, shift: f32, seed: u32) -> Vec<f32> {
        // deterministic spread without an RNG: a low-discrepancy-ish sequence
        (0..n * dim)
            .map(|i| {
                let v = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                    / (1u32 << 24) as f32;
                v - 0.5 + shift
            })
            .collect()
    }

    #[test]
    fn frechet_distance_of_identical_sets_is_zero_and_of_shifted_sets_is_the_shift() {
        let a = points(500, 4, 0.0, 1);
        assert!(frechet_distance(&a, &a, 4) < 1e-9);
        // a pure shift by s in every coordinate: |mu1 - mu2|^2 = 4 s^2, covariances equal
        let b: Vec<f32> = a.iter().map(|v| v + 0.5).collect();
        let d = frechet_distance(&a, &b, 4);
        assert!((d - 1.0).abs() < 1e-6, "{d}");
    }

    #[test]
    fn frechet_distance_of_hand_computed_gaussians() {
        // 1-D: a = {-1, 1} (mean 0, var 2), b = {0, 4} (mean 2, var 8):
        // (0-2)^2 + 2 + 8 - 2*sqrt(16) = 4 + 10 - 8 = 6
        let d = frechet_distance(&[-1.0, 1.0], &[0.0, 4.0], 1);
        assert!((d - 6.0).abs() < 1e-9, "{d}");
    }

    #[test]
    fn prdc_of_a_set_with_itself_is_perfect_and_of_a_far_set_is_zero() {
        let a = points(200, 3, 0.0, 7);
        let p = prdc(&a, &a, 3, 5);
        assert_eq!(p.precision, 1.0);
        assert_eq!(p.recall, 1.0);
        assert_eq!(p.coverage, 1.0);
        assert!(p.density >= 1.0);
        let far: Vec<f32> = a.iter().map(|v| v + 100.0).collect();
        let p = prdc(&a, &far, 3, 5);
        assert_eq!(
            (p.precision, p.recall, p.density, p.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn prdc_on_hand_checked_points() {
        // real on a line at 0, 1, 2, 3; k = 1 radii (squared): 1, 1, 1, 1
        let real = [0.0, 1.0, 2.0, 3.0];
        // fake: 0.5 (inside balls of 0 and 1), 10 (outside everything)
        let fake = [0.5, 10.0];
        let p = prdc(&real, &fake, 1, 1);
        assert_eq!(p.precision, 0.5);
        assert_eq!(p.density, 1.0); // 2 balls / (k=1 * 2 fakes)
        assert_eq!(p.coverage, 0.5); // reals 0 and 1 covered
        // fake radii (k = 1): both 9.5^2; ball of 0.5 reaches reals 0..3 -> recall 1
        assert_eq!(p.recall, 1.0);
    }

    #[test]
    fn unknown_region_error_ignores_known_pixels() {
        let truth = [1.0, -1.0, 0.0, 0.0];
        let completed = [-1.0, -1.0, 0.5, 0.0];
        let mask = [1.0, 0.0, 0.0, 0.0];
        // unknown diffs in [0, 1] units: 0, 0.25, 0 -> L1 = 0.25 / 3
        let (l1, psnr) = unknown_region_error(&completed, &truth, &mask);
        assert!((l1 - 0.25 / 3.0).abs() < 1e-12);
        let mse: f64 = 0.0625 / 3.0;
        assert!((psnr - 10.0 * (1.0 / mse).log10()).abs() < 1e-9);
        assert_eq!(unknown_region_error(&truth, &truth, &mask).1, f64::INFINITY);
    }
}
