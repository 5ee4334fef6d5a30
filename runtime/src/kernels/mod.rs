//! The op kernels: one file per op, plain loops that are the spec.
//!
//! Each op has a `<Op>Params` struct (built from a validated model record, or by hand in
//! tests) and `eval`-style functions that neither check nor allocate: slice lengths and
//! parameters are the caller's contract, enforced for models by
//! [`DeviceModel::from_bytes`](crate::DeviceModel::from_bytes). A broken contract gives a
//! wrong result (or a `debug_assert!` failure in debug builds), never undefined behaviour:
//! the kernels are safe Rust and iterate with `zip`/`chunks` rather than raw indices where
//! they can.
//!
//! Faster variants with the same signatures live in [`cortex_m`]; each is tested against
//! the reference here with the op's test macro; [`host`] (x86-64 and aarch64 only) has the
//! int8 Dense and Conv2d that hosts run, with SIMD.
//!
//! Unary ops on int8 tensors (relu, leaky relu, tanh, sigmoid) all run through one
//! 256-entry table ([`lut`]) computed when the model is written.

pub mod add;
pub mod broadcast;
pub mod concat;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod cortex_m;
pub mod dense;
pub mod gather;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod host;
pub mod leaky_relu;
pub mod lut;
pub mod mul;
pub mod quantize;
pub mod relu;
pub mod sigmoid;
pub mod sub;
pub mod tanh;
pub mod upsample;

/// Fused activation of Dense and Conv2d.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FusedActivation {
    /// No activation.
    #[default]
    None,
    /// `max(0, y)`, applied before storing.
    Relu,
}

/// `max(0, v)`, keeping NaN (and `-0.0`) as they are.
#[inline]
pub(crate) fn relu_f32(v: f32) -> f32 {
    if v < 0.0 { 0.0 } else { v }
}

/// Requantises an int32 accumulator to int8: `clamp(M(acc) + zero_point, min, max)`.
#[inline]
pub(crate) fn requantize(
    acc: i32,
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    min: i32,
    max: i32,
) -> i8 {
    crate::quant::multiply_by_quantized_multiplier(acc, multiplier, shift)
        .saturating_add(zero_point)
        .clamp(min, max) as i8
}

/// Output clamp bounds `(min, max)` of an int8 op with the given output zero point.
#[inline]
pub(crate) fn activation_range_i8(act: FusedActivation, output_zero_point: i32) -> (i32, i32) {
    match act {
        FusedActivation::None => (-128, 127),
        FusedActivation::Relu => (output_zero_point.clamp(-128, 127), 127),
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use proptest::prelude::*;

    /// `n` finite f32 values in `[-2, 2]`.
    pub fn f32_vec(n: usize) -> impl Strategy<Value = Vec<f32>> {
        proptest::collection::vec(-2.0f32..2.0, n)
    }

    /// `n` int8 values, edges included.
    pub fn i8_vec(n: usize) -> impl Strategy<Value = Vec<i8>> {
        proptest::collection::vec(
            prop_oneof![Just(-128i8), Just(127i8), Just(0i8), any::<i8>()],
            n,
        )
    }

    /// Bitwise equality of f32 slices (NaN-safe).
    pub fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }
}
