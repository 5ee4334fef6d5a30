//! Sigmoid: `1 / (1 + e^−x)` elementwise; in w8a8 a 256-entry table.

use super::unary::{self, Unary};
use super::{Ctx, Eval, Op};
use crate::Error;
use crate::kernels::sigmoid::sigmoid_f32;

/// The record parameters of a Sigmoid op: the w8a8 table.
pub type Params = unary::LutParams;

/// A prepared Sigmoid op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sigmoid<'a>(Unary<'a>);

impl<'a> Op<'a> for Sigmoid<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        unary::prepare(cx, Params::decode(cx.params()).lut).map(Sigmoid)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        unary::eval(&self.0, cx, sigmoid_f32)
    }
}
