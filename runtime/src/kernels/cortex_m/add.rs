//! int8 Add and Mul with their requantisations prepared once per call.
//!
//! The reference kernels call `multiply_by_quantized_multiplier` three times per Add
//! element (once per operand, once for the output) and once per Mul element, each working
//! out its shifts, mask and threshold from the op's `shift` again (and, at
//! `opt-level = "z"`, as a call). Here each rescaling is a [`Rescale`] made once per call,
//! whose `apply` is the same arithmetic inlined into the element loop (the DSP conv kernel
//! requantises its outputs with it too).

use crate::kernels::add::{ADD_LEFT_SHIFT, AddI8Params};
use crate::kernels::broadcast::{Broadcast, Side, zip_broadcast};
use crate::kernels::mul::MulI8Params;
use crate::quant::rounding_doubling_high_mul;

/// `multiply_by_quantized_multiplier(·, multiplier, shift)` with its shift's left amount,
/// right amount, mask and rounding threshold worked out once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rescale {
    multiplier: i32,
    left: u32,
    right: u32,
    mask: i32,
    half: i32,
}

impl Rescale {
    #[inline(always)]
    pub(crate) fn new(multiplier: i32, shift: i32) -> Self {
        debug_assert!(multiplier >= 0, "a validated requantisation multiplier");
        let right = (-shift).clamp(0, 31) as u32;
        let mask = ((1i64 << right) - 1) as i32;
        Rescale {
            multiplier,
            left: shift.clamp(0, 31) as u32,
            right,
            mask,
            half: mask >> 1,
        }
    }

    /// Equal to `multiply_by_quantized_multiplier(x, multiplier, shift)` for a multiplier of
    /// at least 0, which is every multiplier a model that loaded has (`requant_ok`).
    #[inline(always)]
    pub(crate) fn apply(self, x: i32) -> i32 {
        // `x · 2^left`, wrapping (`left` ≤ 31), then gemmlowp's rounding high multiply
        // without its saturation (the multiplier is not negative), then its rounding divide
        // by 2^right
        let h = rounding_doubling_high_mul(x.wrapping_shl(self.left), self.multiplier);
        let threshold = self.half + i32::from(h < 0);
        (h >> self.right) + i32::from((h & self.mask) > threshold)
    }

    /// Equal to `requantize(x, multiplier, shift, zero_point, lo, hi)`.
    #[inline(always)]
    pub(crate) fn to_i8(self, x: i32, zero_point: i32, lo: i32, hi: i32) -> i8 {
        // (`max` then `min` is `clamp` for `lo ≤ hi`, which every op's bounds are: -128..127
        // or `activation_range_i8`'s; `clamp`, which checks it, stayed a call per output at
        // `opt-level = "z"`)
        self.apply(x).saturating_add(zero_point).max(lo).min(hi) as i8
    }
}

/// [`crate::kernels::add::add_i8`], equal to it.
pub fn add_i8_prepared(p: &AddI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    let (py, po) = match side {
        Side::First => (&p.a, &p.b),
        Side::Second => (&p.b, &p.a),
    };
    let (ry, ro) = (
        Rescale::new(py.multiplier, py.shift),
        Rescale::new(po.multiplier, po.shift),
    );
    let out = Rescale::new(p.output_multiplier, p.output_shift);
    let (zy, zo) = (py.zero_point, po.zero_point);
    let (zp, lo, hi) = (p.output_zero_point, p.act_min, p.act_max);
    // (inlined into each broadcast loop: a call per element otherwise)
    zip_broadcast(
        y,
        other,
        b,
        #[inline(always)]
        |v, o| {
            let sy = ry.apply((i32::from(*v) - zy).wrapping_shl(ADD_LEFT_SHIFT as u32));
            let so = ro.apply((i32::from(o) - zo).wrapping_shl(ADD_LEFT_SHIFT as u32));
            *v = out.to_i8(sy.wrapping_add(so), zp, lo, hi);
        },
    );
}

/// [`crate::kernels::mul::mul_i8`], equal to it.
pub fn mul_i8_prepared(p: &MulI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    let (zy, zo) = match side {
        Side::First => (p.a_zero_point, p.b_zero_point),
        Side::Second => (p.b_zero_point, p.a_zero_point),
    };
    let out = Rescale::new(p.output_multiplier, p.output_shift);
    let (zp, lo, hi) = (p.output_zero_point, p.act_min, p.act_max);
    // (inlined into each broadcast loop: a call per element otherwise)
    zip_broadcast(
        y,
        other,
        b,
        #[inline(always)]
        |v, o| {
            let raw = (i32::from(*v) - zy) * (i32::from(o) - zo);
            *v = out.to_i8(raw, zp, lo, hi);
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::add::{AddI8Operand, add_i8};
    use crate::kernels::mul::mul_i8;
    use crate::quant::multiply_by_quantized_multiplier;
    use proptest::prelude::*;

    fn broadcast(kind: u8, n: usize) -> (Broadcast, usize) {
        match kind % 3 {
            0 => (Broadcast::Full, n),
            1 => (Broadcast::Scalar, 1),
            _ => (Broadcast::Channel { inner: 4 }, n / 4),
        }
    }

    proptest! {
        #[test]
        fn rescale_is_multiply_by_quantized_multiplier(
            x in any::<i32>(), m in 0i32..=i32::MAX, shift in -31i32..=30,
        ) {
            prop_assert_eq!(Rescale::new(m, shift).apply(x), multiply_by_quantized_multiplier(x, m, shift));
        }

        #[test]
        fn add_equals_the_reference(
            y in proptest::collection::vec(any::<i8>(), 16),
            other in proptest::collection::vec(any::<i8>(), 16),
            zeros in proptest::array::uniform3(-128i32..128),
            mults in proptest::array::uniform3(1i32 << 30..=i32::MAX),
            shifts in proptest::array::uniform3(-31i32..=0),
            out_shift in -31i32..=10,
            clamp in (-128i32..0, 0i32..128),
            second in any::<bool>(), kind in any::<u8>(),
        ) {
            let p = AddI8Params {
                a: AddI8Operand { zero_point: zeros[0], multiplier: mults[0], shift: shifts[0] },
                b: AddI8Operand { zero_point: zeros[1], multiplier: mults[1], shift: shifts[1] },
                output_multiplier: mults[2],
                output_shift: out_shift,
                output_zero_point: zeros[2],
                act_min: clamp.0,
                act_max: clamp.1,
            };
            let side = if second { Side::Second } else { Side::First };
            let (b, n) = broadcast(kind, 16);
            let (mut want, mut got) = (y.clone(), y);
            add_i8(&p, side, &mut want, &other[..n], b);
            add_i8_prepared(&p, side, &mut got, &other[..n], b);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn mul_equals_the_reference(
            y in proptest::collection::vec(any::<i8>(), 16),
            other in proptest::collection::vec(any::<i8>(), 16),
            zeros in proptest::array::uniform3(-128i32..128),
            mult in 1i32 << 30..=i32::MAX,
            shift in -31i32..=10,
            second in any::<bool>(), kind in any::<u8>(),
        ) {
            let p = MulI8Params {
                a_zero_point: zeros[0],
                b_zero_point: zeros[1],
                output_multiplier: mult,
                output_shift: shift,
                output_zero_point: zeros[2],
                act_min: -128,
                act_max: 127,
            };
            let side = if second { Side::Second } else { Side::First };
            let (b, n) = broadcast(kind, 16);
            let (mut want, mut got) = (y.clone(), y);
            mul_i8(&p, side, &mut want, &other[..n], b);
            mul_i8_prepared(&p, side, &mut got, &other[..n], b);
            prop_assert_eq!(got, want);
        }
    }
}
