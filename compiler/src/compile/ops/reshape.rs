//! Layout-only ops (`Reshape`, `AddAxis`, `RmAxis`, `IntoShape`, a `MoveAxis` that moves
//! only size-1 axes, a float `Cast` to f32): the data does not move, so no runtime op;
//! the consumer reshapes if it needs another shape. A `MoveAxis` that moves data (ONNX
//! `Transpose`, e.g. tf2onnx's NHWC → NCHW after a Keras `Reshape`, or NCHW → NHWC at a
//! channels-last output; tract has already cancelled the pairs around convolutions) is a
//! runtime Transpose.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;

use crate::compile::CompileError;
use crate::compile::lower::{Act, Lowerer, Value, unsupported};

pub(crate) fn reshape<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let i = node.inputs[0];
    let in_shape = cx.shape_of(node, i)?;
    let out_shape = cx.out_shape(node, 0)?;
    if let Some(AxisOp::Move(from, to)) = node.op_as::<AxisOp>() {
        // The order of the axes larger than 1 must not change.
        let mut order: Vec<usize> = (0..in_shape.len()).collect();
        let moved = order.remove(*from);
        order.insert(*to, moved);
        let big: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&a| in_shape[a] != 1)
            .collect();
        if big.windows(2).any(|w| w[0] > w[1]) {
            return transpose(cx, node, &in_shape, &order);
        }
    }
    let out = OutletId::new(node.id, 0);
    match cx.value(i)? {
        Value::Label => cx.set(out, Value::Label),
        Value::Linear(mut l) if cx.exclusive(i) => {
            l.shape = out_shape;
            cx.set(out, Value::Linear(l));
        }
        // the same values in the same order: still a class table
        Value::LabelTable(mut t) => {
            t.shape = out_shape;
            cx.set(out, Value::LabelTable(t));
        }
        _ => {
            let a = cx.act(i)?;
            cx.set(
                out,
                Value::Act(Act {
                    id: a.id,
                    shape: out_shape,
                }),
            );
        }
    }
    Ok(())
}

/// A data-moving `MoveAxis`: output axis `i` is input axis `order[i]` (tract's axes, with
/// the batch first, which must stay first).
fn transpose<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
    in_shape: &[usize],
    order: &[usize],
) -> Result<(), CompileError> {
    if order.first() != Some(&0) || in_shape.first() != Some(&1) || in_shape.len() > 5 {
        return Err(unsupported(
            node,
            "a transpose that moves the batch axis, or of more than 4 axes besides it",
        ));
    }
    let a = cx.act(node.inputs[0])?;
    let x = cx.ensure(node, &a, &in_shape[1..])?;
    let perm: Vec<usize> = order[1..].iter().map(|&a| a - 1).collect();
    let r = cx.builder.transpose(x, &perm);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

pub(crate) fn cast<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let i = node.inputs[0];
    let out = OutletId::new(node.id, 0);
    match cx.value(i)? {
        Value::Label => cx.set(out, Value::Label),
        // integral off/on values (dynamo's Equal: false/true) survive a cast to a number
        // (tract types dynamo's cast to int64 as TDim, its integers)
        Value::OneHot(h)
            if h.off.fract() == 0.0
                && h.on.fract() == 0.0
                && cx
                    .model
                    .outlet_fact(out)
                    .is_ok_and(|f| f.datum_type.is_number() || f.datum_type.is_tdim()) =>
        {
            cx.set(out, Value::OneHot(h));
        }
        v => {
            let to = cx
                .model
                .outlet_fact(out)
                .map_err(|e| unsupported(node, &format!("{e:#}")))?
                .datum_type;
            if to != f32::datum_type() {
                return Err(unsupported(node, &format!("a cast to {to:?}")));
            }
            cx.set(out, v);
        }
    }
    Ok(())
}
