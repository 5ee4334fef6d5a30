//! Integer requantisation, bit-exact with TFLite Micro (gemmlowp rounding).
//!
//! A real multiplier `M > 0` is stored as a Q31 `multiplier` in `[2^30, 2^31)` and a power
//! of two `shift` with `M ≈ multiplier · 2^(shift − 31)`. Applying it rounds twice, exactly
//! as `tflite::MultiplyByQuantizedMultiplier` does: `SaturatingRoundingDoublingHighMul`,
//! then `RoundingDivideByPOT`.

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a · b / 2^31` rounded to nearest with
/// ties towards +∞, saturating the single overflow case `a = b = i32::MIN`. Always inlined:
/// it is a few instructions, and the int8 kernels' prepared requantisations call it per
/// output (at `opt-level = "z"` it stayed a call).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    rounding_doubling_high_mul(a, b)
}

/// [`saturating_rounding_doubling_high_mul`] without the saturation: equal to it whenever
/// `b ≥ 0` (the overflow needs `b = i32::MIN`), which every multiplier of a model that
/// loaded is. The prepared requantisation of the device kernels uses it per output, where
/// the saturation branch was 5 instructions at `opt-level = "z"`.
#[inline(always)]
pub fn rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    // gemmlowp adds a nudge of 2^30 (1 − 2^30 for a negative product) and divides by 2^31
    // truncating towards zero. Both are `floor((ab + 2^30) / 2^31)`: for `ab < 0` the
    // truncation adds `2^31 − 1` to the negative sum first, which with `1 − 2^30` is 2^30.
    // So one add and an arithmetic shift (on a Cortex-M4: `SMULL`, `ADDS`/`ADC`, two
    // shifts), exactly (held to the exact rounding by the proptest below).
    let ab = i64::from(a) * i64::from(b);
    ((ab + (1 << 30)) >> 31) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from
/// zero. `exponent` is clamped to `0..=31`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `tflite::MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift)`.
///
/// A positive `shift` multiplies `x` by `2^shift` first (wrapping like the C++ on
/// overflow, which valid models never reach); a negative one divides with rounding after.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31);
    let right = (-shift).clamp(0, 31);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left), multiplier),
        right,
    )
}

/// Affine quantisation of one value, as TFLite's reference `AffineQuantize`:
/// `clamp(round(x / scale) + zero_point, -128, 127)`, rounding half away from zero; NaN
/// maps to `zero_point`.
#[inline]
pub fn quantize_i8(x: f32, scale: f32, zero_point: i32) -> i8 {
    // `as i32` saturates and maps NaN to 0, so no input can overflow below.
    let q = (libm::roundf(x / scale) as i32).saturating_add(zero_point);
    q.clamp(-128, 127) as i8
}

/// `(q − zero_point) · scale`.
#[inline]
pub fn dequantize_i8(q: i8, scale: f32, zero_point: i32) -> f32 {
    (i32::from(q) - zero_point) as f32 * scale
}

/// `tflite::QuantizeMultiplier`: the Q31 multiplier and shift for a real multiplier
/// (`0` gives `(0, 0)`; multipliers too small for a shift of −31 give `(0, 0)` too).
///
/// # Errors
///
/// Returns `None` for a negative, NaN or infinite multiplier, or one of `2^30` or more.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 || real >= (1u64 << 30) as f64 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut shift) = libm::frexp(real);
    let mut q_fixed = libm::round(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Some((0, 0));
    }
    Some((q_fixed as i32, shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definitions with i128 and exact rationals, to check the fast forms against.
    fn srdhm_spec(a: i32, b: i32) -> i32 {
        if a == i32::MIN && b == i32::MIN {
            return i32::MAX;
        }
        let ab = i128::from(a) * i128::from(b);
        // floor(ab / 2^31 + 1/2): nearest, ties towards +inf
        (ab + (1i128 << 30)).div_euclid(1i128 << 31) as i32
    }

    fn rdbpot_spec(x: i32, e: i32) -> i32 {
        let d = 1i64 << e;
        let x = i64::from(x);
        let q = (x.abs() + d / 2) / d;
        let q = if x < 0 {
            // ties away from zero: for negatives, -((|x| + d/2) / d) rounds -2.5 to -3.
            -q
        } else {
            q
        };
        q as i32
    }

    #[test]
    fn srdhm_saturates_the_only_overflow() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
            -i32::MAX
        );
    }

    #[test]
    fn srdhm_rounds_at_the_half_way_products_exactly() {
        // products at and next to ±2^30 (one half), ±3·2^30 (one and a half) and 0
        for a in [1 << 15, 3 << 15, (1 << 15) + 1, 1, 0, i32::MAX, i32::MIN] {
            for b in [
                1i32 << 15,
                (1 << 15) - 1,
                (1 << 15) + 1,
                1 << 30,
                -(1 << 30),
                1,
                -1,
            ] {
                for (a, b) in [(a, b), (a.wrapping_neg(), b), (a, b.wrapping_neg())] {
                    assert_eq!(
                        saturating_rounding_doubling_high_mul(a, b),
                        srdhm_spec(a, b),
                        "{a} * {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_divide_rounds_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 -> 2
        assert_eq!(rounding_divide_by_pot(-7, 2), -2); // -1.75 -> -2
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(17, 0), 17);
    }

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        assert_eq!(quantize_i8(0.5, 1.0, 0), 1);
        assert_eq!(quantize_i8(-0.5, 1.0, 0), -1);
        assert_eq!(quantize_i8(1e9, 1.0, 0), 127);
        assert_eq!(quantize_i8(-1e9, 1.0, 10), -128);
        assert_eq!(quantize_i8(f32::NAN, 0.1, 3), 3);
        assert_eq!(quantize_i8(f32::INFINITY, 0.1, 3), 127);
        assert_eq!(dequantize_i8(-128, 0.5, -128), 0.0);
    }

    #[test]
    fn quantize_multiplier_matches_tflite_examples() {
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 0)));
        assert_eq!(quantize_multiplier(0.25), Some((1 << 30, -1)));
        assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 1)));
        // A value just below 1 whose Q31 rounds up to 2^31 is renormalised.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(1e-20), Some((0, 0)));
        let (m, s) = quantize_multiplier(0.0037).unwrap();
        let back = f64::from(m) * 2f64.powi(s - 31);
        assert!((back - 0.0037).abs() < 1e-11);
    }

    proptest::proptest! {
        #[test]
        fn srdhm_matches_exact_rounding(a in proptest::num::i32::ANY, b in proptest::num::i32::ANY) {
            proptest::prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_spec(a, b));
        }

        #[test]
        fn rdbpot_matches_exact_rounding(x in proptest::num::i32::ANY, e in 0i32..31) {
            proptest::prop_assert_eq!(rounding_divide_by_pot(x, e), rdbpot_spec(x, e));
        }
    }
}
