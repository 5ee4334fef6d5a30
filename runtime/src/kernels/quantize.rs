//! Quantize (f32 → int8) and Dequantize (int8 → f32) at the edges of a w8a8 graph: the
//! noise and condition inputs are quantised, the output is dequantised.

use crate::quant::{dequantize_i8, quantize_i8};

/// `y = clamp(round(x / scale) + zero_point)`, rounding half away from zero.
pub fn quantize_f32(scale: f32, zero_point: i32, x: &[f32], y: &mut [i8]) {
    for (dst, &v) in y.iter_mut().zip(x) {
        *dst = quantize_i8(v, scale, zero_point);
    }
}

/// `y = (x − zero_point) · scale`.
pub fn dequantize_i8_to_f32(scale: f32, zero_point: i32, x: &[i8], y: &mut [f32]) {
    for (dst, &v) in y.iter_mut().zip(x) {
        *dst = dequantize_i8(v, scale, zero_point);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_is_within_half_a_step() {
        let x = [-1.0f32, -0.3, 0.0, 0.26, 0.99];
        let mut q = [0i8; 5];
        let mut back = [0.0f32; 5];
        super::quantize_f32(2.0 / 255.0, 0, &x, &mut q);
        super::dequantize_i8_to_f32(2.0 / 255.0, 0, &q, &mut back);
        for (a, b) in x.iter().zip(back) {
            assert!((a - b).abs() <= 1.0 / 255.0 + 1e-7, "{a} {b}");
        }
    }
}
