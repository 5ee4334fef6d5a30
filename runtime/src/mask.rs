//! Seeded inpainting masks: the one mask generator that host tools and firmware share.
//!
//! A firmware cannot hold a table of test masks (100 masks and masked pictures of 28×28
//! would be 600 KiB of flash next to the model), so host and device both draw a mask from
//! a `(kind, mask seed)` pair with this module and must get the same bits. It is
//! integer-only (PCG32 and index arithmetic) and `core`-only, so the masks are identical
//! on every target; the masked picture is `picture · mask`, one IEEE multiplication by
//! exactly 0 or 1.
//!
//! The geometry is the trainer's inpainting masks: a rectangle of a quarter to a half of
//! each side, or one half of the picture (top, bottom, left, right), is unknown. Only the
//! random draws differ (PCG32 on [`MASK_STREAM`] here).
//!
//! # Examples
//!
//! ```
//! use edgegan_runtime::mask;
//! let picture = [0.5f32; 2 * 4 * 4];
//! let (mut m, mut masked) = ([0.0f32; 32], [0.0f32; 32]);
//! mask::fill(mask::HALF, 7, 2, 4, 4, &picture, &mut m, &mut masked);
//! assert_eq!(m.iter().filter(|&&v| v == 0.0).count(), 16); // half of each channel
//! ```

use crate::noise::Pcg32;

/// The PCG32 stream for masks, so a mask seed never shares draws with the noise stream.
pub const MASK_STREAM: u64 = 0x6d61_736b_6765_6e00; // "maskgen\0"

/// A random rectangle is unknown.
pub const RECT: u32 = 0;
/// A random half is unknown.
pub const HALF: u32 = 1;
/// A rectangle or a half, each with probability 1/2.
pub const MIXED: u32 = 2;

/// A draw in `lo..=hi` (`lo <= hi`). The modulo bias (< 2^-25 for these ranges) does not
/// matter for test masks, and it keeps the code a few integer instructions.
fn range(rng: &mut Pcg32, lo: usize, hi: usize) -> usize {
    let span = (hi - lo + 1) as u32;
    lo + (rng.next_u32() % span) as usize
}

/// The unknown region `(r0, r1, c0, c1)` (rows `r0..r1`, columns `c0..c1`) of an
/// `h × w` mask of `kind` ([`RECT`], [`HALF`], anything else [`MIXED`]) for `mask_seed`.
pub fn unknown_region(
    kind: u32,
    mask_seed: u64,
    h: usize,
    w: usize,
) -> (usize, usize, usize, usize) {
    let mut rng = Pcg32::new(mask_seed, MASK_STREAM);
    let kind = match kind {
        RECT | HALF => kind,
        _ => {
            if rng.next_u32() & 1 == 0 {
                RECT
            } else {
                HALF
            }
        }
    };
    if kind == HALF {
        match rng.next_u32() % 4 {
            0 => (0, h / 2, 0, w),
            1 => (h / 2, h, 0, w),
            2 => (0, h, 0, w / 2),
            _ => (0, h, w / 2, w),
        }
    } else {
        let rh = range(&mut rng, (h / 4).max(1), (h / 2).max(1));
        let rw = range(&mut rng, (w / 4).max(1), (w / 2).max(1));
        let r0 = range(&mut rng, 0, h.saturating_sub(rh));
        let c0 = range(&mut rng, 0, w.saturating_sub(rw));
        (r0, r0 + rh, c0, c0 + rw)
    }
}

/// Fills `mask` (1 = known, 0 = unknown, the same on every channel) and
/// `masked = picture · mask` for a `[channels, h, w]` input. Slices shorter than
/// `channels · h · w` are filled as far as they go (the caller sizes them), so it never
/// panics.
#[allow(clippy::too_many_arguments)] // plain values and slices: callable from firmware and C
pub fn fill(
    kind: u32,
    mask_seed: u64,
    channels: usize,
    h: usize,
    w: usize,
    picture: &[f32],
    mask: &mut [f32],
    masked: &mut [f32],
) {
    let (r0, r1, c0, c1) = unknown_region(kind, mask_seed, h, w);
    let n = channels.saturating_mul(h).saturating_mul(w);
    for i in 0..n {
        let (r, c) = ((i / w) % h, i % w);
        let known = !(r0 <= r && r < r1 && c0 <= c && c < c1);
        let m = if known { 1.0 } else { 0.0 };
        if let Some(slot) = mask.get_mut(i) {
            *slot = m;
        }
        if let (Some(slot), Some(&p)) = (masked.get_mut(i), picture.get(i)) {
            *slot = p * m;
        }
    }
}
