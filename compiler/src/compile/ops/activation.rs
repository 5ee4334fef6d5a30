//! `Max` with zero (ONNX Relu), `Neg`, `Tanh`, `Sigmoid`, `LeakyRelu`.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::LeakyRelu;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

/// The constant every element of `o` equals, if `o` is a uniform constant.
pub(crate) fn uniform(model: &TypedModel, o: OutletId) -> Option<f32> {
    let t = model.outlet_fact(o).ok()?.konst.clone()?;
    let t = t.cast_to::<f32>().ok()?;
    let v = t.to_plain_array_view::<f32>().ok()?;
    let first = *v.iter().next()?;
    v.iter().all(|&x| x == first).then_some(first)
}

/// `(x, c)` if `node` is `op(x, c)` (either order) with `c` a uniform constant.
pub(crate) fn with_constant(
    model: &TypedModel,
    node: &TypedNode,
    op: &str,
) -> Option<(OutletId, f32)> {
    if node.op.name() != op || node.inputs.len() != 2 {
        return None;
    }
    let (a, b) = (node.inputs[0], node.inputs[1]);
    match (uniform(model, a), uniform(model, b)) {
        (None, Some(c)) => Some((a, c)),
        (Some(c), None) => Some((b, c)),
        _ => None,
    }
}

/// `max(x, 0)` is Relu; its input `x`.
pub(crate) fn relu_input(model: &TypedModel, node: &TypedNode) -> Option<OutletId> {
    with_constant(model, node, "Max").and_then(|(x, c)| (c == 0.0).then_some(x))
}

pub(crate) fn max<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let x = relu_input(cx.model, node)
        .ok_or_else(|| unsupported(node, "only max(x, 0), that is Relu"))?;
    let a = cx.act(x)?;
    let r = cx.builder.relu(a.id);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

pub(crate) fn neg<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let a = cx.act(node.inputs[0])?;
    let minus_one = cx.builder.constant(&[1], &[-1.0]);
    let minus_one = cx.build(node, minus_one)?;
    let r = cx.builder.mul(a.id, minus_one);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

pub(crate) fn tanh<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let a = cx.act(node.inputs[0])?;
    let r = cx.builder.tanh(a.id);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

pub(crate) fn sigmoid<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let a = cx.act(node.inputs[0])?;
    let r = cx.builder.sigmoid(a.id);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

pub(crate) fn leaky_relu<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
) -> Result<(), CompileError> {
    let alpha = node
        .op_as::<ElementWiseOp>()
        .and_then(|e| e.0.downcast_ref::<LeakyRelu>())
        .map(|l| l.alpha)
        .ok_or_else(|| unsupported(node, "not tract's LeakyRelu"))?;
    let a = cx.act(node.inputs[0])?;
    let r = cx.builder.leaky_relu(a.id, alpha);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
