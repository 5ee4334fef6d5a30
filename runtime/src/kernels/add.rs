//! Add (ONNX `Add`), elementwise with [`Broadcast`] of the second operand, in place.
//!
//! The int8 path is TFLite's `AddElementwise`: both inputs are offset, shifted left by
//! [`ADD_LEFT_SHIFT`], rescaled to a common scale `2·max(s_a, s_b)`, summed and
//! requantised to the output scale.

use super::broadcast::{Broadcast, Side, zip_broadcast};
use super::requantize;
use crate::quant::multiply_by_quantized_multiplier;

/// TFLite's `left_shift` for int8 Add/Sub.
pub const ADD_LEFT_SHIFT: i32 = 20;

/// One int8 operand of Add or Sub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AddI8Operand {
    /// The operand's zero point.
    pub zero_point: i32,
    /// Q31 multiplier of `s / (2·max(s_a, s_b))`.
    pub multiplier: i32,
    /// Its shift (≤ 0).
    pub shift: i32,
}

/// Parameters of int8 Add and Sub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AddI8Params {
    /// First operand.
    pub a: AddI8Operand,
    /// Second operand.
    pub b: AddI8Operand,
    /// Q31 multiplier of `2·max(s_a, s_b) / (2^20 · s_out)`.
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// An operand rescaled to the common scale, as an int32 with [`ADD_LEFT_SHIFT`] extra bits.
#[inline(always)]
pub(crate) fn scaled_operand(q: i8, op: &AddI8Operand) -> i32 {
    let shifted = (i32::from(q) - op.zero_point).wrapping_mul(1 << ADD_LEFT_SHIFT);
    multiply_by_quantized_multiplier(shifted, op.multiplier, op.shift)
}

/// f32 reference: `y = y + other`.
pub fn add_f32(y: &mut [f32], other: &[f32], b: Broadcast) {
    zip_broadcast(y, other, b, |v, o| *v += o);
}

/// int8 reference: `y = a + b`, where `y` holds the operand on `side`.
pub fn add_i8(p: &AddI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    let (py, po) = match side {
        Side::First => (&p.a, &p.b),
        Side::Second => (&p.b, &p.a),
    };
    zip_broadcast(y, other, b, |v, o| {
        let raw = scaled_operand(*v, py).wrapping_add(scaled_operand(o, po));
        *v = requantize(
            raw,
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            p.act_min,
            p.act_max,
        );
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::test_util::i8_vec;
    use proptest::prelude::*;

    /// Parameters as TFLite's `PrepareGeneralSubOp`/`CalculateOpDataAdd` derive them.
    pub fn params(sa: f32, za: i32, sb: f32, zb: i32, so: f32, zo: i32) -> AddI8Params {
        let twice_max = 2.0 * f64::from(sa.max(sb));
        let qm = |r: f64| {
            let (m, s) = quant_multiplier(r);
            (m, s)
        };
        let (ma, sha) = qm(f64::from(sa) / twice_max);
        let (mb, shb) = qm(f64::from(sb) / twice_max);
        let (mo, sho) = qm(twice_max / (f64::from(1 << ADD_LEFT_SHIFT) * f64::from(so)));
        AddI8Params {
            a: AddI8Operand {
                zero_point: za,
                multiplier: ma,
                shift: sha,
            },
            b: AddI8Operand {
                zero_point: zb,
                multiplier: mb,
                shift: shb,
            },
            output_multiplier: mo,
            output_shift: sho,
            output_zero_point: zo,
            act_min: -128,
            act_max: 127,
        }
    }

    /// frexp-based Q31 multiplier (TFLite `QuantizeMultiplier`), test-only copy so the
    /// kernel tests do not need the `std` feature.
    pub fn quant_multiplier(r: f64) -> (i32, i32) {
        if r == 0.0 {
            return (0, 0);
        }
        let (q, mut shift) = libm::frexp(r);
        let mut q_fixed = (q * f64::from(1u32 << 31)).round() as i64;
        if q_fixed == 1 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        (q_fixed as i32, shift)
    }

    #[test]
    fn same_scales_add_like_integers() {
        let p = params(0.5, 0, 0.5, 0, 0.5, 0);
        let mut y = [1i8, -3, 100, 127];
        add_i8(&p, Side::First, &mut y, &[2, 2, 100, 1], Broadcast::Full);
        assert_eq!(y, [3, -1, 127, 127]);
    }

    #[test]
    fn scalar_operand_broadcasts() {
        let mut y = [1.0f32, 2.0, 3.0];
        add_f32(&mut y, &[0.5], Broadcast::Scalar);
        assert_eq!(y, [1.5, 2.5, 3.5]);
    }

    proptest! {
        #[test]
        fn int8_add_is_within_one_step_of_real_sum(
            a in i8_vec(16), b in i8_vec(16),
            sa in 0.001f32..0.1, sb in 0.001f32..0.1, za in -128i32..128, zb in -128i32..128, zo in -50i32..50,
            swap in any::<bool>(),
        ) {
            let so = (sa + sb) * 1.5;
            let p = params(sa, za, sb, zb, so, zo);
            let (mut y, other, side) = if swap { (b.clone(), a.clone(), Side::Second) } else { (a.clone(), b.clone(), Side::First) };
            add_i8(&p, side, &mut y, &other, Broadcast::Full);
            for i in 0..16 {
                let real = (i32::from(a[i]) - za) as f32 * sa + (i32::from(b[i]) - zb) as f32 * sb;
                let want = ((real / so).round() as i32 + zo).clamp(-128, 127);
                prop_assert!((i32::from(y[i]) - want).abs() <= 1, "i={} got {} want {}", i, y[i], want);
            }
        }
    }
}
