//! Reshape: the same elements under a new shape, in place (nothing to do) or copied.

use super::{Ctx, Eval, Op, same_quant};
use crate::Error;

/// A prepared Reshape op (no parameters: the output tensor has the new shape).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reshape;

impl Op<'_> for Reshape {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(1)?;
        let (x, output) = (&cx.ins[0], &cx.output);
        if x.numel != output.numel
            || x.dtype != output.dtype
            || !same_quant(x, output)
            || !cx.in_place_or_disjoint(x)
        {
            return Err("reshape changes size, dtype or quantisation, or partly overlaps");
        }
        Ok(Reshape)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        cx.load_in_place(cx.x0()?)
    }
}
