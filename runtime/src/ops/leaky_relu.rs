//! LeakyRelu: `x` for `x ≥ 0`, `alpha·x` below; in w8a8 a 256-entry table.

use super::unary::{self, Unary};
use super::{Ctx, Eval, Op};
use crate::Error;
use crate::format::{NONE, PARAM_WORDS};
use crate::kernels::leaky_relu::leaky_relu_f32;

/// The record parameters of a LeakyRelu op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The slope for negative inputs (f32 bits in word 0).
    pub alpha: f32,
    /// The w8a8 table, or [`NONE`](crate::format::NONE).
    pub lut: u32,
}

impl Params {
    /// Word of [`lut`](Self::lut).
    pub const LUT: usize = unary::LUT;

    /// No table yet (the writer places it).
    pub const fn new(alpha: f32) -> Self {
        Params { alpha, lut: NONE }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            alpha: f32::from_bits(p[0]),
            lut: p[unary::LUT],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.alpha.to_bits();
        p[unary::LUT] = self.lut;
        p
    }
}

/// A prepared LeakyRelu op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeakyRelu<'a> {
    alpha: f32,
    op: Unary<'a>,
}

impl<'a> Op<'a> for LeakyRelu<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        let p = Params::decode(cx.params());
        let op = unary::prepare(cx, p.lut)?;
        if matches!(op, Unary::F32) && !p.alpha.is_finite() {
            return Err("leaky relu alpha must be finite");
        }
        Ok(LeakyRelu { alpha: p.alpha, op })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        unary::eval(&self.op, cx, |y| leaky_relu_f32(self.alpha, y))
    }
}
