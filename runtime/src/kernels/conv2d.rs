//! Conv2d (ONNX `Conv`, one group, no dilation), NCHW with batch 1: `x: [C, H, W]`,
//! `w: [M, C, KH, KW]`, `y: [M, OH, OW]`.
//!
//! `y[m, oy, ox] = Σ_{c, ky, kx} x[c, oy·sh + ky − pt, ox·sw + kx − pl] · w[m, c, ky, kx] + b[m]`,
//! summed in `(c, ky, kx)` order; taps outside the image contribute nothing (zero padding,
//! or the input zero point on the int8 path, which is the same thing).

use super::{FusedActivation, relu_f32, requantize};

/// Conv2d geometry, shared by the f32, w8a32 and int8 kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Conv2dParams {
    /// Input channels `C`.
    pub in_channels: usize,
    /// Input height `H`.
    pub in_h: usize,
    /// Input width `W`.
    pub in_w: usize,
    /// Output channels `M`.
    pub out_channels: usize,
    /// Output height `OH = (H + pt + pb − KH) / sh + 1`.
    pub out_h: usize,
    /// Output width `OW = (W + pl + pr − KW) / sw + 1`.
    pub out_w: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Zero rows above the image.
    pub pad_top: usize,
    /// Zero columns left of the image.
    pub pad_left: usize,
    /// Activation applied to each output.
    pub activation: FusedActivation,
}

impl Conv2dParams {
    /// The geometry of a `[C, H, W]` → `[M, OH, OW]` op with a `[KH, KW]` kernel, strides
    /// `[sh, sw]` and `[top, left]` padding, without activation (Conv2d and
    /// ConvTranspose2d; the caller has checked the sizes against each other).
    pub const fn new(
        [in_channels, in_h, in_w]: [usize; 3],
        [out_channels, out_h, out_w]: [usize; 3],
        [kernel_h, kernel_w]: [usize; 2],
        [stride_h, stride_w]: [usize; 2],
        [pad_top, pad_left]: [usize; 2],
    ) -> Self {
        Conv2dParams {
            in_channels,
            in_h,
            in_w,
            out_channels,
            out_h,
            out_w,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            activation: FusedActivation::None,
        }
    }
}

/// What is known of a convolution's input beyond its shape, which a kernel may exploit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Conv2dInput {
    /// Any `[C, H, W]` input.
    #[default]
    Any,
    /// A nearest-neighbour ×2 upsampling (each 2×2 block of the input one value). The host
    /// kernel runs a 3×3, stride-1, padding-1 convolution of such an input as four 2×2
    /// convolutions of the low-resolution values: 4/9 of the multiply-accumulates, the same
    /// integers.
    Upsampled2x,
}

/// Zero points and clamps of the int8 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Conv2dI8Quant {
    /// Zero point of the input tensor.
    pub input_zero_point: i32,
    /// Zero point of the output tensor.
    pub output_zero_point: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// Calls `tap(input_index, weight_index)` for every in-image tap of output `(m, oy, ox)`,
/// in `(c, ky, kx)` order.
#[inline(always)]
fn for_each_tap(
    p: &Conv2dParams,
    m: usize,
    oy: usize,
    ox: usize,
    mut tap: impl FnMut(usize, usize),
) {
    let taps = p.kernel_h * p.kernel_w;
    for c in 0..p.in_channels {
        for ky in 0..p.kernel_h {
            // iy = oy·sh + ky − pt, skipped when outside [0, H)
            let Some(iy) = (oy * p.stride_h + ky).checked_sub(p.pad_top) else {
                continue;
            };
            if iy >= p.in_h {
                continue;
            }
            for kx in 0..p.kernel_w {
                let Some(ix) = (ox * p.stride_w + kx).checked_sub(p.pad_left) else {
                    continue;
                };
                if ix >= p.in_w {
                    continue;
                }
                tap(
                    (c * p.in_h + iy) * p.in_w + ix,
                    ((m * p.in_channels + c) * taps) + ky * p.kernel_w + kx,
                );
            }
        }
    }
}

/// The taps of one output `(m, oy, ox)` of a convolution-like op: which input element
/// meets which weight, in `(c, ky, kx)` order. Conv2d and ConvTranspose2d differ only
/// here, so their three reference kernels are one generic body each.
pub(crate) trait Taps {
    /// Calls `tap(input_index, weight_index)` for every tap that lands in the image.
    fn each(p: &Conv2dParams, m: usize, oy: usize, ox: usize, tap: impl FnMut(usize, usize));
}

/// A forward convolution's taps.
pub(crate) struct Forward;

impl Taps for Forward {
    #[inline(always)]
    fn each(p: &Conv2dParams, m: usize, oy: usize, ox: usize, tap: impl FnMut(usize, usize)) {
        for_each_tap(p, m, oy, ox, tap);
    }
}

/// f32 reference.
pub fn conv2d_f32(p: &Conv2dParams, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    f32_with::<Forward>(p, x, w, bias, y);
}

/// w8a32 reference: int8 weights with one f32 scale per output channel,
/// `y = (Σ x·w) · scale[m] + b[m]`.
pub fn conv2d_w8a32(
    p: &Conv2dParams,
    x: &[f32],
    w: &[i8],
    scale: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    w8a32_with::<Forward>(p, x, w, scale, bias, y);
}

/// int8 reference (w8a8), TFLite's per-channel `ConvPerChannel`:
/// `acc = Σ (x − zp_in)·w + bias[m]`, then `clamp(M_m(acc) + zp_out)`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_i8(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    i8_with::<Forward>(p, q, x, w, bias, multiplier, shift, y);
}

/// f32 reference over the taps of `T`.
pub(crate) fn f32_with<T: Taps>(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let relu = p.activation == FusedActivation::Relu;
    for (m, plane) in y
        .chunks_exact_mut((p.out_h * p.out_w).max(1))
        .take(p.out_channels)
        .enumerate()
    {
        let b = bias.and_then(|b| b.get(m).copied());
        for (o, out) in plane.iter_mut().enumerate() {
            let (oy, ox) = (o / p.out_w, o % p.out_w);
            let mut acc = 0.0f32;
            T::each(p, m, oy, ox, |xi, wi| acc += x[xi] * w[wi]);
            if let Some(b) = b {
                acc += b;
            }
            *out = if relu { relu_f32(acc) } else { acc };
        }
    }
}

/// w8a32 reference over the taps of `T`.
pub(crate) fn w8a32_with<T: Taps>(
    p: &Conv2dParams,
    x: &[f32],
    w: &[i8],
    scale: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let relu = p.activation == FusedActivation::Relu;
    let planes = y
        .chunks_exact_mut((p.out_h * p.out_w).max(1))
        .take(p.out_channels);
    for (m, (plane, &s)) in planes.zip(scale).enumerate() {
        let b = bias.and_then(|b| b.get(m).copied());
        for (o, out) in plane.iter_mut().enumerate() {
            let (oy, ox) = (o / p.out_w, o % p.out_w);
            let mut acc = 0.0f32;
            T::each(p, m, oy, ox, |xi, wi| acc += x[xi] * f32::from(w[wi]));
            acc *= s;
            if let Some(b) = b {
                acc += b;
            }
            *out = if relu { relu_f32(acc) } else { acc };
        }
    }
}

/// int8 reference over the taps of `T`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn i8_with<T: Taps>(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let planes = y
        .chunks_exact_mut((p.out_h * p.out_w).max(1))
        .take(p.out_channels);
    let per_channel = bias.iter().zip(multiplier).zip(shift);
    for (m, (plane, ((&b, &mul), &sh))) in planes.zip(per_channel).enumerate() {
        for (o, out) in plane.iter_mut().enumerate() {
            let (oy, ox) = (o / p.out_w, o % p.out_w);
            let mut acc = 0i32;
            T::each(p, m, oy, ox, |xi, wi| {
                acc = acc.wrapping_add((i32::from(x[xi]) - q.input_zero_point) * i32::from(w[wi]));
            });
            *out = requantize(
                acc.wrapping_add(b),
                mul,
                sh,
                q.output_zero_point,
                q.act_min,
                q.act_max,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_util::*;
    use proptest::prelude::*;

    fn geometry(
        c: usize,
        h: usize,
        w: usize,
        m: usize,
        k: usize,
        s: usize,
        pad: usize,
    ) -> Conv2dParams {
        Conv2dParams {
            in_channels: c,
            in_h: h,
            in_w: w,
            out_channels: m,
            out_h: (h + 2 * pad - k) / s + 1,
            out_w: (w + 2 * pad - k) / s + 1,
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_top: pad,
            pad_left: pad,
            activation: FusedActivation::None,
        }
    }

    /// Direct definition with signed coordinates and explicit padding, the spec.
    fn naive_f32(p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0; p.out_channels * p.out_h * p.out_w];
        for m in 0..p.out_channels {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let mut acc = 0.0f32;
                    for c in 0..p.in_channels {
                        for ky in 0..p.kernel_h {
                            for kx in 0..p.kernel_w {
                                let iy = (oy * p.stride_h + ky) as isize - p.pad_top as isize;
                                let ix = (ox * p.stride_w + kx) as isize - p.pad_left as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= p.in_h as isize
                                    || ix >= p.in_w as isize
                                {
                                    continue;
                                }
                                let xv = x[(c * p.in_h + iy as usize) * p.in_w + ix as usize];
                                acc += xv
                                    * w[((m * p.in_channels + c) * p.kernel_h + ky) * p.kernel_w
                                        + kx];
                            }
                        }
                    }
                    y[(m * p.out_h + oy) * p.out_w + ox] = acc + b[m];
                }
            }
        }
        y
    }

    #[test]
    fn three_by_three_same_padding_matches_hand_computation() {
        let p = geometry(1, 3, 3, 1, 3, 1, 1);
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let w = [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0]; // plus-shaped kernel
        let mut y = vec![0.0; 9];
        conv2d_f32(&p, &x, &w, Some(&[0.5]), &mut y);
        // centre: 5 + 2 + 4 + 6 + 8 = 25; corner (0,0): 1 + 2 + 4 = 7
        assert_eq!(y[4], 25.5);
        assert_eq!(y[0], 7.5);
        assert_eq!(y[8], 9.0 + 6.0 + 8.0 + 0.5);
    }

    #[test]
    fn stride_two_with_asymmetric_tail_matches_naive() {
        let mut p = geometry(2, 5, 4, 3, 3, 2, 1);
        p.out_h = 3;
        p.out_w = 2;
        let x: Vec<f32> = (0..40).map(|v| (v % 7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..54).map(|v| (v % 5) as f32 * 0.5 - 1.0).collect();
        let b = [0.0, 1.0, -1.0];
        let mut y = vec![0.0; 18];
        conv2d_f32(&p, &x, &w, Some(&b), &mut y);
        assert_eq!(bits(&y), bits(&naive_f32(&p, &x, &w, &b)));
    }

    #[test]
    fn int8_padding_contributes_zero_like_the_input_zero_point() {
        // An image of zero points is "all zeros": with padding, the output is bias only.
        let p = geometry(1, 2, 2, 1, 3, 1, 1);
        let q = Conv2dI8Quant {
            input_zero_point: -7,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        let mut y = [0i8; 4];
        conv2d_i8(&p, &q, &[-7; 4], &[5; 9], &[9], &[1 << 30], &[1], &mut y);
        assert_eq!(y, [9; 4]);
    }

    proptest! {
        #[test]
        fn f32_matches_naive_definition(
            (c, h, w, m, k, s, pad) in (1usize..4, 1usize..7, 1usize..7, 1usize..4, 1usize..4, 1usize..3, 0usize..2)
                .prop_filter("kernel fits", |&(_, h, w, _, k, _, pad)| h + 2 * pad >= k && w + 2 * pad >= k),
            seed in any::<u64>(),
        ) {
            let p = geometry(c, h, w, m, k, s, pad);
            let mut rng = crate::noise::Gaussian::new(seed);
            let mut x = vec![0.0; c * h * w];
            let mut wt = vec![0.0; m * c * k * k];
            let mut b = vec![0.0; m];
            rng.fill(&mut x);
            rng.fill(&mut wt);
            rng.fill(&mut b);
            let mut y = vec![0.0; m * p.out_h * p.out_w];
            conv2d_f32(&p, &x, &wt, Some(&b), &mut y);
            prop_assert_eq!(bits(&y), bits(&naive_f32(&p, &x, &wt, &b)));
        }

        #[test]
        fn int8_equals_f32_on_integer_values(
            (c, h, w, m, k, s, pad) in (1usize..4, 1usize..6, 1usize..6, 1usize..4, 1usize..4, 1usize..3, 0usize..2)
                .prop_filter("kernel fits", |&(_, h, w, _, k, _, pad)| h + 2 * pad >= k && w + 2 * pad >= k),
            zp in -20i32..20,
            x in i8_vec(75), wt in i8_vec(108),
        ) {
            // With multiplier 1.0 and no clamping, int8 conv is exact integer conv of (x − zp);
            // small integers are exact in f32 too.
            let p = geometry(c, h, w, m, k, s, pad);
            let x: Vec<i8> = x[..c * h * w].iter().map(|&v| (v / 8).saturating_add(zp as i8)).collect();
            let wt: Vec<i8> = wt[..m * c * k * k].iter().map(|&v| v / 16).collect();
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: 0, act_min: -128, act_max: 127 };
            let n = m * p.out_h * p.out_w;
            let mut y = vec![0i8; n];
            conv2d_i8(&p, &q, &x, &wt, &vec![0; m], &vec![1 << 30; m], &vec![1; m], &mut y);
            let xf: Vec<f32> = x.iter().map(|&v| (i32::from(v) - zp) as f32).collect();
            let wf: Vec<f32> = wt.iter().map(|&v| f32::from(v)).collect();
            let want = naive_f32(&p, &xf, &wf, &vec![0.0; m]);
            let want: Vec<i8> = want.iter().map(|&v| v.clamp(-128.0, 127.0) as i8).collect();
            prop_assert_eq!(y, want);
        }

        #[test]
        fn w8a32_equals_f32_with_dequantised_weights(x in f32_vec(2 * 4 * 4), wt in i8_vec(3 * 2 * 9), s in f32_vec(3)) {
            let p = geometry(2, 4, 4, 3, 3, 1, 1);
            let scale: Vec<f32> = s.iter().map(|v| v.abs() + 0.01).collect();
            let mut y = vec![0.0; 48];
            conv2d_w8a32(&p, &x, &wt, &scale, None, &mut y);
            let wf: Vec<f32> = wt.iter().map(|&v| f32::from(v)).collect();
            let unscaled = naive_f32(&p, &x, &wf, &[0.0; 3]);
            let want: Vec<f32> = unscaled.iter().enumerate().map(|(i, v)| v * scale[i / 16]).collect();
            prop_assert_eq!(bits(&y), bits(&want));
        }
    }
}
