//! Add: `a + b` with full, scalar or per-channel broadcast; in w8a8 TFLite's integer add
//! (both operands rescaled to a common scale, then requantised).

use super::binary::{self, Layout};
use super::{Ctx, Eval, Op, arith_f32s, arith_f32s_mut, i8s, i8s_mut, requant_ok};
use crate::Error;
use crate::format::OpFormat;
use crate::kernels::add::{AddI8Operand, AddI8Params, add_f32};
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use crate::kernels::cortex_m::add::add_i8_prepared;

word_params! {
    /// The record parameters of an Add (or Sub) op. The multipliers and shifts are w8a8
    /// only (zero in f32).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Params {
        /// Broadcast code of `a` (see [`binary`](super::binary)).
        pub broadcast_a: u32,
        /// Broadcast code of `b`.
        pub broadcast_b: u32,
        /// Q31 multiplier of `a` to the common scale.
        pub a_multiplier: i32,
        /// Its shift (≤ 0).
        pub a_shift: i32,
        /// Q31 multiplier of `b` to the common scale.
        pub b_multiplier: i32,
        /// Its shift (≤ 0).
        pub b_shift: i32,
        /// Q31 multiplier of the sum to the output scale.
        pub output_multiplier: i32,
        /// Its shift.
        pub output_shift: i32,
    }
}

/// Prepares Add or Sub (the same record and the same int8 parameters).
pub(crate) fn prepare_add_sub(
    cx: &Ctx<'_, '_>,
) -> Result<(Layout, Option<AddI8Params>), &'static str> {
    let p = Params::decode(cx.params());
    let layout = binary::prepare(cx, p.broadcast_a, p.broadcast_b)?;
    if cx.rec.format == OpFormat::F32 {
        return Ok((layout, None));
    }
    let (a, b) = (&cx.ins[0], &cx.ins[1]);
    let q = AddI8Params {
        a: AddI8Operand {
            zero_point: a.zero_point,
            multiplier: p.a_multiplier,
            shift: p.a_shift,
        },
        b: AddI8Operand {
            zero_point: b.zero_point,
            multiplier: p.b_multiplier,
            shift: p.b_shift,
        },
        output_multiplier: p.output_multiplier,
        output_shift: p.output_shift,
        output_zero_point: cx.output.zero_point,
        act_min: -128,
        act_max: 127,
    };
    Ok((layout, Some(q)))
}

/// The load-time check of int8 Add and Sub parameters.
pub(crate) fn validate_add_sub(q: &Option<AddI8Params>) -> Result<(), &'static str> {
    match q {
        Some(p)
            if !requant_ok(
                &[p.a.multiplier, p.b.multiplier, p.output_multiplier],
                &[p.a.shift, p.b.shift, p.output_shift],
            ) || p.a.shift > 0
                || p.b.shift > 0 =>
        {
            Err("requantisation multiplier or shift out of range")
        }
        _ => Ok(()),
    }
}

/// A prepared Add op (`q` is `None` in f32).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Add {
    layout: Layout,
    q: Option<AddI8Params>,
}

impl Op<'_> for Add {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        prepare_add_sub(cx).map(|(layout, q)| Add { layout, q })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let o = binary::operands(&self.layout, cx)?;
        let other = self.layout.other;
        match &self.q {
            None => add_f32(arith_f32s_mut(cx.io.out)?, arith_f32s(o)?, other),
            Some(p) => {
                // hosts: AVX2 (or the portable body) over eight lanes; MCUs: the
                // rescalings prepared once per call
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                let add = crate::kernels::host::add::add_i8_host;
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                let add = add_i8_prepared;
                add(p, self.layout.side, i8s_mut(cx.io.out), i8s(o), other);
            }
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        validate_add_sub(&self.q)
    }
}
