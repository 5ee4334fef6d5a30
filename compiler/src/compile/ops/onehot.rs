//! `OneHot` of the label (`F.one_hot(label, C)`, usually then cast to float): a class
//! table look-up, the table being `off + (on − off)·I` (`[C, C]`). The Dense that reads
//! it then multiplies by the identity, which is what the ONNX graph computes too; the
//! table costs `C²` weights (bytes for the 10 classes generators use).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::OneHot;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, Value, broadcast, unsupported};

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
    let c = op.dim;
    let mut table = vec![off; c * c];
    for i in 0..c {
        table[i * c + i] = on;
    }
    let r = cx.builder.label_embedding(&table, c);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
