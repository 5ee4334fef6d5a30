//! Pattern fusion of `relu(x) − a·relu(−x)` (and `relu(x) + m·relu(−x)`) into LeakyRelu:
//! how our trainer, and anything that exports leaky ReLU without the ONNX op, writes it.

use tract_onnx::prelude::*;

use super::activation::{relu_input, uniform, with_constant};
use crate::compile::CompileError;
use crate::compile::lower::Lowerer;

/// `(y, s)` if `o` is `y·s` (or `s·y`) with `s` a uniform constant.
fn scaled(model: &TypedModel, o: OutletId) -> Option<(OutletId, f32)> {
    with_constant(model, model.node(o.node), "Mul")
}

/// `x` if `o` is `−x`: `Neg(x)`, `x·(−1)` or `0 − x`.
fn negated(model: &TypedModel, o: OutletId) -> Option<OutletId> {
    let node = model.node(o.node);
    match &*node.op.name() {
        "Neg" => node.inputs.first().copied(),
        "Mul" => scaled(model, o).and_then(|(x, s)| (s == -1.0).then_some(x)),
        "Sub" if node.inputs.len() == 2 => {
            (uniform(model, node.inputs[0]) == Some(0.0)).then_some(node.inputs[1])
        }
        _ => None,
    }
}

/// `(x, m)` if `p` is `relu(x)` and `q` is `m·relu(−x)`.
fn pattern(model: &TypedModel, p: OutletId, q: OutletId) -> Option<(OutletId, f32)> {
    let x = relu_input(model, model.node(p.node))?;
    let (r, m) = scaled(model, q)?;
    let neg = relu_input(model, model.node(r.node))?;
    (negated(model, neg)? == x).then_some((x, m))
}

/// Lowers `node` (an Add or Sub) as LeakyRelu if it is the pattern; `Ok(false)` if not.
pub(crate) fn try_fuse<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
) -> Result<bool, CompileError> {
    if node.inputs.len() != 2 {
        return Ok(false);
    }
    let (a, b) = (node.inputs[0], node.inputs[1]);
    let found = match &*node.op.name() {
        "Sub" => pattern(cx.model, a, b),
        "Add" => pattern(cx.model, a, b)
            .or_else(|| pattern(cx.model, b, a))
            .map(|(x, m)| (x, -m)),
        _ => None,
    };
    let Some((x, alpha)) = found else {
        return Ok(false);
    };
    let x = cx.act(x)?;
    let r = cx.builder.leaky_relu(x.id, alpha);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)?;
    Ok(true)
}
