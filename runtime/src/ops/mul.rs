//! Mul: `a · b` with full, scalar or per-channel broadcast; in w8a8 the product of the
//! zero-point-corrected operands, requantised to the output scale.

use super::binary::{self, Layout};
use super::{Ctx, Eval, Op, arith_f32s, arith_f32s_mut, i8s, i8s_mut, requant_ok};
use crate::Error;
use crate::format::OpFormat;
use crate::kernels::cortex_m::add::mul_i8_prepared;
use crate::kernels::mul::{MulI8Params, mul_f32};

word_params! {
    /// The record parameters of a Mul op. The multiplier and shift are w8a8 only.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Params {
        /// Broadcast code of `a` (see [`binary`](super::binary)).
        pub broadcast_a: u32,
        /// Broadcast code of `b`.
        pub broadcast_b: u32,
        /// Q31 multiplier of the product to the output scale.
        pub output_multiplier: i32,
        /// Its shift.
        pub output_shift: i32,
    }
}

/// A prepared Mul op (`q` is `None` in f32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mul {
    layout: Layout,
    q: Option<MulI8Params>,
}

impl Op<'_> for Mul {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        let p = Params::decode(cx.params());
        let layout = binary::prepare(cx, p.broadcast_a, p.broadcast_b)?;
        let q = (cx.rec.format != OpFormat::F32).then(|| MulI8Params {
            a_zero_point: cx.ins[0].zero_point,
            b_zero_point: cx.ins[1].zero_point,
            output_multiplier: p.output_multiplier,
            output_shift: p.output_shift,
            output_zero_point: cx.output.zero_point,
            act_min: -128,
            act_max: 127,
        });
        Ok(Mul { layout, q })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let o = binary::operands(&self.layout, cx)?;
        let other = self.layout.other;
        match &self.q {
            None => mul_f32(arith_f32s_mut(cx.io.out)?, arith_f32s(o)?, other),
            Some(p) => mul_i8_prepared(p, self.layout.side, i8s_mut(cx.io.out), i8s(o), other),
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        match &self.q {
            Some(p) if !requant_ok(&[p.output_multiplier], &[p.output_shift]) => {
                Err("requantisation multiplier or shift out of range")
            }
            _ => Ok(()),
        }
    }
}
