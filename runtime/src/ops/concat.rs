//! Concat along the first axis (channels, or features) of up to four inputs.

use super::{Ctx, Eval, Op, same_quant};
use crate::Error;
use crate::format::{DType, MAX_INPUTS, OpFormat};
use crate::kernels::concat::concat;

/// A prepared Concat op (no parameters: the tensors say it all).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Concat;

impl Op<'_> for Concat {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        let output = &cx.output;
        if cx.ins.is_empty() {
            return Err("concat needs inputs");
        }
        let mut sum: u32 = 0;
        for x in cx.ins {
            if x.rank != output.rank || x.dims[1..] != output.dims[1..] {
                return Err("concat inputs must match the output past the first axis");
            }
            sum = sum.checked_add(x.dims[0]).ok_or("concat too large")?;
        }
        if sum != output.dims[0] {
            return Err("concat output's first axis is not the sum of the inputs'");
        }
        let dt = output.dtype;
        if !cx.all(dt)
            || !cx.ins.iter().all(|x| same_quant(x, output))
            || !cx.disjoint()
            || (cx.rec.format == OpFormat::W8A8) != (dt == DType::I8)
        {
            return Err("concat tensors differ in dtype or quantisation, or overlap");
        }
        Ok(Concat)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        // Byte-wise concat is element-wise concat for any dtype.
        let mut parts: [&[u8]; MAX_INPUTS] = [&[]; MAX_INPUTS];
        for (part, t) in parts.iter_mut().zip(cx.inputs) {
            *part = cx.io.input(t)?;
        }
        concat(&parts[..cx.inputs.len()], cx.io.out);
        Ok(())
    }
}
