//! Sub (ONNX `Sub`), elementwise with [`Broadcast`] of one operand, in place. The int8 path
//! is TFLite's `SubElementwise`: [`add`](super::add)'s rescaling with a difference.

use super::add::{AddI8Params, scaled_operand};
use super::broadcast::{Broadcast, Side, zip_broadcast};
use super::requantize;

/// f32 reference: `y = y − other` (`side` First) or `y = other − y` (`side` Second).
pub fn sub_f32(side: Side, y: &mut [f32], other: &[f32], b: Broadcast) {
    match side {
        Side::First => zip_broadcast(y, other, b, |v, o| *v -= o),
        Side::Second => zip_broadcast(y, other, b, |v, o| *v = o - *v),
    }
}

/// int8 reference: `a − b`, where `y` holds the operand on `side`.
pub fn sub_i8(p: &AddI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    zip_broadcast(y, other, b, |v, o| {
        let raw = match side {
            Side::First => scaled_operand(*v, &p.a).wrapping_sub(scaled_operand(o, &p.b)),
            Side::Second => scaled_operand(o, &p.a).wrapping_sub(scaled_operand(*v, &p.b)),
        };
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
    use crate::kernels::add::tests::params;

    #[test]
    fn one_minus_mask_with_scalar_first_operand() {
        // 1 − m, with the scalar 1 as the first operand and the mask in place.
        let mut m = [0.0f32, 1.0, 0.25];
        sub_f32(Side::Second, &mut m, &[1.0], Broadcast::Scalar);
        assert_eq!(m, [1.0, 0.0, 0.75]);
    }

    #[test]
    fn int8_sub_order_follows_side() {
        let p = params(0.5, 0, 0.5, 0, 0.5, 0);
        let mut y = [10i8];
        sub_i8(&p, Side::First, &mut y, &[3], Broadcast::Full);
        assert_eq!(y, [7]);
        let mut y = [10i8];
        sub_i8(&p, Side::Second, &mut y, &[3], Broadcast::Full);
        assert_eq!(y, [-7]);
    }
}
