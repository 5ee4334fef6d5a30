//! LeakyRelu: `y = x` for `x ≥ 0`, `alpha·x` otherwise (also what the compiler makes of
//! `relu(x) − a·relu(−x)`). In place; int8 tensors use [`super::lut`].

/// f32 reference, in place.
pub fn leaky_relu_f32(alpha: f32, y: &mut [f32]) {
    for v in y {
        if *v < 0.0 {
            *v *= alpha;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_only_negatives() {
        let mut y = [-2.0, 0.0, 3.0];
        super::leaky_relu_f32(0.25, &mut y);
        assert_eq!(y, [-0.5, 0.0, 3.0]);
    }
}
