//! What the elementwise unary ops (Relu, LeakyRelu, Tanh, Sigmoid) share: the in-place
//! rule, and in w8a8 the 256-entry table the writer computed.

use super::{Ctx, Eval};
use crate::Error;
use crate::format::{DType, NONE, OpFormat, PARAM_WORDS};
use crate::kernels::lut::lut_i8;

/// Word of the w8a8 table (the same for every table-driven unary op).
pub const LUT: usize = 1;

/// The record parameters of a unary op without parameters of its own (Relu, Tanh,
/// Sigmoid): only the w8a8 table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LutParams {
    /// The 256-entry int8 table (w8a8), or [`NONE`](crate::format::NONE).
    pub lut: u32,
}

impl LutParams {
    /// Word of [`lut`](Self::lut).
    pub const LUT: usize = LUT;

    /// No table yet (the writer places it).
    pub const fn new() -> Self {
        LutParams { lut: NONE }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        LutParams { lut: p[LUT] }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[LUT] = self.lut;
        p
    }
}

impl Default for LutParams {
    fn default() -> Self {
        Self::new()
    }
}

/// A prepared unary op: f32 (the op's own kernel) or its int8 table.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unary<'a> {
    F32,
    Lut(&'a [i8; 256]),
}

/// The checks every unary op makes; the table at `lut` in w8a8.
pub(crate) fn prepare<'a>(cx: &Ctx<'_, 'a>, lut: u32) -> Result<Unary<'a>, &'static str> {
    cx.no_extras()?;
    cx.need_inputs(1)?;
    let x = &cx.ins[0];
    if x.numel != cx.output.numel || !cx.in_place_or_disjoint(x) {
        return Err("activation input and output differ in size or partly overlap");
    }
    match cx.rec.format {
        OpFormat::F32 => {
            if !cx.all(DType::F32) {
                return Err("f32 activation on int8 tensors");
            }
            Ok(Unary::F32)
        }
        _ => {
            if !cx.all(DType::I8) {
                return Err("int8 activation on f32 tensors");
            }
            let table: &'a [i8] = cx.weights(lut, 256)?;
            Ok(Unary::Lut(
                table
                    .try_into()
                    .map_err(|_| "lookup table must have 256 entries")?,
            ))
        }
    }
}

/// Runs a unary op in place on its output: `f32` for the f32 kernel, or the table.
pub(crate) fn eval(
    op: &Unary<'_>,
    cx: &mut Eval<'_>,
    f32: impl FnOnce(&mut [f32]),
) -> Result<(), Error> {
    cx.load_in_place(cx.x0()?)?;
    match op {
        Unary::F32 => f32(super::arith_f32s_mut(cx.io.out)?),
        Unary::Lut(table) => lut_i8(table, super::i8s_mut(cx.io.out)),
    }
    Ok(())
}
