//! Dequantize: int8 → f32 at the input's scale and zero point (the last op of a w8a8
//! model, so the sampling API stays f32).

use super::quantize::check_cast;
use super::{Ctx, Eval, Op, f32s_mut, i8s};
use crate::Error;
use crate::format::DType;
use crate::kernels::quantize::dequantize_i8_to_f32;

/// A prepared Dequantize op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dequantize {
    scale: f32,
    zero_point: i32,
}

impl Op<'_> for Dequantize {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        check_cast(cx, DType::I8, DType::F32)?;
        let x = &cx.ins[0];
        Ok(Dequantize {
            scale: x.scale,
            zero_point: x.zero_point,
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x = i8s(cx.io.input(cx.x0()?)?);
        dequantize_i8_to_f32(self.scale, self.zero_point, x, f32s_mut(cx.io.out)?);
        Ok(())
    }
}
