//! Relu: `y = max(0, x)` (NaN stays NaN). In place; int8 tensors use [`super::lut`].

/// f32 reference, in place.
pub fn relu_f32(y: &mut [f32]) {
    for v in y {
        *v = super::relu_f32(*v);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clamps_negatives_keeps_positives_and_nan() {
        let mut y = [-1.0, 0.0, 2.5, f32::NAN, f32::NEG_INFINITY];
        super::relu_f32(&mut y);
        assert_eq!(y[..3], [0.0, 0.0, 2.5]);
        assert!(y[3].is_nan());
        assert_eq!(y[4], 0.0);
    }
}
