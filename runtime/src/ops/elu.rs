//! Elu: `x` for `x > 0`, `alpha·(eˣ − 1)` otherwise, elementwise; in w8a8 a 256-entry
//! table with the output's own quantisation. A one-input elementwise op the writer lowers
//! through [`ELEMENTWISE`].

use super::unary::{self, Unary};
use super::{Ctx, ElementwiseDef, Eval, Op, OpKind};
use crate::Error;
use crate::format::{NONE, PARAM_WORDS};

/// The record parameters of an Elu op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// `alpha` (f32 bits in word 0).
    pub alpha: f32,
    /// The 256-entry int8 table (w8a8, word [`unary::LUT`]), or [`NONE`].
    pub lut: u32,
}

impl Params {
    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            alpha: f32::from_bits(p[0]),
            lut: p[unary::LUT],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.alpha.to_bits();
        p[unary::LUT] = self.lut;
        p
    }
}

/// The writer's side: `args` are `[alpha]`.
fn encode(args: &[f32], _quant: Option<(f32, i32)>) -> Result<[u32; PARAM_WORDS], &'static str> {
    match *args {
        [alpha] if alpha.is_finite() => Ok(Params { alpha, lut: NONE }.encode()),
        _ => Err("elu takes one finite alpha"),
    }
}

/// Elu in f64, for the writer's table.
fn table(x: f64, args: &[f32]) -> f64 {
    let alpha = args.first().map_or(1.0, |&a| f64::from(a));
    if x > 0.0 { x } else { alpha * libm::expm1(x) }
}

/// How the writer lowers Elu: one input, its shape, a table in w8a8.
pub const ELEMENTWISE: ElementwiseDef = ElementwiseDef {
    kind: OpKind::Elu,
    shares_quant: false,
    encode,
    table: Some(table),
};

/// A prepared Elu op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Elu<'a> {
    op: Unary<'a>,
    alpha: f32,
}

impl<'a> Op<'a> for Elu<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        let p = Params::decode(cx.params());
        if !p.alpha.is_finite() {
            return Err("elu alpha is not finite");
        }
        let op = unary::prepare(cx, p.lut)?;
        Ok(Elu { op, alpha: p.alpha })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let alpha = self.alpha;
        unary::eval(&self.op, cx, |y| elu_f32(alpha, y))
    }
}

/// Reference kernel: `y = alpha·(eʸ − 1)` where `y ≤ 0`, in place.
pub fn elu_f32(alpha: f32, y: &mut [f32]) {
    for v in y {
        if *v <= 0.0 {
            *v = alpha * libm::expm1f(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition() {
        let xs = [-50.0f32, -2.0, -0.25, 0.0, 0.25, 3.0];
        for alpha in [1.0f32, 0.5] {
            let mut y = xs;
            elu_f32(alpha, &mut y);
            for (x, got) in xs.iter().zip(y) {
                let want = table(f64::from(*x), &[alpha]);
                assert!(
                    (f64::from(got) - want).abs() <= 1e-7,
                    "{x}: {got} vs {want}"
                );
            }
            assert_eq!(y[0], -alpha);
            assert_eq!(&y[3..], &[0.0, 0.25, 3.0]);
        }
    }

    #[test]
    fn params_round_trip_and_bad_alpha_is_refused() {
        let w = encode(&[0.7], None).unwrap();
        assert_eq!(
            Params::decode(&w),
            Params {
                alpha: 0.7,
                lut: NONE
            }
        );
        assert!(encode(&[f32::NAN], None).is_err());
        assert!(encode(&[], None).is_err());
    }
}
