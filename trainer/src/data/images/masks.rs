//! Inpainting masks: the regions an inpainting model learns to fill, drawn from the run's
//! RNG, and the masked object the generator sees.

use rand::Rng;
use rand_pcg::Pcg64;

pub use crate::config::MaskKind;

/// One mask `[h, w]` (1 = known pixel, 0 = to fill), drawn from `rng`.
pub fn random_mask(kind: MaskKind, h: usize, w: usize, rng: &mut Pcg64) -> Vec<f32> {
    let kind = match kind {
        MaskKind::Mixed => {
            if rng.random_bool(0.5) {
                MaskKind::Rect
            } else {
                MaskKind::Half
            }
        }
        k => k,
    };
    // the unknown rectangle [r0, r1) x [c0, c1)
    let (r0, r1, c0, c1) = match kind {
        MaskKind::Half => match rng.random_range(0..4) {
            0 => (0, h / 2, 0, w),
            1 => (h / 2, h, 0, w),
            2 => (0, h, 0, w / 2),
            _ => (0, h, w / 2, w),
        },
        _ => {
            let rh = rng.random_range((h / 4).max(1)..=(h / 2).max(1));
            let rw = rng.random_range((w / 4).max(1)..=(w / 2).max(1));
            let r0 = rng.random_range(0..=h - rh);
            let c0 = rng.random_range(0..=w - rw);
            (r0, r0 + rh, c0, c0 + rw)
        }
    };
    let mut m = vec![1.0; h * w];
    for r in r0..r1 {
        for c in c0..c1 {
            m[r * w + c] = 0.0;
        }
    }
    m
}

/// Masks for a batch, each repeated over `channels`: row-major `[n, channels, h, w]`.
pub fn random_masks(
    kind: MaskKind,
    n: usize,
    [channels, h, w]: [usize; 3],
    rng: &mut Pcg64,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * channels * h * w);
    for _ in 0..n {
        let m = random_mask(kind, h, w, rng);
        for _ in 0..channels {
            out.extend_from_slice(&m);
        }
    }
    out
}

/// `x * mask` elementwise (the masked object the generator sees).
pub fn apply_mask(x: &[f32], mask: &[f32]) -> Vec<f32> {
    x.iter().zip(mask).map(|(a, m)| a * m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn masks_hide_a_rectangle_or_a_half_and_are_seeded() {
        let mut rng = Pcg64::seed_from_u64(1);
        for _ in 0..200 {
            let m = random_mask(MaskKind::Rect, 28, 28, &mut rng);
            let hidden = m.iter().filter(|&&v| v == 0.0).count();
            assert!((7 * 7..=14 * 14).contains(&hidden), "{hidden}");
            let m = random_mask(MaskKind::Half, 28, 28, &mut rng);
            assert_eq!(m.iter().filter(|&&v| v == 0.0).count(), 28 * 14);
        }
        let a = random_masks(MaskKind::Mixed, 3, [2, 8, 8], &mut Pcg64::seed_from_u64(9));
        let b = random_masks(MaskKind::Mixed, 3, [2, 8, 8], &mut Pcg64::seed_from_u64(9));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3 * 2 * 64);
        // both channels of an image share the mask
        assert_eq!(a[..64], a[64..128]);
    }
}
