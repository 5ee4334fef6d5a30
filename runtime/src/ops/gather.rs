//! Gather: the label's row of a `[classes, D]` table (the class embedding of a
//! label-conditioned generator).

use super::{Ctx, Eval, Op, arith_f32s_mut, i8s_mut};
use crate::Error;
use crate::contract::ConditionKind;
use crate::format::{DType, NONE, OpFormat, PARAM_WORDS};
use crate::kernels::gather::gather;

/// The record parameters of a Gather op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The `[classes, row]` table (f32, or int8 in w8a8).
    pub table: u32,
    /// Rows: the model's class count.
    pub classes: u32,
    /// Row length: the output's element count.
    pub row: u32,
}

impl Params {
    /// Word of [`table`](Self::table).
    pub const TABLE: usize = 0;

    /// No table yet (the writer places it).
    pub const fn new(classes: u32, row: u32) -> Self {
        Params {
            table: NONE,
            classes,
            row,
        }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            table: p[Self::TABLE],
            classes: p[1],
            row: p[2],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[Self::TABLE] = self.table;
        p[1] = self.classes;
        p[2] = self.row;
        p
    }
}

/// A prepared Gather op.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Gather<'a> {
    F32 { table: &'a [f32], row: usize },
    I8 { table: &'a [i8], row: usize },
}

impl<'a> Op<'a> for Gather<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(0)?;
        let ConditionKind::Label { classes } = cx.condition() else {
            return Err("gather in a model without a label condition");
        };
        let p = Params::decode(cx.params());
        if p.classes != classes || p.row != cx.output.numel {
            return Err("gather table shape does not match the classes and output");
        }
        let len = (classes as usize)
            .checked_mul(p.row as usize)
            .ok_or("gather table too large")?;
        let row = p.row as usize;
        match (cx.rec.format, cx.output.dtype) {
            (OpFormat::F32, DType::F32) => Ok(Gather::F32 {
                table: cx.weights(p.table, len)?,
                row,
            }),
            (OpFormat::W8A8, DType::I8) => Ok(Gather::I8 {
                table: cx.weights(p.table, len)?,
                row,
            }),
            _ => Err("gather format does not match its output dtype"),
        }
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        match *self {
            Gather::F32 { table, row } => gather(table, row, cx.label, arith_f32s_mut(cx.io.out)?),
            Gather::I8 { table, row } => gather(table, row, cx.label, i8s_mut(cx.io.out)),
        }
        Ok(())
    }

    fn learned_params(&self) -> u64 {
        match self {
            Gather::F32 { table, .. } => table.len() as u64,
            Gather::I8 { table, .. } => table.len() as u64,
        }
    }
}
