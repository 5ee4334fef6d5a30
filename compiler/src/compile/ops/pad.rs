//! ONNX `Pad` that tract leaves in the graph (a zero Pad before a Conv is already in the
//! Conv's padding): a runtime Pad of a `[C, H, W]` activation on height and width, in
//! constant (any value), reflect (PyTorch `ReflectionPad2d`) or edge mode. A Pad of the
//! batch or channel axis is refused, naming the node.

use edgegan_runtime::ops::pad;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

pub(crate) fn pad<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<Pad>()
        .ok_or_else(|| unsupported(node, "not tract's Pad"))?;
    let i = node.inputs[0];
    let in_shape = cx.shape_of(node, i)?;
    let &[(0, 0), (0, 0), (top, bottom), (left, right)] = &op.pads[..] else {
        return Err(unsupported(
            node,
            &format!(
                "a Pad of {in_shape:?} by {:?}: only the height and width of [N, C, H, W] \
                 are padded, not the batch or channel axis",
                op.pads
            ),
        ));
    };
    let (mode, value) = match &op.mode {
        PadMode::Constant(t) => {
            let v = t.cast_to_scalar::<f32>().map_err(|e| {
                unsupported(node, &format!("a Pad constant that is not a number: {e:#}"))
            })?;
            (pad::CONSTANT, v)
        }
        PadMode::Reflect => (pad::REFLECT, 0.0),
        PadMode::Edge => (pad::EDGE, 0.0),
    };
    let a = cx.act(i)?;
    let x = cx.ensure(node, &a, &in_shape[1..])?;
    let r = cx.builder.pad(x, [top, left, bottom, right], mode, value);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
