//! ConvTranspose2d (ONNX `ConvTranspose`, one group, no dilation), NCHW with batch 1:
//! `x: [C, H, W]`, `w: [M, C, KH, KW]` (the compiler transposes ONNX's `[C, M, KH, KW]`
//! so that each output channel's weights are one contiguous row, as in Conv2d, and the
//! per-output-channel quantisation is the same), `y: [M, OH, OW]` with
//! `OH = (H − 1)·sh + KH − pt − pb + output_padding`.
//!
//! Written output-stationary (a gather, not ONNX's scatter definition):
//! `y[m, oy, ox] = Σ_{c, ky, kx} x[c, iy, ix] · w[m, c, ky, kx] + b[m]` over the taps with
//! `oy + pt − ky = iy·sh` and `ox + pl − kx = ix·sw` inside the image, summed in
//! `(c, ky, kx)` order. Each output is one accumulator, so the int8 path requantises once
//! per output exactly like Conv2d and no scratch buffer is needed.

use super::conv2d::{Conv2dI8Quant, Conv2dParams, Taps, f32_with, i8_with, w8a32_with};

/// The input coordinate a kernel tap reads for output coordinate `o`, if any:
/// `(o + pad − k) / stride` when that is a whole number inside `0..len`.
#[inline(always)]
pub(crate) fn source(o: usize, pad: usize, k: usize, stride: usize, len: usize) -> Option<usize> {
    let t = (o + pad).checked_sub(k)?;
    if t % stride != 0 {
        return None;
    }
    let i = t / stride;
    (i < len).then_some(i)
}

/// Calls `tap(input_index, weight_index)` for every tap of output `(m, oy, ox)`, in
/// `(c, ky, kx)` order. `p` is read as a transposed convolution (see the module docs).
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
            let Some(iy) = source(oy, p.pad_top, ky, p.stride_h, p.in_h) else {
                continue;
            };
            for kx in 0..p.kernel_w {
                let Some(ix) = source(ox, p.pad_left, kx, p.stride_w, p.in_w) else {
                    continue;
                };
                tap(
                    (c * p.in_h + iy) * p.in_w + ix,
                    ((m * p.in_channels + c) * taps) + ky * p.kernel_w + kx,
                );
            }
        }
    }
}

/// A transposed convolution's taps.
struct Transposed;

impl Taps for Transposed {
    #[inline(always)]
    fn each(p: &Conv2dParams, m: usize, oy: usize, ox: usize, tap: impl FnMut(usize, usize)) {
        for_each_tap(p, m, oy, ox, tap);
    }
}

/// f32 reference.
pub fn conv_transpose2d_f32(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    f32_with::<Transposed>(p, x, w, bias, y);
}

/// w8a32 reference: int8 weights with one f32 scale per output channel,
/// `y = (Σ x·w) · scale[m] + b[m]`.
pub fn conv_transpose2d_w8a32(
    p: &Conv2dParams,
    x: &[f32],
    w: &[i8],
    scale: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    w8a32_with::<Transposed>(p, x, w, scale, bias, y);
}

/// int8 reference (w8a8): `acc = Σ (x − zp_in)·w + bias[m]`, then
/// `clamp(M_m(acc) + zp_out)`, as Conv2d.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_i8(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    i8_with::<Transposed>(p, q, x, w, bias, multiplier, shift, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::FusedActivation;

    fn geometry(
        c: usize,
        h: usize,
        m: usize,
        k: usize,
        s: usize,
        pad: usize,
        adj: usize,
    ) -> Conv2dParams {
        let o = (h - 1) * s + k - 2 * pad + adj;
        Conv2dParams {
            in_channels: c,
            in_h: h,
            in_w: h,
            out_channels: m,
            out_h: o,
            out_w: o,
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_top: pad,
            pad_left: pad,
            activation: FusedActivation::None,
        }
    }

    /// ONNX's definition: every input pixel scatters its kernel-weighted value into the
    /// full (unpadded) output, which is then cropped by the padding. `w` is `[C, M, KH, KW]`.
    fn scatter(p: &Conv2dParams, x: &[f32], w_cm: &[f32], b: &[f32]) -> Vec<f32> {
        let (k, s) = (p.kernel_h, p.stride_h);
        let full = (p.in_h - 1) * s + k + p.out_h; // generous canvas
        let mut canvas = vec![0.0f32; p.out_channels * full * full];
        for c in 0..p.in_channels {
            for iy in 0..p.in_h {
                for ix in 0..p.in_w {
                    for m in 0..p.out_channels {
                        for ky in 0..k {
                            for kx in 0..k {
                                let wv = w_cm[((c * p.out_channels + m) * k + ky) * k + kx];
                                let (y, xx) = (iy * s + ky, ix * s + kx);
                                canvas[(m * full + y) * full + xx] +=
                                    x[(c * p.in_h + iy) * p.in_w + ix] * wv;
                            }
                        }
                    }
                }
            }
        }
        let mut y = vec![0.0; p.out_channels * p.out_h * p.out_w];
        for m in 0..p.out_channels {
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    let v = canvas[(m * full + oy + p.pad_top) * full + ox + p.pad_left];
                    y[(m * p.out_h + oy) * p.out_w + ox] = v + b[m];
                }
            }
        }
        y
    }

    /// `[C, M, KH, KW]` → `[M, C, KH, KW]`, as the compiler stores it.
    fn to_mc(w: &[f32], c: usize, m: usize, taps: usize) -> Vec<f32> {
        let mut out = vec![0.0; w.len()];
        for ci in 0..c {
            for mi in 0..m {
                for t in 0..taps {
                    out[(mi * c + ci) * taps + t] = w[(ci * m + mi) * taps + t];
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_scatter_definition_for_strides_paddings_and_output_padding() {
        for (k, s, pad, adj) in [
            (4, 2, 1, 0),
            (3, 2, 1, 1),
            (3, 1, 1, 0),
            (2, 2, 0, 0),
            (5, 3, 2, 2),
            (3, 2, 0, 1),
        ] {
            let p = geometry(2, 3, 3, k, s, pad, adj);
            let x: Vec<f32> = (0..18).map(|v| (v % 7) as f32 * 0.25 - 0.75).collect();
            let w: Vec<f32> = (0..2 * 3 * k * k)
                .map(|v| (v % 5) as f32 * 0.5 - 1.0)
                .collect();
            let b = [0.5, -1.0, 0.0];
            let mut y = vec![0.0; 3 * p.out_h * p.out_w];
            conv_transpose2d_f32(&p, &x, &to_mc(&w, 2, 3, k * k), Some(&b), &mut y);
            let want = scatter(&p, &x, &w, &b);
            for (a, e) in y.iter().zip(&want) {
                assert!((a - e).abs() < 1e-5, "k{k} s{s} p{pad} a{adj}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn int8_and_w8a32_agree_with_f32_on_integer_data() {
        let p = geometry(2, 3, 2, 4, 2, 1, 0);
        let xi: Vec<i8> = (0..18).map(|v| (v % 9) as i8 - 4).collect();
        let wi: Vec<i8> = (0..2 * 2 * 16).map(|v| (v % 7) as i8 - 3).collect();
        let xf: Vec<f32> = xi.iter().map(|&v| f32::from(v)).collect();
        let wf: Vec<f32> = wi.iter().map(|&v| f32::from(v)).collect();
        let n = 2 * p.out_h * p.out_w;
        let mut yf = vec![0.0; n];
        conv_transpose2d_f32(&p, &xf, &wf, None, &mut yf);
        let mut yw = vec![0.0; n];
        conv_transpose2d_w8a32(&p, &xf, &wi, &[1.0, 1.0], None, &mut yw);
        assert_eq!(yf, yw);
        // zero point 1 on the input: the kernel subtracts it, so feed x + 1
        let xq: Vec<i8> = xi.iter().map(|&v| v + 1).collect();
        let q = Conv2dI8Quant {
            input_zero_point: 1,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        // multiplier 2^30 with shift 1 is ×1
        let mut y8 = vec![0i8; n];
        conv_transpose2d_i8(
            &p,
            &q,
            &xq,
            &wi,
            &[0, 0],
            &[1 << 30, 1 << 30],
            &[1, 1],
            &mut y8,
        );
        for (a, e) in y8.iter().zip(&yf) {
            assert_eq!(f32::from(*a), e.clamp(-128.0, 127.0));
        }
    }
}
