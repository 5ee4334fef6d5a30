//! `Gather` of the label in a constant `[classes, D]` table: the label embedding.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::Gather;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, Value, broadcast, unsupported};

pub(crate) fn gather<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<Gather>()
        .ok_or_else(|| unsupported(node, "not a Gather"))?;
    let (Value::Const(table), Value::Label) =
        (cx.value(node.inputs[0])?, cx.value(node.inputs[1])?)
    else {
        return Err(unsupported(
            node,
            "only the label indexing a constant table (a class embedding)",
        ));
    };
    let shape = table.shape().to_vec();
    let [_, dim] = shape[..] else {
        return Err(unsupported(
            node,
            &format!("table of shape {shape:?} is not [classes, D]"),
        ));
    };
    if op.axis != 0 {
        return Err(unsupported(node, "only axis 0"));
    }
    let values = broadcast(&table, &shape).ok_or_else(|| unsupported(node, "table type"))?;
    let r = cx.builder.label_embedding(&values, dim);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
