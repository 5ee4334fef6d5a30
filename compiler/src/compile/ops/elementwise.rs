//! The one-input elementwise ops the runtime describes itself ([`ElementwiseDef`]): one
//! row each in [`ROWS`], mapping a tract op name to the runtime op and to how its f32
//! arguments are read off the node. One generic lowering serves every row: the input's
//! shape is the output's, the builder's `elementwise` does the rest. Adding such an op
//! on the compiler side is a row here (and an `args` function when its arguments are
//! not the plain input); nothing else in the compiler changes.
//!
//! Clip: tract declutters ONNX `Clip` (the opset-6 form with `min`/`max` attributes and
//! the opset-11 form with `min`/`max` inputs alike) into `Min(Max(x, min), max)`; a
//! `Min` with a constant alone is a Clip without a lower bound.

use edgegan_runtime::ops::{ElementwiseDef, clip};
use tract_onnx::prelude::*;

use super::activation::with_constant;
use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

/// Reads a node's input (the op's `x`) and the op's f32 arguments; an error names the
/// node and says why it is not this op.
type ArgsFn = fn(&Lowerer<'_>, &TypedNode) -> Result<(OutletId, Vec<f32>), CompileError>;

/// tract op name, the runtime op it lowers to, how its arguments are read.
const ROWS: &[(&str, &ElementwiseDef, ArgsFn)] = &[("Min", &clip::ELEMENTWISE, clip_args)];

/// Whether tract op `name` is one of the rows.
pub(crate) fn handles(name: &str) -> bool {
    ROWS.iter().any(|(n, ..)| *n == name)
}

/// The tract op names of the rows.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    ROWS.iter().map(|(n, ..)| *n)
}

/// Lowers a node whose op is one of the rows.
pub(crate) fn lower<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let name = node.op.name();
    let &(_, def, args) = ROWS
        .iter()
        .find(|(n, ..)| *n == name)
        .ok_or_else(|| unsupported(node, "not an elementwise op"))?;
    let (x, args) = args(cx, node)?;
    if cx.shape_of(node, x)? != cx.out_shape(node, 0)? {
        let why = format!("a {} argument that broadcasts the input", def.kind.name());
        return Err(unsupported(node, &why));
    }
    let x = cx.act(x)?;
    let r = cx.builder.elementwise(def, x.id, &args);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

/// `Min(x, hi)`, or `Min(Max(x, lo), hi)` when only this Min reads the Max: `[lo, hi]`.
fn clip_args(cx: &Lowerer<'_>, node: &TypedNode) -> Result<(OutletId, Vec<f32>), CompileError> {
    let (y, hi) = with_constant(cx.model, node, "Min")
        .ok_or_else(|| unsupported(node, "only min(x, constant), that is Clip"))?;
    // A Max(x, lo) that only this Min reads folds into the same Clip.
    let (x, lo) = match with_constant(cx.model, cx.model.node(y.node), "Max") {
        Some((x, lo)) if cx.exclusive(y) => (x, lo),
        _ => (y, f32::NEG_INFINITY),
    };
    Ok((x, vec![lo, hi]))
}
