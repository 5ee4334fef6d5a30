//! `OneHot` of the label (`F.one_hot(label, C)`, usually then cast to float), left
//! pending: a MatMul/Gemm that reads it becomes a class table whose rows are its weight
//! columns ([`OneHotLabel::table`], the `nn.Embedding` a user would have written), and
//! any other reader gets the one-hot vectors themselves (a `[C, C]` table).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::OneHot;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, OneHotLabel, Value, broadcast, unsupported};

pub(crate) fn one_hot<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<OneHot>()
        .ok_or_else(|| unsupported(node, "not a OneHot"))?;
    let Value::Label = cx.value(node.inputs[0])? else {
        return Err(unsupported(node, "only a OneHot of the label"));
    };
    let shape = cx.out_shape(node, 0)?;
    if shape != [1, op.dim] {
        return Err(unsupported(
            node,
            &format!("output {shape:?} is not [N, classes] (one-hot along the last axis)"),
        ));
    }
    let value = |t: &Tensor| broadcast(t, &[1]).map(|v| v[0]);
    let (Some(off), Some(on)) = (value(&op.off), value(&op.on)) else {
        return Err(unsupported(node, "non-numeric on/off values"));
    };
    let h = OneHotLabel {
        classes: op.dim,
        off,
        on,
    };
    cx.set(OutletId::new(node.id, 0), Value::OneHot(h));
    Ok(())
}
