//! Quantize: f32 → int8 at the output's scale and zero point (the first op of a w8a8
//! model, on the noise and condition inputs).

use super::{Ctx, Eval, Op, f32s, i8s_mut};
use crate::Error;
use crate::format::DType;
use crate::kernels::quantize::quantize_f32;

/// A prepared Quantize op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quantize {
    scale: f32,
    zero_point: i32,
}

/// The checks Quantize and Dequantize share: one input of dtype `from`, an output of
/// dtype `to` with as many elements, apart from each other.
pub(crate) fn check_cast(cx: &Ctx<'_, '_>, from: DType, to: DType) -> Result<(), &'static str> {
    cx.no_extras()?;
    cx.need_inputs(1)?;
    let (x, output) = (&cx.ins[0], &cx.output);
    if x.dtype != from || output.dtype != to || x.numel != output.numel || !cx.disjoint() {
        return Err("quantize/dequantize tensors have the wrong dtype or size, or overlap");
    }
    Ok(())
}

impl Op<'_> for Quantize {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        check_cast(cx, DType::F32, DType::I8)?;
        Ok(Quantize {
            scale: cx.output.scale,
            zero_point: cx.output.zero_point,
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x = f32s(cx.io.input(cx.x0()?)?)?;
        quantize_f32(self.scale, self.zero_point, x, i8s_mut(cx.io.out));
        Ok(())
    }
}
