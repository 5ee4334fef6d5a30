//! Dense (fully connected, ONNX `Gemm`/`MatMul` + bias): `y = x·Wᵀ + b`.
//!
//! `W` is `[out_features, in_features]`, row-major (one row per output). Each output is
//! accumulated in input order, then the bias is added, then the fused activation.

use super::{FusedActivation, relu_f32, requantize};

/// Dense parameters shared by the f32 and w8a32 kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseParams {
    /// Inputs per sample (`K`, at least 1).
    pub in_features: usize,
    /// Outputs per sample (`N`).
    pub out_features: usize,
    /// Activation applied to each output.
    pub activation: FusedActivation,
}

/// Parameters of the int8 kernel (w8a8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseI8Params {
    /// Inputs per sample (`K`, at least 1).
    pub in_features: usize,
    /// Outputs per sample (`N`).
    pub out_features: usize,
    /// Zero point of the output tensor.
    pub output_zero_point: i32,
    /// Lower clamp (−128, or the output zero point for a fused relu).
    pub act_min: i32,
    /// Upper clamp (127).
    pub act_max: i32,
}

/// f32 reference: `x: [K]`, `w: [N·K]`, `bias: [N]`, `y: [N]`.
pub fn dense_f32(p: &DenseParams, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    debug_assert!(x.len() == p.in_features && w.len() == p.in_features * p.out_features);
    let relu = p.activation == FusedActivation::Relu;
    for (n, (row, out)) in w
        .chunks_exact(p.in_features.max(1))
        .zip(y.iter_mut())
        .enumerate()
    {
        let mut acc = 0.0f32;
        for (&a, &b) in x.iter().zip(row) {
            acc += a * b;
        }
        if let Some(&b) = bias.and_then(|b| b.get(n)) {
            acc += b;
        }
        *out = if relu { relu_f32(acc) } else { acc };
    }
}

/// w8a32 reference: int8 weights with one f32 scale per output row;
/// `y[n] = (Σ x[k]·w[n,k]) · scale[n] + bias[n]`.
pub fn dense_w8a32(
    p: &DenseParams,
    x: &[f32],
    w: &[i8],
    scale: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    debug_assert!(x.len() == p.in_features && w.len() == p.in_features * p.out_features);
    let relu = p.activation == FusedActivation::Relu;
    for (n, ((row, out), &s)) in w
        .chunks_exact(p.in_features.max(1))
        .zip(y.iter_mut())
        .zip(scale)
        .enumerate()
    {
        let mut acc = 0.0f32;
        for (&a, &b) in x.iter().zip(row) {
            acc += a * f32::from(b);
        }
        acc *= s;
        if let Some(&b) = bias.and_then(|b| b.get(n)) {
            acc += b;
        }
        *out = if relu { relu_f32(acc) } else { acc };
    }
}

/// int8 reference (w8a8): `y[n] = clamp(M_n(Σ x[k]·w[n,k] + bias[n]) + zp_out)`.
///
/// The input zero point is folded into `bias` when the model is written
/// (`bias[n] = b[n] − zp_in·Σ_k w[n,k]`), so the sum equals TFLite's
/// `Σ (x + input_offset)·w + b` exactly. `multiplier`/`shift` are per output row.
pub fn dense_i8(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    debug_assert!(x.len() == p.in_features && w.len() == p.in_features * p.out_features);
    let rows = w.chunks_exact(p.in_features.max(1)).zip(y.iter_mut());
    for (((row, out), &b), (&m, &s)) in rows.zip(bias).zip(multiplier.iter().zip(shift)) {
        let mut acc = 0i32;
        for (&a, &b) in x.iter().zip(row) {
            acc = acc.wrapping_add(i32::from(a) * i32::from(b));
        }
        *out = requantize(
            acc.wrapping_add(b),
            m,
            s,
            p.output_zero_point,
            p.act_min,
            p.act_max,
        );
    }
}

/// Variant-vs-reference tests for an f32 dense kernel with [`dense_f32`]'s signature.
#[cfg(test)]
macro_rules! dense_f32_tests {
    ($name:ident, $kernel:path) => {
        mod $name {
            use crate::kernels::FusedActivation;
            use crate::kernels::dense::{DenseParams, dense_f32};
            use crate::kernels::test_util::*;
            use proptest::prelude::*;

            fn problem()
            -> impl Strategy<Value = (usize, usize, Vec<f32>, Vec<f32>, Option<Vec<f32>>, bool)>
            {
                (1usize..40, 1usize..20, any::<bool>()).prop_flat_map(|(k, n, relu)| {
                    (
                        Just(k),
                        Just(n),
                        f32_vec(k),
                        f32_vec(k * n),
                        proptest::option::of(f32_vec(n)),
                        Just(relu),
                    )
                })
            }

            fn run(
                k: usize,
                n: usize,
                x: &[f32],
                w: &[f32],
                b: Option<&[f32]>,
                relu: bool,
            ) -> (Vec<u32>, Vec<u32>) {
                let p = DenseParams {
                    in_features: k,
                    out_features: n,
                    activation: if relu {
                        FusedActivation::Relu
                    } else {
                        FusedActivation::None
                    },
                };
                let mut want = vec![0.0; n];
                let mut got = vec![7.0; n];
                dense_f32(&p, x, w, b, &mut want);
                $kernel(&p, x, w, b, &mut got);
                (bits(&want), bits(&got))
            }

            #[test]
            fn trivial_identity_row() {
                let (want, got) = run(1, 1, &[3.0], &[2.0], Some(&[1.0]), false);
                assert_eq!(got, want);
                assert_eq!(f32::from_bits(got[0]), 7.0);
            }

            #[test]
            fn odd_sizes_match_reference() {
                for (k, n) in [(1, 7), (3, 5), (5, 1), (17, 9)] {
                    let x: Vec<f32> = (0..k).map(|i| i as f32 * 0.25 - 1.0).collect();
                    let w: Vec<f32> = (0..k * n)
                        .map(|i| ((i * 7) % 11) as f32 * 0.1 - 0.5)
                        .collect();
                    let b: Vec<f32> = (0..n).map(|i| i as f32).collect();
                    let (want, got) = run(k, n, &x, &w, Some(&b), true);
                    assert_eq!(got, want, "k={k} n={n}");
                }
            }

            proptest! {
                #[test]
                fn matches_reference_bitwise((k, n, x, w, b, relu) in problem()) {
                    let (want, got) = run(k, n, &x, &w, b.as_deref(), relu);
                    prop_assert_eq!(got, want);
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use dense_f32_tests;

/// Variant-vs-reference tests for an int8 dense kernel with [`dense_i8`]'s signature.
#[cfg(test)]
macro_rules! dense_i8_tests {
    ($name:ident, $kernel:path) => {
        mod $name {
            use crate::kernels::dense::{DenseI8Params, dense_i8};
            use crate::kernels::test_util::*;
            use proptest::prelude::*;

            #[derive(Debug, Clone)]
            struct Problem {
                p: DenseI8Params,
                x: Vec<i8>,
                w: Vec<i8>,
                bias: Vec<i32>,
                mult: Vec<i32>,
                shift: Vec<i32>,
            }

            fn problem() -> impl Strategy<Value = Problem> {
                (1usize..70, 1usize..13, -128i32..128, any::<bool>()).prop_flat_map(
                    |(k, n, zp, relu)| {
                        (
                            i8_vec(k),
                            i8_vec(k * n),
                            proptest::collection::vec(-100_000i32..100_000, n),
                            proptest::collection::vec((1i32 << 30)..i32::MAX, n),
                            proptest::collection::vec(-20i32..2, n),
                        )
                            .prop_map(move |(x, w, bias, mult, shift)| Problem {
                                p: DenseI8Params {
                                    in_features: k,
                                    out_features: n,
                                    output_zero_point: zp,
                                    act_min: if relu { zp } else { -128 },
                                    act_max: 127,
                                },
                                x,
                                w,
                                bias,
                                mult,
                                shift,
                            })
                    },
                )
            }

            fn check(pr: &Problem) -> Result<(), TestCaseError> {
                let mut want = vec![0i8; pr.p.out_features];
                let mut got = vec![99i8; pr.p.out_features];
                dense_i8(
                    &pr.p, &pr.x, &pr.w, &pr.bias, &pr.mult, &pr.shift, &mut want,
                );
                $kernel(&pr.p, &pr.x, &pr.w, &pr.bias, &pr.mult, &pr.shift, &mut got);
                prop_assert_eq!(got, want);
                Ok(())
            }

            fn fixed(k: usize, n: usize, x: i8, w: i8, bias: i32, zp: i32, shift: i32) -> Problem {
                Problem {
                    p: DenseI8Params {
                        in_features: k,
                        out_features: n,
                        output_zero_point: zp,
                        act_min: -128,
                        act_max: 127,
                    },
                    x: vec![x; k],
                    w: vec![w; k * n],
                    bias: vec![bias; n],
                    mult: vec![1 << 30; n],
                    shift: vec![shift; n],
                }
            }

            #[test]
            fn saturates_at_both_ends() {
                // 127·127·K is far past 127 after a multiplier of 0.5: clamps high.
                let hi = fixed(33, 3, 127, 127, 0, 0, 0);
                check(&hi).unwrap();
                let mut got = vec![0i8; 3];
                $kernel(&hi.p, &hi.x, &hi.w, &hi.bias, &hi.mult, &hi.shift, &mut got);
                assert_eq!(got, vec![127; 3]);
                let lo = fixed(33, 3, -128, 127, 0, 0, 0);
                $kernel(&lo.p, &lo.x, &lo.w, &lo.bias, &lo.mult, &lo.shift, &mut got);
                assert_eq!(got, vec![-128; 3]);
            }

            #[test]
            fn zero_input_gives_requantised_bias_plus_zero_point() {
                // bias 10 · 0.5 = 5, plus zp −3.
                let pr = fixed(5, 2, 0, 100, 10, -3, 0);
                let mut got = vec![0i8; 2];
                $kernel(&pr.p, &pr.x, &pr.w, &pr.bias, &pr.mult, &pr.shift, &mut got);
                assert_eq!(got, vec![2, 2]);
            }

            #[test]
            fn odd_sizes_match_reference() {
                for (k, n) in [(1, 1), (3, 5), (7, 3), (65, 2)] {
                    let mut pr = fixed(k, n, 0, 0, 3, 5, -7);
                    pr.x = (0..k).map(|i| (i as i32 * 37 % 256 - 128) as i8).collect();
                    pr.w = (0..k * n)
                        .map(|i| (i as i32 * 91 % 255 - 127) as i8)
                        .collect();
                    check(&pr).unwrap();
                }
            }

            proptest! {
                #[test]
                fn matches_reference_exactly(pr in problem()) {
                    check(&pr)?;
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use dense_i8_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_f32_computes_x_wt_plus_b() {
        let p = DenseParams {
            in_features: 2,
            out_features: 3,
            activation: FusedActivation::None,
        };
        let w = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5];
        let mut y = [0.0; 3];
        dense_f32(&p, &[1.0, -1.0], &w, Some(&[0.5, 0.0, 1.0]), &mut y);
        assert_eq!(y, [-0.5, -1.0, -0.5]);
    }

    #[test]
    fn fused_relu_clamps_negatives_and_keeps_nan() {
        let p = DenseParams {
            in_features: 1,
            out_features: 2,
            activation: FusedActivation::Relu,
        };
        let mut y = [0.0; 2];
        dense_f32(&p, &[1.0], &[-2.0, 3.0], None, &mut y);
        assert_eq!(y, [0.0, 3.0]);
        dense_f32(&p, &[f32::NAN], &[-2.0, 3.0], None, &mut y);
        assert!(y[0].is_nan() && y[1].is_nan());
    }

    #[test]
    fn dense_w8a32_scales_each_row() {
        let p = DenseParams {
            in_features: 2,
            out_features: 2,
            activation: FusedActivation::None,
        };
        let mut y = [0.0; 2];
        dense_w8a32(
            &p,
            &[1.0, 2.0],
            &[1, 1, -2, 127],
            &[0.5, 0.25],
            Some(&[1.0, 0.0]),
            &mut y,
        );
        assert_eq!(y, [2.5, 63.0]);
    }

    #[test]
    fn dense_i8_matches_tflite_formula_with_folded_zero_point() {
        // TFLite: acc = Σ (x − zp_in)·w + b, with zp_in = 3, b = 7.
        let (x, w, zp_in, b) = ([10i8, -5, 3], [2i8, -1, 4], 3, 7);
        let tflite: i32 = x
            .iter()
            .zip(&w)
            .map(|(&x, &w)| (i32::from(x) - zp_in) * i32::from(w))
            .sum::<i32>()
            + b;
        let folded = b - zp_in * w.iter().map(|&w| i32::from(w)).sum::<i32>();
        let p = DenseI8Params {
            in_features: 3,
            out_features: 1,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        let mut y = [0i8];
        // multiplier 0.5 at shift 1 = ×1.0: the requantised output is the accumulator.
        dense_i8(&p, &x, &w, &[folded], &[1 << 30], &[1], &mut y);
        assert_eq!(i32::from(y[0]), tflite);
    }

    dense_f32_tests!(reference_f32, crate::kernels::dense::dense_f32);
    dense_i8_tests!(reference_i8, crate::kernels::dense::dense_i8);
}
