//! Conv2d on `[C, H, W]`: `y = act(W ⊛ x + b)` with stride and zero padding, in f32,
//! w8a32 or w8a8 (the kernel subtracts the input zero point, so padding reads zero).

use super::linear::{self, Offsets, Weights};
use super::{Ctx, Eval, Op, built, f32s, f32s_mut, i8s, i8s_mut};
use crate::Error;
use crate::format::{NONE, OpFormat, PARAM_WORDS};
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dInput, Conv2dParams};
use crate::kernels::{self, cortex_m};

/// The record parameters of a Conv2d op. Pairs of sizes share a word (low 16 bits first);
/// weight fields hold a blob offset or [`NONE`](crate::format::NONE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Kernel height.
    pub kernel_h: u32,
    /// Kernel width.
    pub kernel_w: u32,
    /// `[stride_h, stride_w]`.
    pub stride: [u16; 2],
    /// `[top, left, bottom, right]` zero padding.
    pub padding: [u16; 4],
    /// `[M, C, KH, KW]` weights.
    pub weights: u32,
    /// `[M]` bias.
    pub bias: u32,
    /// `[M]` f32 scales (w8a32) or Q31 multipliers (w8a8).
    pub scales: u32,
    /// `[M]` requantisation shifts (w8a8).
    pub shifts: u32,
}

const fn pair(lo: u16, hi: u16) -> u32 {
    lo as u32 | (hi as u32) << 16
}

const fn split(v: u32) -> (u16, u16) {
    ((v & 0xFFFF) as u16, (v >> 16) as u16)
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
    pub const fn new(kernel: [u32; 2], stride: [u16; 2], padding: [u16; 4]) -> Self {
        Params {
            kernel_h: kernel[0],
            kernel_w: kernel[1],
            stride,
            padding,
            weights: NONE,
            bias: NONE,
            scales: NONE,
            shifts: NONE,
        }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        let (sh, sw) = split(p[2]);
        let (pt, pl) = split(p[3]);
        let (pb, pr) = split(p[4]);
        Params {
            kernel_h: p[0],
            kernel_w: p[1],
            stride: [sh, sw],
            padding: [pt, pl, pb, pr],
            weights: p[Self::WEIGHTS],
            bias: p[Self::BIAS],
            scales: p[Self::SCALES],
            shifts: p[Self::SHIFTS],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.kernel_h;
        p[1] = self.kernel_w;
        p[2] = pair(self.stride[0], self.stride[1]);
        p[3] = pair(self.padding[0], self.padding[1]);
        p[4] = pair(self.padding[2], self.padding[3]);
        p[Self::WEIGHTS] = self.weights;
        p[Self::BIAS] = self.bias;
        p[Self::SCALES] = self.scales;
        p[Self::SHIFTS] = self.shifts;
        p
    }
}

/// A prepared Conv2d op: geometry, int8 quantisation (w8a8) and weight slices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conv2d<'a> {
    pub(super) p: Conv2dParams,
    pub(super) q: Conv2dI8Quant,
    pub(super) weights: Weights<'a>,
    /// What the host kernel may assume of the input (set by [`upsampled_input`]; the
    /// device kernels do not read it).
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(super) input: Conv2dInput,
}

/// The kernel geometry of `prm` on input `[c, ih, iw]`, checked against the output.
fn geometry(prm: &Params, x: [usize; 3], y: [usize; 3]) -> Result<Conv2dParams, &'static str> {
    let (kh, kw) = (prm.kernel_h as usize, prm.kernel_w as usize);
    let [sh, sw] = prm.stride.map(usize::from);
    let [pt, pl, pb, pr] = prm.padding.map(usize::from);
    let [c, ih, iw] = x;
    let [m, oh, ow] = y;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > 0xFFFF || kw > 0xFFFF {
        return Err("conv2d kernel and stride must be positive");
    }
    if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
        return Err("conv2d padding must be smaller than the kernel");
    }
    let padded = |v: usize, a: usize, b: usize| v.checked_add(a).and_then(|v| v.checked_add(b));
    let span_h = padded(ih, pt, pb)
        .and_then(|v| v.checked_sub(kh))
        .ok_or("conv2d kernel taller than the padded input")?;
    let span_w = padded(iw, pl, pr)
        .and_then(|v| v.checked_sub(kw))
        .ok_or("conv2d kernel wider than the padded input")?;
    if oh != span_h / sh + 1 || ow != span_w / sw + 1 {
        return Err("conv2d output shape does not match input, kernel, stride and padding");
    }
    Ok(Conv2dParams::new(
        [c, ih, iw],
        [m, oh, ow],
        [kh, kw],
        [sh, sw],
        [pt, pl],
    ))
}

/// The error messages of a convolution-like op.
pub(super) struct Messages {
    pub rank: &'static str,
    pub dtype: &'static str,
    pub too_large: &'static str,
    pub too_deep: &'static str,
}

/// The prepare Conv2d and ConvTranspose2d share: `geometry` checks the record's sizes
/// against the `[C, H, W]` input and output; dtypes, the weight arrays of the record's
/// format and the int8 zero points and clamps are then the same for both.
pub(super) fn prepare_conv<'a>(
    cx: &Ctx<'_, 'a>,
    at: &Offsets,
    msg: &Messages,
    geometry: impl FnOnce([usize; 3], [usize; 3]) -> Result<Conv2dParams, &'static str>,
) -> Result<Conv2d<'a>, &'static str> {
    cx.need_inputs(1)?;
    let (x, output) = (&cx.ins[0], &cx.output);
    if x.rank != 3 || output.rank != 3 {
        return Err(msg.rank);
    }
    let [c, ih, iw, _] = x.dims.map(|d| d as usize);
    let [m, oh, ow, _] = output.dims.map(|d| d as usize);
    let mut cp = geometry([c, ih, iw], [m, oh, ow])?;
    if !cx.all(cx.arith_dtype()) || !cx.disjoint() {
        return Err(msg.dtype);
    }
    let taps = c
        .checked_mul(cp.kernel_h * cp.kernel_w)
        .ok_or(msg.too_large)?;
    let wn = taps.checked_mul(m).ok_or(msg.too_large)?;
    let activation = cx.activation();
    cp.activation = activation;
    let weights = linear::load(cx, at, wn, m, taps, msg.too_deep)?;
    let (act_min, act_max) = kernels::activation_range_i8(activation, output.zero_point);
    Ok(Conv2d {
        p: cp,
        q: Conv2dI8Quant {
            input_zero_point: x.zero_point,
            output_zero_point: output.zero_point,
            act_min,
            act_max,
        },
        weights,
        input: Conv2dInput::Any,
    })
}

/// [`Conv2dInput::Upsampled2x`] when the op right before this one is a nearest ×2 Upsample
/// that writes this op's input, else [`Conv2dInput::Any`]. Only the host kernels use it,
/// so only hosts look (the device skips the record's decoding).
fn upsampled_input(cx: &Ctx<'_, '_>) -> Conv2dInput {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        use super::{OpKind, upsample};
        let before = cx.index.checked_sub(1).and_then(|i| cx.model.op(i));
        if let (Some(before), Some(&x)) = (before, cx.rec.inputs().first()) {
            let up = upsample::Params::decode(&before.params);
            let nearest_2x = (up.factor_h, up.factor_w, up.mode) == (2, 2, upsample::NEAREST);
            if before.kind == OpKind::Upsample && before.output == x && nearest_2x {
                return Conv2dInput::Upsampled2x;
            }
        }
    }
    let _ = cx;
    Conv2dInput::Any
}

/// A conv's weights packed once for the host kernel (`None` off x86-64/aarch64).
#[cfg(any(test, feature = "std"))]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) type Packed = crate::kernels::host::conv2d::PackedConv2d;
/// (no host kernel: nothing to pack)
#[cfg(any(test, feature = "std"))]
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) type Packed = ();

impl Conv2d<'_> {
    /// The host kernel's packed weights and buffers for this op, made once by the batch
    /// executor (`crate::batch`); `None` where it runs no packed kernel (f32, w8a32, a
    /// geometry the host kernel leaves to the reference, MCU targets).
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn packed(&self) -> Option<Packed> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some((w, bias, mult, shift)) = self.weights.int8() {
            return Packed::new(&self.p, &self.q, self.input, w, (bias, mult, shift));
        }
        None
    }

    /// The batch executor's Conv2d (`crate::batch`): `rows` samples at once, the input and
    /// output given as whole blocks, the weights packed once for all of them (`packed`,
    /// from [`packed`](Self::packed), when the sampler was made; else once per call).
    /// `false` where there is no batched kernel (f32, w8a32, MCU targets): the caller runs
    /// each sample.
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn eval_rows(
        &self,
        cx: &mut Eval<'_>,
        rows: usize,
        packed: Option<&mut Packed>,
    ) -> Result<bool, Error> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some((w, bias, mult, shift)) = self.weights.int8() {
            let x = i8s(cx.io.input(cx.x0()?)?);
            let y = i8s_mut(cx.io.out);
            let requant = (bias, mult, shift);
            use crate::kernels::host::conv2d::{conv2d_i8_batch_host, conv2d_i8_packed_host};
            let done = packed.is_some_and(|packed| {
                conv2d_i8_packed_host(&self.p, &self.q, packed, rows, x, requant, y)
            });
            if !done {
                conv2d_i8_batch_host(
                    &self.p, &self.q, self.input, rows, x, w, bias, mult, shift, y,
                );
            }
            return Ok(true);
        }
        let _ = (cx, rows, packed);
        Ok(false)
    }
}

impl<'a> Op<'a> for Conv2d<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        let prm = Params::decode(cx.params());
        let at = Offsets {
            weights: prm.weights,
            bias: prm.bias,
            scales: prm.scales,
            shifts: prm.shifts,
            bias_rows: 1,
        };
        let msg = Messages {
            rank: "conv2d tensors must be [C, H, W]",
            dtype: "conv2d tensors have the wrong dtype or overlap",
            too_large: "conv2d too large",
            too_deep: "int8 conv2d too deep for an int32 accumulator",
        };
        let conv = prepare_conv(cx, &at, &msg, |x, y| geometry(&prm, x, y))?;
        Ok(Conv2d {
            input: upsampled_input(cx),
            ..conv
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x = cx.io.input(cx.x0()?)?;
        let p = &self.p;
        match self.weights {
            Weights::F32 { w, bias } => {
                built(OpFormat::F32)?;
                cortex_m::conv2d::conv2d_f32_tiled(p, f32s(x)?, w, bias, f32s_mut(cx.io.out)?);
            }
            Weights::W8A32 { w, scale, bias } => {
                built(OpFormat::W8A32)?;
                let y = f32s_mut(cx.io.out)?;
                cortex_m::conv2d::conv2d_w8a32_tiled(p, f32s(x)?, w, scale, bias, y);
            }
            Weights::I8 {
                w,
                bias,
                mult,
                shift,
            } => {
                #[cfg(all(target_arch = "arm", feature = "cortex-m-dsp"))]
                let conv = cortex_m::conv2d::conv2d_i8_dsp;
                #[cfg(all(target_arch = "arm", not(feature = "cortex-m-dsp")))]
                let conv = cortex_m::conv2d::conv2d_i8_m4;
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                let conv = |p, q, x, w, b, m, s, y| {
                    crate::kernels::host::conv2d::conv2d_i8_host(
                        p, q, self.input, x, w, b, m, s, y,
                    );
                };
                #[cfg(not(any(
                    target_arch = "arm",
                    target_arch = "x86_64",
                    target_arch = "aarch64"
                )))]
                let conv = cortex_m::conv2d::conv2d_i8_tiled;
                conv(p, &self.q, i8s(x), w, bias, mult, shift, i8s_mut(cx.io.out));
            }
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        self.weights.validate()
    }

    fn needs_int8_fallbacks(&self) -> bool {
        matches!(self.weights, Weights::I8 { .. })
            && cortex_m::conv2d::needs_fallback(&self.p, &self.q)
    }

    fn macs(&self) -> u64 {
        let p = &self.p;
        (p.out_channels * p.out_h * p.out_w * p.in_channels * p.kernel_h * p.kernel_w) as u64
    }

    fn learned_params(&self) -> u64 {
        let p = &self.p;
        let m = p.out_channels;
        let bias = if self.weights.has_bias() { m } else { 0 };
        (m * p.in_channels * p.kernel_h * p.kernel_w + bias) as u64
    }
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;
    use crate::DeviceModel;
    use crate::ops::Prepared;

    /// The input kinds of a shipped model's Conv2d ops, in op order.
    fn conv_inputs(name: &str) -> Vec<Conv2dInput> {
        let path = std::format!(
            "{}/../models/{name}/model.w8a8.egm",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        // as u32 words: the model must start 4-byte aligned
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        let model = DeviceModel::from_bytes(&bytemuck::cast_slice(&words)[..bytes.len()])
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut inputs = Vec::new();
        for i in 0..model.op_count() {
            let input = model.with_prepared(i, |op| match op.op {
                Prepared::Conv2d(conv) => Some(conv.input),
                _ => None,
            });
            inputs.extend(input.unwrap_or_else(|e| panic!("{path} op {i}: {e}")));
        }
        inputs
    }

    #[test]
    fn up_blocks_of_the_shipped_generators_take_the_upsampled_kernel() {
        // fashion-cgan: two up-blocks (Resize then Conv) and the output conv
        use Conv2dInput::{Any, Upsampled2x};
        assert_eq!(conv_inputs("fashion-cgan"), [Upsampled2x, Upsampled2x, Any]);
        let inpaint = conv_inputs("fashion-inpaint");
        assert!(
            inpaint.contains(&Upsampled2x),
            "fashion-inpaint convs: {inpaint:?}"
        );
    }
}
