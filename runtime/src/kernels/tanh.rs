//! Tanh through `libm::tanhf` (the same bits on every target). In place; int8 tensors use a
//! table ([`super::lut`]).

/// f32 reference, in place.
pub fn tanh_f32(y: &mut [f32]) {
    for v in y {
        *v = libm::tanhf(*v);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn saturates_and_is_odd() {
        let mut y = [0.0, 20.0, -20.0, 0.5, -0.5];
        super::tanh_f32(&mut y);
        assert_eq!(y[..3], [0.0, 1.0, -1.0]);
        assert_eq!(y[3], -y[4]);
        assert!((y[3] - 0.462_117_16).abs() < 1e-6);
    }
}
