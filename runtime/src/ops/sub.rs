//! Sub: `a − b` with full, scalar or per-channel broadcast; in w8a8 the integer add's
//! arithmetic with the second operand negated.

use super::add::{prepare_add_sub, validate_add_sub};
use super::binary::{self, Layout};
use super::{Ctx, Eval, Op, arith_f32s, arith_f32s_mut, i8s, i8s_mut};
use crate::Error;
use crate::kernels::add::AddI8Params;
use crate::kernels::sub::{sub_f32, sub_i8};

/// The record parameters of a Sub op: those of Add.
pub type Params = super::add::Params;

/// A prepared Sub op (`q` is `None` in f32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sub {
    layout: Layout,
    q: Option<AddI8Params>,
}

impl Op<'_> for Sub {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        prepare_add_sub(cx).map(|(layout, q)| Sub { layout, q })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let o = binary::operands(&self.layout, cx)?;
        let (side, other) = (self.layout.side, self.layout.other);
        match &self.q {
            None => sub_f32(side, arith_f32s_mut(cx.io.out)?, arith_f32s(o)?, other),
            Some(p) => sub_i8(p, side, i8s_mut(cx.io.out), i8s(o), other),
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        validate_add_sub(&self.q)
    }
}
