//! `Concat` along an axis with only size-1 axes before it (the runtime's first axis).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::TypedConcat;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

pub(crate) fn concat<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<TypedConcat>()
        .ok_or_else(|| unsupported(node, "not a Concat"))?;
    let out = cx.out_shape(node, 0)?;
    let axis = op.axis;
    if out[..axis].iter().any(|&d| d != 1) {
        return Err(unsupported(
            node,
            &format!("concat on axis {axis} of {out:?}"),
        ));
    }
    let mut ids = vec![];
    for &i in &node.inputs {
        let a = cx.act(i)?;
        let s = a.shape[axis..].to_vec();
        ids.push(cx.ensure(node, &a, &s)?);
    }
    let r = cx.builder.concat(&ids);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
