//! One module per op, like a TFLite Micro registration: the op's record parameters
//! (`Params`: decoded from the record's words on the device, encoded from the same struct
//! by the writer), its `prepare` (the record checked against its tensors once, at load,
//! and again, cheaply, before each run) and its `eval` (the dispatch to [`crate::kernels`]).
//!
//! The [`registry!`] table below is the only list of ops: it assigns each op kind its
//! code in the `.egm` op table and names the module that implements it. Adding an op is
//! its module here, its kernel in [`crate::kernels`], and one row in the table (see
//! `docs/ARCHITECTURE.md`, "Adding an op").

use crate::Error;
use crate::contract::ConditionKind;
use crate::format::{DType, OpFormat, OpRecord, PARAM_WORDS, Storage, TensorInfo};
use crate::kernels::FusedActivation;
use crate::model::DeviceModel;

/// Declares an op's record parameters whose words are 32-bit integers, in order from word
/// 0: the struct, and its `decode` (device) and `encode` (writer), the only code that
/// knows the words.
macro_rules! word_params {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty ),* $(,)? }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// Decodes the record's words.
            pub const fn decode(p: &[u32; $crate::format::PARAM_WORDS]) -> Self {
                let [$($field,)* ..] = *p;
                $name { $( $field: <$ty>::from_ne_bytes($field.to_ne_bytes()), )* }
            }

            /// Encodes the record's words.
            pub const fn encode(&self) -> [u32; $crate::format::PARAM_WORDS] {
                let words = [$( u32::from_ne_bytes(self.$field.to_ne_bytes()) ),*];
                let mut p = [0; $crate::format::PARAM_WORDS];
                let mut i = 0;
                while i < words.len() {
                    p[i] = words[i];
                    i += 1;
                }
                p
            }
        }
    };
}

mod io;
mod linear;

pub mod add;
pub mod binary;
pub mod clip;
pub mod concat;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod dense;
pub mod dequantize;
pub mod elu;
pub mod gather;
pub mod leaky_relu;
pub mod mul;
pub mod pad;
pub mod quantize;
pub mod relu;
pub mod reshape;
pub mod sigmoid;
pub mod softplus;
pub mod sub;
pub mod tanh;
pub mod transpose;
pub mod unary;
pub mod upsample;

pub(crate) use io::{Io, arith_f32s, arith_f32s_mut, built, f32s, f32s_mut, i8s, i8s_mut};

/// What every op module provides to the registry.
pub(crate) trait Op<'a>: Sized {
    /// Decodes the record's parameters and checks them and its weight arrays against
    /// the op's tensors. Cheap (no loop over weights): it runs before every op of every
    /// sample, so the model needs no per-op memory.
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str>;

    /// Runs the op: reads its inputs from the arena or the blob, writes its output.
    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error>;

    /// Load-time checks that loop over weight arrays (kept out of `prepare`).
    fn validate_weights(&self) -> Result<(), &'static str> {
        Ok(())
    }

    /// Multiply-accumulates per sample (for cost reports).
    fn macs(&self) -> u64 {
        0
    }

    /// Whether a DSP core runs this op on an int8 fallback kernel
    /// ([`INT8_FALLBACKS`](crate::kernels::cortex_m::INT8_FALLBACKS)): a build without
    /// them refuses the model at load.
    fn needs_int8_fallbacks(&self) -> bool {
        false
    }

    /// Learned parameters: weights, biases and tables (for inspection).
    fn learned_params(&self) -> u64 {
        0
    }
}

/// A one-input elementwise op the writer lowers without knowing it: the op module says
/// how its record is encoded, the writer's graph carries it as `OpSpec::Elementwise`
/// (same shape as its input, runs in place, optionally the input's quantisation). Adding
/// such an op touches no writer code (see [`clip::ELEMENTWISE`]).
#[derive(Clone, Copy, Debug)]
pub struct ElementwiseDef {
    /// The op's kind.
    pub kind: OpKind,
    /// Whether the output must have the input's quantisation (the int8 op then works in
    /// the input's domain, e.g. an exact clamp).
    pub shares_quant: bool,
    /// Encodes the record's words from the op's f32 arguments and, in w8a8, the input's
    /// `(scale, zero_point)`; `Err` says why the arguments are invalid.
    pub encode: EncodeFn,
    /// For an op that runs on a 256-entry int8 table in w8a8 (its output then has its own
    /// quantisation, `shares_quant` is false): the function the writer samples, of `x`
    /// and the op's arguments; the writer places the table at word [`unary::LUT`].
    pub table: Option<TableFn>,
}

/// An [`ElementwiseDef`]'s table function: `(x, args) -> f(x)`.
pub type TableFn = fn(f64, &[f32]) -> f64;

/// An [`ElementwiseDef`]'s encoder: `(args, w8a8 (scale, zero_point))` to record words.
pub type EncodeFn = fn(&[f32], Option<(f32, i32)>) -> Result<[u32; PARAM_WORDS], &'static str>;

impl PartialEq for ElementwiseDef {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// At load (`DeviceModel`'s validation, for every op), an op that [needs the int8 fallback
/// kernels](Op::needs_int8_fallbacks) in a build without them
/// ([`INT8_FALLBACKS`](crate::kernels::cortex_m::INT8_FALLBACKS)) is refused, so that no
/// kernel meets an op it does not cover. (One check for all ops, on the predicate
/// `needs_int8_fallbacks` that `firmware-sim` chooses the feature by: a check inside an
/// op's `validate_weights` was inherited by ConvTranspose2d, which wraps Conv2d, and
/// refused the DCGAN's 4×4 transposed convs on the device.)
pub(crate) fn fallbacks_built(needs: impl FnOnce() -> bool) -> Result<(), &'static str> {
    fallbacks_check(crate::kernels::cortex_m::INT8_FALLBACKS, needs)
}

/// [`fallbacks_built`] for a build that has the fallbacks or not (`built`).
fn fallbacks_check(built: bool, needs: impl FnOnce() -> bool) -> Result<(), &'static str> {
    if built || !needs() {
        Ok(())
    } else {
        Err(
            "needs the int8 fallback kernels, which this runtime leaves out (a DSP build \
             without its `int8-fallbacks` feature): a Conv2d the band kernel does not take \
             (a kernel not 3 wide, stride over 2) or a Dense over 259 inputs",
        )
    }
}

/// The error for a record of an op kind this build leaves out.
pub(crate) const NOT_BUILT: &str = "op kind not built into this runtime (its cargo feature is off)";

/// Declares the ops: `code => Kind(module::Type) if "feature"`. It generates [`OpKind`] (codes and
/// names) and the prepared-op enum whose methods dispatch to each module's [`Op`] impl.
macro_rules! registry {
    ($( $(#[$doc:meta])* $code:literal => $kind:ident($($ty:tt)+) if $feat:literal ),* $(,)?) => {
        /// Op kinds and their codes in the op table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum OpKind {
            $( $(#[$doc])* $kind, )*
        }

        impl OpKind {
            /// The kind for a code.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $( $code => Some(OpKind::$kind), )*
                    _ => None,
                }
            }

            /// The code in the op table.
            pub const fn code(self) -> u8 {
                match self {
                    $( OpKind::$kind => $code, )*
                }
            }

            /// The ONNX-style name.
            pub const fn name(self) -> &'static str {
                match self {
                    $( OpKind::$kind => stringify!($kind), )*
                }
            }

            /// The runtime's cargo feature that builds this op (all are on by default; a
            /// firmware turns on only its model's, so that the other ops are not linked).
            pub const fn feature(self) -> &'static str {
                match self {
                    $( OpKind::$kind => $feat, )*
                }
            }

            /// Whether this build runs the op (its [`feature`](Self::feature) is on).
            /// Records of an op left out fail to load.
            pub const fn built(self) -> bool {
                match self {
                    $( OpKind::$kind => cfg!(feature = $feat), )*
                }
            }
        }

        /// An op decoded and checked against its tensors, one variant per kind.
        #[derive(Clone, Copy, Debug)]
        pub(crate) enum Prepared<'a> {
            $( $kind($($ty)+), )*
        }

        impl<'a> Prepared<'a> {
            // An op whose feature is off is never prepared (its records fail to decode);
            // the guards make that visible to the compiler, which then drops its code.
            pub(crate) fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
                Ok(match cx.rec.kind {
                    $( OpKind::$kind if cfg!(feature = $feat) => {
                        Prepared::$kind(<$($ty)+ as Op<'a>>::prepare(cx)?)
                    } )*
                    #[allow(unreachable_patterns)]
                    _ => return Err(NOT_BUILT),
                })
            }

            pub(crate) fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
                match self {
                    $( Prepared::$kind(op) if cfg!(feature = $feat) => op.eval(cx), )*
                    #[allow(unreachable_patterns)]
                    _ => Err(Error::Internal),
                }
            }

            pub(crate) fn validate_weights(&self) -> Result<(), &'static str> {
                match self {
                    $( Prepared::$kind(op) => op.validate_weights(), )*
                }
            }

            pub(crate) fn macs(&self) -> u64 {
                match self {
                    $( Prepared::$kind(op) => op.macs(), )*
                }
            }

            pub(crate) fn needs_int8_fallbacks(&self) -> bool {
                match self {
                    $( Prepared::$kind(op) => op.needs_int8_fallbacks(), )*
                }
            }

            pub(crate) fn learned_params(&self) -> u64 {
                match self {
                    $( Prepared::$kind(op) => op.learned_params(), )*
                }
            }
        }
    };
}

registry! {
    /// Fully connected layer (code 1).
    1 => Dense(dense::Dense<'a>) if "op-dense",
    /// 2-D convolution (code 2).
    2 => Conv2d(conv2d::Conv2d<'a>) if "op-conv2d",
    /// Nearest-neighbour upsampling (code 3).
    3 => Upsample(upsample::Upsample) if "op-upsample",
    /// Relu (code 4).
    4 => Relu(relu::Relu<'a>) if "op-relu",
    /// LeakyRelu (code 5).
    5 => LeakyRelu(leaky_relu::LeakyRelu<'a>) if "op-leaky-relu",
    /// Tanh (code 6).
    6 => Tanh(tanh::Tanh<'a>) if "op-tanh",
    /// Sigmoid (code 7).
    7 => Sigmoid(sigmoid::Sigmoid<'a>) if "op-sigmoid",
    /// Concat along the first axis (code 8).
    8 => Concat(concat::Concat) if "op-concat",
    /// Class-table look-up by the label (code 9).
    9 => Gather(gather::Gather<'a>) if "op-gather",
    /// Elementwise add (code 10).
    10 => Add(add::Add) if "op-add",
    /// Elementwise subtract (code 11).
    11 => Sub(sub::Sub) if "op-sub",
    /// Elementwise multiply (code 12).
    12 => Mul(mul::Mul) if "op-mul",
    /// Reshape (code 13): in place or a copy.
    13 => Reshape(reshape::Reshape) if "op-reshape",
    /// f32 → int8 (code 14).
    14 => Quantize(quantize::Quantize) if "op-quantize",
    /// int8 → f32 (code 15).
    15 => Dequantize(dequantize::Dequantize) if "op-dequantize",
    /// Clip: clamp to `[min, max]` (code 16).
    16 => Clip(clip::Clip) if "op-clip",
    /// Transposed 2-D convolution (code 17).
    17 => ConvTranspose2d(conv_transpose2d::ConvTranspose2d<'a>) if "op-conv-transpose2d",
    /// Elu: `x`, or `alpha·(eˣ − 1)` below zero (code 18).
    18 => Elu(elu::Elu<'a>) if "op-elu",
    /// Softplus: `ln(1 + eˣ)` (code 19).
    19 => Softplus(softplus::Softplus<'a>) if "op-softplus",
    /// Transpose: axes permuted, a copy (code 20).
    20 => Transpose(transpose::Transpose) if "op-transpose",
    /// Pad: `[C, H, W]` padded on H and W, constant, reflect or edge (code 21).
    21 => Pad(pad::Pad) if "op-pad",
}

/// What `prepare` sees: the model (for weights and the condition), the record, and the
/// op's tensors, already decoded.
pub(crate) struct Ctx<'m, 'a> {
    pub model: &'m DeviceModel<'a>,
    /// The op's index in the op table (read only by the host kernels' preparation).
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub index: usize,
    pub rec: &'m OpRecord,
    /// The used inputs.
    pub ins: &'m [TensorInfo],
    pub output: &'m TensorInfo,
}

impl<'a> Ctx<'_, 'a> {
    /// `Ok` if the op has exactly `n` inputs.
    pub fn need_inputs(&self, n: usize) -> Result<(), &'static str> {
        if self.ins.len() == n {
            Ok(())
        } else {
            Err("wrong number of inputs")
        }
    }

    /// Whether every tensor of the op has dtype `dt`.
    pub fn all(&self, dt: DType) -> bool {
        self.ins.iter().chain([self.output]).all(|t| t.dtype == dt)
    }

    /// Whether no arena input overlaps the output.
    pub fn disjoint(&self) -> bool {
        self.ins
            .iter()
            .all(|t| t.storage == Storage::Const || !overlaps(&t.range(), &self.output.range()))
    }

    /// Ops that move data (Upsample, Transpose, Pad): input `x` and the output have `x`'s
    /// dtype and one quantisation, lie apart, and are int8 exactly in a w8a8 record.
    pub fn moves_data(&self, x: &TensorInfo) -> bool {
        self.all(x.dtype)
            && same_quant(x, self.output)
            && self.disjoint()
            && (self.rec.format == OpFormat::W8A8) == (x.dtype == DType::I8)
    }

    /// Unary ops and reshape: the output is the input's bytes (in place) or apart from
    /// them.
    pub fn in_place_or_disjoint(&self, x: &TensorInfo) -> bool {
        let out = self.output.range();
        x.storage == Storage::Const || x.range() == out || !overlaps(&x.range(), &out)
    }

    /// The dtype of the op's arithmetic: f32 (f32, w8a32) or int8 (w8a8).
    pub fn arith_dtype(&self) -> DType {
        match self.rec.format {
            OpFormat::F32 | OpFormat::W8A32 => DType::F32,
            OpFormat::W8A8 => DType::I8,
        }
    }

    /// The fused activation (only Dense and Conv2d accept one; see [`no_extras`]).
    pub fn activation(&self) -> FusedActivation {
        match self.rec.activation {
            0 => FusedActivation::None,
            _ => FusedActivation::Relu,
        }
    }

    /// For ops without weights: no fused activation and no w8a32 format.
    pub fn no_extras(&self) -> Result<(), &'static str> {
        if self.rec.activation != 0 {
            return Err("fused activation on an op that has none");
        }
        if self.rec.format == OpFormat::W8A32 {
            return Err("w8a32 format on an op without weights");
        }
        Ok(())
    }

    /// The model's condition.
    pub fn condition(&self) -> ConditionKind {
        self.model.condition()
    }

    /// `count` elements of the blob at `off` (4-byte aligned, inside the blob).
    pub fn weights<T: bytemuck::Pod>(
        &self,
        off: u32,
        count: usize,
    ) -> Result<&'a [T], &'static str> {
        self.model.weights(off, count)
    }

    /// As [`weights`](Self::weights), `None` for an absent array.
    pub fn optional_weights<T: bytemuck::Pod>(
        &self,
        off: u32,
        count: usize,
    ) -> Result<Option<&'a [T]>, &'static str> {
        self.model.optional_weights(off, count)
    }

    /// The record's parameter words.
    pub fn params(&self) -> &[u32; PARAM_WORDS] {
        &self.rec.params
    }
}

/// What `eval` sees: the arena split around the output, the op's tensors and the label.
pub(crate) struct Eval<'x> {
    pub io: Io<'x>,
    pub inputs: &'x [TensorInfo],
    pub output: &'x TensorInfo,
    pub label: usize,
}

impl<'x> Eval<'x> {
    /// The first input (every op but Gather has one).
    pub fn x0(&self) -> Result<&'x TensorInfo, Error> {
        self.inputs.first().ok_or(Error::Internal)
    }

    /// For ops that work on their output in place: copies input `t` into the output
    /// unless it already is the output.
    pub fn load_in_place(&mut self, t: &TensorInfo) -> Result<(), Error> {
        let in_place = t.storage == Storage::Arena && t.range() == self.output.range();
        self.io.load_in_place(t, in_place)
    }
}

/// Whether two byte ranges overlap.
pub(crate) fn overlaps(a: &core::ops::Range<usize>, b: &core::ops::Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Whether two tensors have the same quantisation.
pub(crate) fn same_quant(a: &TensorInfo, b: &TensorInfo) -> bool {
    a.scale == b.scale && a.zero_point == b.zero_point
}

/// Requantisation parameters a device can run: non-negative Q31 multipliers, shifts in
/// `-31..=30`.
pub(crate) fn requant_ok(mult: &[i32], shift: &[i32]) -> bool {
    mult.iter().all(|&m| m >= 0) && shift.iter().all(|&s| (-31..=30).contains(&s))
}

#[cfg(test)]
mod tests {
    use super::fallbacks_check;

    #[test]
    fn an_op_that_needs_the_fallbacks_is_refused_only_by_a_build_without_them() {
        assert_eq!(fallbacks_check(true, || true), Ok(()));
        assert_eq!(fallbacks_check(false, || false), Ok(()));
        let refused = fallbacks_check(false, || true).unwrap_err();
        assert!(refused.contains("`int8-fallbacks` feature"), "{refused}");
        // a build with them does not even ask (the predicate is load-time work)
        assert_eq!(fallbacks_check(true, || unreachable!()), Ok(()));
    }
}
