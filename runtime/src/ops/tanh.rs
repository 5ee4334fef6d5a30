//! Tanh: `tanh(x)` elementwise; in w8a8 a 256-entry table.

use super::unary::{self, Unary};
use super::{Ctx, Eval, Op};
use crate::Error;
use crate::kernels::tanh::tanh_f32;

/// The record parameters of a Tanh op: the w8a8 table.
pub type Params = unary::LutParams;

/// A prepared Tanh op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tanh<'a>(Unary<'a>);

impl<'a> Op<'a> for Tanh<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        unary::prepare(cx, Params::decode(cx.params()).lut).map(Tanh)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        unary::eval(&self.0, cx, tanh_f32)
    }
}
