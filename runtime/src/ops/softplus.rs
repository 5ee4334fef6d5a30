//! Softplus: `ln(1 + eˣ)` elementwise; in w8a8 a 256-entry table with the output's own
//! quantisation. A one-input elementwise op the writer lowers through [`ELEMENTWISE`].

use super::unary::{self, Unary};
use super::{Ctx, ElementwiseDef, Eval, Op, OpKind};
use crate::Error;
use crate::format::PARAM_WORDS;

/// The record parameters of a Softplus op: the w8a8 table.
pub type Params = unary::LutParams;

/// The writer's side: no arguments.
fn encode(args: &[f32], _quant: Option<(f32, i32)>) -> Result<[u32; PARAM_WORDS], &'static str> {
    if !args.is_empty() {
        return Err("softplus takes no arguments");
    }
    Ok(Params::new().encode())
}

/// `ln(1 + eˣ)` in f64, for the writer's table.
fn table(x: f64, _args: &[f32]) -> f64 {
    if x > 0.0 {
        x + libm::log1p(libm::exp(-x))
    } else {
        libm::log1p(libm::exp(x))
    }
}

/// How the writer lowers Softplus: one input, its shape, a table in w8a8.
pub const ELEMENTWISE: ElementwiseDef = ElementwiseDef {
    kind: OpKind::Softplus,
    shares_quant: false,
    encode,
    table: Some(table),
};

/// A prepared Softplus op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Softplus<'a>(Unary<'a>);

impl<'a> Op<'a> for Softplus<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        unary::prepare(cx, Params::decode(cx.params()).lut).map(Softplus)
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        unary::eval(&self.0, cx, softplus_f32)
    }
}

/// Reference kernel: `y = ln(1 + eʸ)` in place, without overflow for large `y`
/// (`y + ln(1 + e⁻ʸ)` above zero, as ONNX Runtime computes it).
pub fn softplus_f32(y: &mut [f32]) {
    for v in y {
        *v = if *v > 0.0 {
            *v + libm::log1pf(libm::expf(-*v))
        } else {
            libm::log1pf(libm::expf(*v))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition_and_does_not_overflow() {
        let xs = [-100.0f32, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 100.0];
        let mut y = xs;
        softplus_f32(&mut y);
        for (x, got) in xs.iter().zip(y) {
            let want = table(f64::from(*x), &[]);
            assert!(
                (f64::from(got) - want).abs() <= 1e-6 * want.max(1.0),
                "{x}: {got}"
            );
            assert!(got.is_finite() && got >= 0.0);
        }
        assert_eq!(y[7], 100.0);
        assert!((y[3] - core::f32::consts::LN_2).abs() < 1e-7);
    }

    #[test]
    fn encode_refuses_arguments() {
        assert!(encode(&[1.0], None).is_err());
        assert_eq!(
            Params::decode(&encode(&[], None).unwrap()),
            Params::new(),
            "no table until the writer places one"
        );
    }
}
