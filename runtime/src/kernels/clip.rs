//! Clip: `min(max(y, lo), hi)` elementwise, in place (ReLU6 is `[0, 6]`, hard tanh
//! `[-1, 1]`). In int8 the bounds are quantised with the tensor's own scale and zero
//! point, so the clamp is exact.

/// Clamps every `y` to `[lo, hi]`; NaN stays NaN (as ONNX's Clip leaves it).
pub fn clip_f32(lo: f32, hi: f32, y: &mut [f32]) {
    for v in y {
        if *v < lo {
            *v = lo;
        } else if *v > hi {
            *v = hi;
        }
    }
}

/// Clamps every int8 `y` to `[lo, hi]`.
pub fn clip_i8(lo: i8, hi: i8, y: &mut [i8]) {
    for v in y {
        *v = (*v).clamp(lo, hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_util::{bits, f32_vec, i8_vec};
    use crate::quant::{dequantize_i8, quantize_i8};
    use proptest::prelude::*;

    #[test]
    fn relu6_and_hard_tanh() {
        let mut y = [-7.0, -1.0, 0.5, 6.0, 7.5, f32::NAN];
        clip_f32(0.0, 6.0, &mut y);
        assert_eq!(&y[..5], &[0.0, 0.0, 0.5, 6.0, 6.0]);
        assert!(y[5].is_nan());
        let mut y = [-2.0, 0.25, 2.0];
        clip_f32(-1.0, 1.0, &mut y);
        assert_eq!(y, [-1.0, 0.25, 1.0]);
    }

    /// The int8 clamp is the f32 clip in the quantised domain, for every int8 input:
    /// `clip_i8(x) == quantize(clip_f32(dequantize(x)))` with the bounds quantised the
    /// same way.
    #[test]
    fn int8_clamp_is_exact_for_every_input() {
        for (scale, zp) in [
            (6.0 / 255.0, -128),
            (2.0 / 255.0, 0),
            (0.05, 17),
            (0.3, -60),
        ] {
            for (lo, hi) in [(0.0f32, 6.0f32), (-1.0, 1.0), (-0.37, 0.52), (-1e9, 1e9)] {
                let (qlo, qhi) = (quantize_i8(lo, scale, zp), quantize_i8(hi, scale, zp));
                let mut y: Vec<i8> = (-128..=127).collect();
                clip_i8(qlo, qhi, &mut y);
                for (x, got) in (-128i32..=127).zip(y) {
                    let mut v = [dequantize_i8(x as i8, scale, zp)];
                    clip_f32(lo, hi, &mut v);
                    assert_eq!(got, quantize_i8(v[0], scale, zp), "x {x} [{lo}, {hi}]");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn f32_clip_is_max_then_min(mut y in f32_vec(64), lo in -1.0f32..0.0, hi in 0.0f32..1.0) {
            let want: Vec<f32> = y.iter().map(|v| v.max(lo).min(hi)).collect();
            clip_f32(lo, hi, &mut y);
            prop_assert_eq!(bits(&y), bits(&want));
        }

        #[test]
        fn i8_clip_stays_in_bounds(mut y in i8_vec(64), lo in -128i8..0, hi in 0i8..=127) {
            let x = y.clone();
            clip_i8(lo, hi, &mut y);
            for (a, b) in x.iter().zip(&y) {
                prop_assert_eq!(*b, (*a).max(lo).min(hi));
            }
        }
    }
}
