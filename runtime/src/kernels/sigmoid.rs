//! Sigmoid `1 / (1 + e^−x)` through `libm::expf`. In place; int8 tensors use a table
//! ([`super::lut`]).

/// f32 reference, in place.
pub fn sigmoid_f32(y: &mut [f32]) {
    for v in y {
        *v = 1.0 / (1.0 + libm::expf(-*v));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_one_half_at_zero_and_saturates() {
        let mut y = [0.0, 100.0, -100.0, 2.0];
        super::sigmoid_f32(&mut y);
        assert_eq!(y[..3], [0.5, 1.0, 0.0]);
        assert!((y[3] - 0.880_797).abs() < 1e-6);
    }
}
