//! Mul (ONNX `Mul`), elementwise with [`Broadcast`] of one operand, in place. The int8 path
//! is TFLite's `MulElementwise`: `zp_out + M((a − zp_a)·(b − zp_b))` with
//! `M = s_a·s_b / s_out`.

use super::broadcast::{Broadcast, Side, zip_broadcast};
use super::requantize;

/// Parameters of int8 Mul.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MulI8Params {
    /// Zero point of the first operand.
    pub a_zero_point: i32,
    /// Zero point of the second operand.
    pub b_zero_point: i32,
    /// Q31 multiplier of `s_a·s_b / s_out`.
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

/// f32 reference: `y = y · other`.
pub fn mul_f32(y: &mut [f32], other: &[f32], b: Broadcast) {
    zip_broadcast(y, other, b, |v, o| *v *= o);
}

/// int8 reference: `a · b`, where `y` holds the operand on `side`.
pub fn mul_i8(p: &MulI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    let (zy, zo) = match side {
        Side::First => (p.a_zero_point, p.b_zero_point),
        Side::Second => (p.b_zero_point, p.a_zero_point),
    };
    zip_broadcast(y, other, b, |v, o| {
        let raw = (i32::from(*v) - zy) * (i32::from(o) - zo);
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
mod tests {
    use super::*;
    use crate::kernels::add::tests::quant_multiplier;
    use crate::kernels::test_util::i8_vec;
    use proptest::prelude::*;

    #[test]
    fn mask_of_zeros_and_ones_selects_exactly() {
        // mask quantised with scale 1/255, zp −128: 0 -> −128, 1 -> 127.
        let (sm, zm, sx, zx) = (1.0f32 / 255.0, -128, 0.01f32, 3);
        let (m, s) = quant_multiplier(f64::from(sm) * f64::from(sx) / f64::from(sx));
        let p = MulI8Params {
            a_zero_point: zm,
            b_zero_point: zx,
            output_multiplier: m,
            output_shift: s,
            output_zero_point: zx,
            act_min: -128,
            act_max: 127,
        };
        let mut y = [-128i8, 127, -128, 127];
        mul_i8(
            &p,
            Side::First,
            &mut y,
            &[50, 50, -100, -100],
            Broadcast::Full,
        );
        assert_eq!(y, [3, 50, 3, -100]);
    }

    proptest! {
        #[test]
        fn int8_mul_is_within_one_step_of_real_product(
            a in i8_vec(16), b in i8_vec(16), za in -128i32..128, zb in -128i32..128, zo in -20i32..20,
        ) {
            let (sa, sb) = (0.02f32, 0.03f32);
            let so = 128.0 * 128.0 * sa * sb / 100.0;
            let (m, s) = quant_multiplier(f64::from(sa) * f64::from(sb) / f64::from(so));
            let p = MulI8Params { a_zero_point: za, b_zero_point: zb, output_multiplier: m, output_shift: s, output_zero_point: zo, act_min: -128, act_max: 127 };
            let mut y = a.clone();
            mul_i8(&p, Side::First, &mut y, &b, Broadcast::Full);
            for i in 0..16 {
                let real = (i32::from(a[i]) - za) as f32 * sa * (i32::from(b[i]) - zb) as f32 * sb;
                let want = ((real / so).round() as i32 + zo).clamp(-128, 127);
                prop_assert!((i32::from(y[i]) - want).abs() <= 1);
            }
        }
    }
}
