//! Clip: `min(max(x, min), max)` elementwise (ReLU6, hard tanh), in place or into its own
//! output. In w8a8 the output keeps the input's quantisation and the bounds are quantised
//! with it, so the op is a clamp in the int8 domain and exact.
//!
//! This file is the worked example of `docs/ARCHITECTURE.md` ("Adding an op"): the
//! record's [`Params`], `prepare`, `eval`, and the [`ELEMENTWISE`] description through which
//! the writer lowers the op without knowing it.

use super::{Ctx, ElementwiseDef, Eval, Op, OpKind, arith_f32s_mut, i8s_mut, same_quant};
use crate::Error;
use crate::format::{DType, OpFormat, PARAM_WORDS};
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
    table: None,
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
                if !cx.all(DType::I8) || !same_quant(x, cx.output) || p.q_min > p.q_max {
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
            Clip::F32 { min, max } => clip_f32(min, max, arith_f32s_mut(cx.io.out)?),
            Clip::I8 { min, max } => clip_i8(min, max, i8s_mut(cx.io.out)),
        }
        Ok(())
    }
}

// The kernels: in the op's file, as an elementwise op's kernels are a loop each. In
// int8 the bounds are quantised with the tensor's own scale and zero point, so the clamp
// is exact.

/// Clamps every `y` to `[lo, hi]`; NaN stays NaN (as ONNX's Clip leaves it).
pub fn clip_f32(lo: f32, hi: f32, y: &mut [f32]) {
    for v in y {
        if *v < lo {
            *v = lo;
        } else if *v > hi {
            *v = hi;
        }
    }
}

/// Clamps every int8 `y` to `[lo, hi]`.
pub fn clip_i8(lo: i8, hi: i8, y: &mut [i8]) {
    for v in y {
        *v = (*v).clamp(lo, hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_util::{bits, f32_vec, i8_vec};
    use crate::quant::{dequantize_i8, quantize_i8};
    use proptest::prelude::*;

    #[test]
    fn relu6_and_hard_tanh() {
        let mut y = [-7.0, -1.0, 0.5, 6.0, 7.5, f32::NAN];
        clip_f32(0.0, 6.0, &mut y);
        assert_eq!(&y[..5], &[0.0, 0.0, 0.5, 6.0, 6.0]);
        assert!(y[5].is_nan());
        let mut y = [-2.0, 0.25, 2.0];
        clip_f32(-1.0, 1.0, &mut y);
        assert_eq!(y, [-1.0, 0.25, 1.0]);
    }

    /// The int8 clamp is the f32 clip in the quantised domain, for every int8 input:
    /// `clip_i8(x) == quantize(clip_f32(dequantize(x)))` with the bounds quantised the
    /// same way.
    #[test]
    fn int8_clamp_is_exact_for_every_input() {
        for (scale, zp) in [
            (6.0 / 255.0, -128),
            (2.0 / 255.0, 0),
            (0.05, 17),
            (0.3, -60),
        ] {
            for (lo, hi) in [(0.0f32, 6.0f32), (-1.0, 1.0), (-0.37, 0.52), (-1e9, 1e9)] {
                let (qlo, qhi) = (quantize_i8(lo, scale, zp), quantize_i8(hi, scale, zp));
                let mut y: Vec<i8> = (-128..=127).collect();
                clip_i8(qlo, qhi, &mut y);
                for (x, got) in (-128i32..=127).zip(y) {
                    let mut v = [dequantize_i8(x as i8, scale, zp)];
                    clip_f32(lo, hi, &mut v);
                    assert_eq!(got, quantize_i8(v[0], scale, zp), "x {x} [{lo}, {hi}]");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn f32_clip_is_max_then_min(mut y in f32_vec(64), lo in -1.0f32..0.0, hi in 0.0f32..1.0) {
            let want: Vec<f32> = y.iter().map(|v| v.max(lo).min(hi)).collect();
            clip_f32(lo, hi, &mut y);
            prop_assert_eq!(bits(&y), bits(&want));
        }

        #[test]
        fn i8_clip_stays_in_bounds(mut y in i8_vec(64), lo in -128i8..0, hi in 0i8..=127) {
            let x = y.clone();
            clip_i8(lo, hi, &mut y);
            for (a, b) in x.iter().zip(&y) {
                prop_assert_eq!(*b, (*a).max(lo).min(hi));
            }
        }
    }
}
