//! Clip: `min(max(x, min), max)` elementwise (ReLU6, hard tanh), in place or into its own
//! output. In w8a8 the output keeps the input's quantisation and the bounds are quantised
//! with it, so the op is a clamp in the int8 domain and exact.
//!
//! This file is the worked example of `docs/ARCHITECTURE.md` ("Adding an op"): the
//! record's [`Params`], `prepare`, `eval`, and the [`ELEMENTWISE`] description through which
//! the writer lowers the op without knowing it.

use super::{Ctx, ElementwiseDef, Eval, Op, OpKind, f32s_mut, i8s_mut, same_quant};
use crate::Error;
use crate::format::{DType, OpFormat, PARAM_WORDS};
use crate::kernels::clip::{clip_f32, clip_i8};
use crate::quant::quantize_i8;

/// The record parameters of a Clip op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The lower bound (f32 bits in word 0; `-inf` for none).
    pub min: f32,
    /// The upper bound (f32 bits in word 1; `+inf` for none).
    pub max: f32,
    /// The lower bound quantised with the tensor's scale and zero point (w8a8).
    pub q_min: i8,
    /// The upper bound, quantised (w8a8).
    pub q_max: i8,
}

impl Params {
    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            min: f32::from_bits(p[0]),
            max: f32::from_bits(p[1]),
            q_min: p[2] as i32 as i8,
            q_max: p[3] as i32 as i8,
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.min.to_bits();
        p[1] = self.max.to_bits();
        p[2] = self.q_min as i32 as u32;
        p[3] = self.q_max as i32 as u32;
        p
    }
}

/// The writer's side: `args` are `[min, max]`; `quant` is the tensor's (scale, zero point)
/// in w8a8.
fn encode(args: &[f32], quant: Option<(f32, i32)>) -> Result<[u32; PARAM_WORDS], &'static str> {
    let &[min, max] = args else {
        return Err("clip takes a min and a max");
    };
    if min.is_nan() || max.is_nan() || min > max {
        return Err("clip needs min <= max");
    }
    let (q_min, q_max) = match quant {
        Some((scale, zero_point)) => (
            quantize_i8(min, scale, zero_point),
            quantize_i8(max, scale, zero_point),
        ),
        None => (0, 0),
    };
    Ok(Params {
        min,
        max,
        q_min,
        q_max,
    }
    .encode())
}

/// How the writer lowers Clip: one input, its shape, its quantisation (so the int8
/// clamp is exact), params from `[min, max]`.
pub const ELEMENTWISE: ElementwiseDef = ElementwiseDef {
    kind: OpKind::Clip,
    shares_quant: true,
    encode,
};

/// A prepared Clip op.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clip {
    F32 { min: f32, max: f32 },
    I8 { min: i8, max: i8 },
}

impl Op<'_> for Clip {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(1)?;
        let x = &cx.ins[0];
        if x.numel != cx.output.numel || !cx.in_place_or_disjoint(x) {
            return Err("clip input and output differ in size or partly overlap");
        }
        let p = Params::decode(cx.params());
        match cx.rec.format {
            OpFormat::W8A8 => {
                if !cx.all(DType::I8) || !same_quant(x, &cx.output) || p.q_min > p.q_max {
                    return Err("int8 clip needs int8 tensors of one quantisation, min <= max");
                }
                Ok(Clip::I8 {
                    min: p.q_min,
                    max: p.q_max,
                })
            }
            _ => {
                if !cx.all(DType::F32) || p.min.is_nan() || p.max.is_nan() || p.min > p.max {
                    return Err("f32 clip needs f32 tensors, min <= max");
                }
                Ok(Clip::F32 {
                    min: p.min,
                    max: p.max,
                })
            }
        }
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        cx.load_in_place(cx.x0()?)?;
        match *self {
            Clip::F32 { min, max } => clip_f32(min, max, f32s_mut(cx.io.out)?),
            Clip::I8 { min, max } => clip_i8(min, max, i8s_mut(cx.io.out)),
        }
        Ok(())
    }
}
