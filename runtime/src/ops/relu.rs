//! Relu: `max(0, x)` elementwise; in w8a8 a 256-entry table.

use super::unary::{self, Unary};
use super::{Ctx, Eval, Op};
use crate::Error;
use crate::kernels::relu::relu_f32;

/// The record parameters of a Relu op: the w8a8 table.
pub type Params = unary::LutParams;

/// A prepared Relu op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Relu<'a>(Unary<'a>);

impl<'a> Op<'a> for Relu<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        unary::prepare(cx, Params::decode(cx.params()).lut).map(Relu)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        unary::eval(&self.0, cx, relu_f32)
    }
}
