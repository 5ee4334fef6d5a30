//! `Min` after `Max`: how tract declutters ONNX `Clip` (the opset-6 form with `min`/`max`
//! attributes and the opset-11 form with `min`/`max` inputs both become
//! `Min(Max(x, min), max)`), lowered to the runtime's Clip (ReLU6, hard tanh). A `Min`
//! with a constant alone is a Clip without a lower bound.

use edgegan_runtime::ops::clip;
use tract_onnx::prelude::*;

use super::activation::uniform;
use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

/// `(x, c)` if `node` is `Max(x, c)` (either order) with `c` a uniform constant.
fn max_with_constant(model: &TypedModel, node: &TypedNode) -> Option<(OutletId, f32)> {
    if node.op.name() != "Max" || node.inputs.len() != 2 {
        return None;
    }
    let (a, b) = (node.inputs[0], node.inputs[1]);
    match (uniform(model, a), uniform(model, b)) {
        (None, Some(c)) => Some((a, c)),
        (Some(c), None) => Some((b, c)),
        _ => None,
    }
}

pub(crate) fn min<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let not_clip = || unsupported(node, "only min(x, constant), that is Clip");
    let [a, b] = node.inputs[..] else {
        return Err(not_clip());
    };
    let (y, hi) = match (uniform(cx.model, a), uniform(cx.model, b)) {
        (None, Some(c)) => (a, c),
        (Some(c), None) => (b, c),
        _ => return Err(not_clip()),
    };
    // A Max(x, lo) that only this Min reads folds into the same Clip.
    let (x, lo) = match max_with_constant(cx.model, cx.model.node(y.node)) {
        Some((x, lo)) if cx.exclusive(y) => (x, lo),
        _ => (y, f32::NEG_INFINITY),
    };
    if cx.shape_of(node, x)? != cx.out_shape(node, 0)? {
        return Err(unsupported(node, "a clip bound that broadcasts the input"));
    }
    let x = cx.act(x)?;
    let r = cx.builder.elementwise(&clip::ELEMENTWISE, x.id, &[lo, hi]);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
