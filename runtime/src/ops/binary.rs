//! What the elementwise binary ops (Add, Sub, Mul) share: how each operand broadcasts
//! (its code in the record), and which operand the output holds before the kernel runs.

use super::{Ctx, Eval, overlaps};
use crate::Error;
use crate::format::{Storage, TensorInfo};
use crate::kernels::broadcast::{Broadcast, Side};

/// Broadcast code: the operand has the output's size.
pub const FULL: u32 = 0;
/// Broadcast code: the operand is one value.
pub const SCALAR: u32 = 1;
/// Broadcast code: the operand has one value per channel (the output's first axis).
pub const CHANNEL: u32 = 2;

/// The broadcast code of an operand of `operand` elements for an output of `output`
/// elements (the writer's side of [`Broadcast`]).
pub const fn broadcast_code(operand: usize, output: usize) -> u32 {
    if operand == output {
        FULL
    } else if operand == 1 {
        SCALAR
    } else {
        CHANNEL
    }
}

/// How a prepared binary op runs: the output first holds operand `side` (already there
/// when `in_place`), then the kernel combines it with the other operand broadcast as
/// `other`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub side: Side,
    pub in_place: bool,
    pub other: Broadcast,
}

/// Checks a binary op's operands against its output and the broadcast codes.
pub(crate) fn prepare(cx: &Ctx<'_, '_>, code_a: u32, code_b: u32) -> Result<Layout, &'static str> {
    cx.no_extras()?;
    cx.need_inputs(2)?;
    let (a, b, output) = (&cx.ins[0], &cx.ins[1], &cx.output);
    let mode = |x: &TensorInfo, code: u32| -> Result<Broadcast, &'static str> {
        match code {
            FULL if x.numel == output.numel => Ok(Broadcast::Full),
            SCALAR if x.numel == 1 => Ok(Broadcast::Scalar),
            CHANNEL if output.rank >= 2 && x.numel == output.dims[0] => Ok(Broadcast::Channel {
                inner: (output.numel / output.dims[0]) as usize,
            }),
            _ => Err("broadcast mode does not match the operand's size"),
        }
    };
    let (ma, mb) = (mode(a, code_a)?, mode(b, code_b)?);
    if !cx.all(cx.arith_dtype()) {
        return Err("elementwise tensors have the wrong dtype");
    }
    let out_r = output.range();
    let arena = |x: &TensorInfo| x.storage == Storage::Arena;
    let apart = |x: &TensorInfo| !arena(x) || !overlaps(&x.range(), &out_r);
    // Which operand `y` holds: one equal to the output's bytes (in place) or a full-size
    // one copied into the output first.
    let (side, in_place) = if ma == Broadcast::Full && arena(a) && a.range() == out_r && apart(b) {
        (Side::First, true)
    } else if mb == Broadcast::Full && arena(b) && b.range() == out_r && apart(a) {
        (Side::Second, true)
    } else if apart(a) && apart(b) {
        match (ma, mb) {
            (Broadcast::Full, _) => (Side::First, false),
            (_, Broadcast::Full) => (Side::Second, false),
            _ => return Err("elementwise op needs a full-size operand"),
        }
    } else {
        return Err("elementwise output partly overlaps an operand");
    };
    let other = match side {
        Side::First => mb,
        Side::Second => ma,
    };
    Ok(Layout {
        side,
        in_place,
        other,
    })
}

/// Puts the full operand into the output and returns the other operand's bytes.
pub(crate) fn operands<'x>(layout: &Layout, cx: &mut Eval<'x>) -> Result<&'x [u8], Error> {
    let (a, b) = match cx.inputs {
        [a, b] => (a, b),
        _ => return Err(Error::Internal),
    };
    let (full, rest) = match layout.side {
        Side::First => (a, b),
        Side::Second => (b, a),
    };
    cx.io.load_in_place(full, layout.in_place)?;
    cx.io.input(rest)
}
