//! ConvTranspose2d on `[C, H, W]`: the transposed convolution that DCGAN-style generators
//! upsample with, `y = act(W ⊛ᵀ x + b)`, in f32, w8a32 or w8a8. Weights are stored
//! `[M, C, KH, KW]` like Conv2d's (see [`crate::kernels::conv_transpose2d`]), so the
//! weight arrays and their checks are Conv2d's ([`super::linear`]).

use super::conv2d::{Conv2d, Messages, prepare_conv};
use super::linear::{Offsets, Weights};
use super::{Ctx, Eval, Op, built, f32s, f32s_mut, i8s, i8s_mut};
use crate::Error;
use crate::format::{NONE, OpFormat, PARAM_WORDS};
use crate::kernels::conv_transpose2d as k;
use crate::kernels::conv2d::Conv2dParams;
use crate::kernels::cortex_m::conv_transpose2d as cortex_m;

/// The record parameters of a ConvTranspose2d op. Pairs of sizes share a word (low 16
/// bits first); weight fields hold a blob offset or [`NONE`](crate::format::NONE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// `[kernel_h, kernel_w]`.
    pub kernel: [u16; 2],
    /// `[stride_h, stride_w]`.
    pub stride: [u16; 2],
    /// `[top, left, bottom, right]` cropping of the full output (ONNX `pads`).
    pub padding: [u16; 4],
    /// `[h, w]` extra rows/columns at the bottom/right (ONNX `output_padding`).
    pub output_padding: [u16; 2],
    /// `[M, C, KH, KW]` weights.
    pub weights: u32,
    /// `[M]` bias.
    pub bias: u32,
    /// `[M]` f32 scales (w8a32) or Q31 multipliers (w8a8).
    pub scales: u32,
    /// `[M]` requantisation shifts (w8a8).
    pub shifts: u32,
}

const fn pair(v: [u16; 2]) -> u32 {
    v[0] as u32 | (v[1] as u32) << 16
}

const fn split(v: u32) -> [u16; 2] {
    [(v & 0xFFFF) as u16, (v >> 16) as u16]
}

impl Params {
    /// Word of [`weights`](Self::weights).
    pub const WEIGHTS: usize = 5;
    /// Word of [`bias`](Self::bias).
    pub const BIAS: usize = 6;
    /// Word of [`scales`](Self::scales).
    pub const SCALES: usize = 7;
    /// Word of [`shifts`](Self::shifts).
    pub const SHIFTS: usize = 8;

    /// No weight arrays yet (the writer places them).
    pub const fn new(
        kernel: [u16; 2],
        stride: [u16; 2],
        padding: [u16; 4],
        output_padding: [u16; 2],
    ) -> Self {
        Params {
            kernel,
            stride,
            padding,
            output_padding,
            weights: NONE,
            bias: NONE,
            scales: NONE,
            shifts: NONE,
        }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        let [pt, pl] = split(p[2]);
        let [pb, pr] = split(p[3]);
        Params {
            kernel: split(p[0]),
            stride: split(p[1]),
            padding: [pt, pl, pb, pr],
            output_padding: split(p[4]),
            weights: p[Self::WEIGHTS],
            bias: p[Self::BIAS],
            scales: p[Self::SCALES],
            shifts: p[Self::SHIFTS],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = pair(self.kernel);
        p[1] = pair(self.stride);
        p[2] = pair([self.padding[0], self.padding[1]]);
        p[3] = pair([self.padding[2], self.padding[3]]);
        p[4] = pair(self.output_padding);
        p[Self::WEIGHTS] = self.weights;
        p[Self::BIAS] = self.bias;
        p[Self::SCALES] = self.scales;
        p[Self::SHIFTS] = self.shifts;
        p
    }

    /// The output size along one axis for input size `i`, if positive:
    /// `(i − 1)·s + k − pad_before − pad_after + output_padding`.
    pub const fn output_size(
        i: usize,
        k: usize,
        s: usize,
        pads: [usize; 2],
        adj: usize,
    ) -> Option<usize> {
        if i == 0 {
            return None;
        }
        let full = (i - 1) * s + k + adj;
        match full.checked_sub(pads[0] + pads[1]) {
            Some(0) | None => None,
            Some(o) => Some(o),
        }
    }
}

/// A prepared ConvTranspose2d op: Conv2d's parts, read as a transposed convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvTranspose2d<'a>(Conv2d<'a>);

/// The kernel geometry of `prm` on input `[c, ih, iw]`, checked against the output.
fn geometry(prm: &Params, x: [usize; 3], y: [usize; 3]) -> Result<Conv2dParams, &'static str> {
    let [kh, kw] = prm.kernel.map(usize::from);
    let [sh, sw] = prm.stride.map(usize::from);
    let [pt, pl, pb, pr] = prm.padding.map(usize::from);
    let [ah, aw] = prm.output_padding.map(usize::from);
    let [c, ih, iw] = x;
    let [m, oh, ow] = y;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        return Err("conv_transpose2d kernel and stride must be positive");
    }
    // ONNX requires output_padding < stride; padding beyond the kernel would crop rows
    // that no tap reaches, which no exporter writes.
    if ah >= sh || aw >= sw || pt >= kh || pb >= kh || pl >= kw || pr >= kw {
        return Err("conv_transpose2d padding or output padding out of range");
    }
    let want_h = Params::output_size(ih, kh, sh, [pt, pb], ah);
    let want_w = Params::output_size(iw, kw, sw, [pl, pr], aw);
    if want_h != Some(oh) || want_w != Some(ow) {
        return Err(
            "conv_transpose2d output shape does not match input, kernel, stride and padding",
        );
    }
    Ok(Conv2dParams::new(
        [c, ih, iw],
        [m, oh, ow],
        [kh, kw],
        [sh, sw],
        [pt, pl],
    ))
}

impl<'a> Op<'a> for ConvTranspose2d<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        let prm = Params::decode(cx.params());
        let at = Offsets {
            weights: prm.weights,
            bias: prm.bias,
            scales: prm.scales,
            shifts: prm.shifts,
            bias_rows: 1,
        };
        // every tap of the kernel bounds the terms of one accumulator (fewer land)
        let msg = Messages {
            rank: "conv_transpose2d tensors must be [C, H, W]",
            dtype: "conv_transpose2d tensors have the wrong dtype or overlap",
            too_large: "conv_transpose2d too large",
            too_deep: "int8 conv_transpose2d too deep for an int32 accumulator",
        };
        prepare_conv(cx, &at, &msg, |x, y| geometry(&prm, x, y)).map(ConvTranspose2d)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x = cx.io.input(cx.x0()?)?;
        let Conv2d { p, q, weights, .. } = &self.0;
        match *weights {
            Weights::F32 { w, bias } => {
                built(OpFormat::F32)?;
                k::conv_transpose2d_f32(p, f32s(x)?, w, bias, f32s_mut(cx.io.out)?);
            }
            Weights::W8A32 { w, scale, bias } => {
                built(OpFormat::W8A32)?;
                let y = f32s_mut(cx.io.out)?;
                k::conv_transpose2d_w8a32(p, f32s(x)?, w, scale, bias, y);
            }
            Weights::I8 {
                w,
                bias,
                mult,
                shift,
            } => {
                // the landing taps listed once per output pixel (equal to the reference,
                // k::conv_transpose2d_i8); on DSP cores, a stride phase at a time through
                // Dense's dual multiply-accumulate loop
                #[cfg(all(target_arch = "arm", feature = "cortex-m-dsp"))]
                let conv = cortex_m::conv_transpose2d_i8_phase_dsp;
                #[cfg(not(all(target_arch = "arm", feature = "cortex-m-dsp")))]
                let conv = cortex_m::conv_transpose2d_i8_gather;
                let y = i8s_mut(cx.io.out);
                conv(p, q, i8s(x), w, bias, mult, shift, y);
            }
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        self.0.validate_weights()
    }

    fn macs(&self) -> u64 {
        // the taps that land: rows and columns count apart (O(OH·KH + OW·KW))
        let p = &self.0.p;
        let landing = |out: usize, k: usize, pad: usize, s: usize, len: usize| -> usize {
            (0..out)
                .map(|o| {
                    (0..k)
                        .filter(|&t| k::source(o, pad, t, s, len).is_some())
                        .count()
                })
                .sum()
        };
        let rows = landing(p.out_h, p.kernel_h, p.pad_top, p.stride_h, p.in_h);
        let cols = landing(p.out_w, p.kernel_w, p.pad_left, p.stride_w, p.in_w);
        (p.out_channels * p.in_channels * rows * cols) as u64
    }

    fn learned_params(&self) -> u64 {
        self.0.learned_params()
    }
}
