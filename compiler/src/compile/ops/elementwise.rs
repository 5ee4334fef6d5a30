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
//!
//! Softplus and Elu: tract expands ONNX `Softplus` into `Ln(Add(Exp(x), 1))` and `Elu` into
//! `Iff(LT(0, x), x, Mul(alpha, Sub(Exp(x), 1)))`; the row sits on the last node (`Ln`,
//! `Iff`) and reads `x` through the pattern. The inner nodes (`Exp`, the comparison) are
//! never lowered on their own: [`part_of_pattern`] says so if something else reads them.

use edgegan_runtime::ops::{ElementwiseDef, clip, elu, softplus};
use tract_onnx::prelude::*;

use super::activation::{uniform, with_constant};
use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

/// Reads a node's input (the op's `x`) and the op's f32 arguments; an error names the
/// node and says why it is not this op.
type ArgsFn = fn(&Lowerer<'_>, &TypedNode) -> Result<(OutletId, Vec<f32>), CompileError>;

/// tract op name, the runtime op it lowers to, how its arguments are read.
const ROWS: &[(&str, &ElementwiseDef, ArgsFn)] = &[
    ("Min", &clip::ELEMENTWISE, clip_args),
    ("Ln", &softplus::ELEMENTWISE, softplus_args),
    ("Iff", &elu::ELEMENTWISE, elu_args),
];

/// The lowering of a node that only exists inside a pattern a row matches (`Exp`, the
/// `LT`/`GT` comparison of Elu): read on its own, it is an error naming the node.
pub(crate) fn part_of_pattern<'m>(
    _cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
) -> Result<(), CompileError> {
    Err(unsupported(
        node,
        "only inside Softplus (ln(1 + exp(x))) or Elu (x > 0 ? x : alpha·(exp(x) − 1))",
    ))
}

/// `x` if `o` is `Exp(x)`.
fn exp_input(cx: &Lowerer<'_>, o: OutletId) -> Option<OutletId> {
    let node = cx.model.node(o.node);
    (node.op.name() == "Exp" && node.inputs.len() == 1).then(|| node.inputs[0])
}

/// `Ln(Add(Exp(x), 1))`: Softplus of `x`, no arguments.
fn softplus_args(cx: &Lowerer<'_>, node: &TypedNode) -> Result<(OutletId, Vec<f32>), CompileError> {
    let not = || unsupported(node, "a logarithm that is not softplus, ln(1 + exp(x))");
    let &[sum] = &node.inputs[..] else {
        return Err(not());
    };
    let (e, one) = with_constant(cx.model, cx.model.node(sum.node), "Add").ok_or_else(not)?;
    let x = exp_input(cx, e).filter(|_| one == 1.0).ok_or_else(not)?;
    Ok((x, vec![]))
}

/// `Iff(0 < x, x, alpha·(Exp(x) − 1))` (the comparison either way round): Elu, `[alpha]`.
fn elu_args(cx: &Lowerer<'_>, node: &TypedNode) -> Result<(OutletId, Vec<f32>), CompileError> {
    let not = || {
        unsupported(
            node,
            "a select that is not elu, x > 0 ? x : alpha·(exp(x) − 1)",
        )
    };
    let &[cond, x, neg] = &node.inputs[..] else {
        return Err(not());
    };
    // the condition: x > 0
    let c = cx.model.node(cond.node);
    let positive = match (&*c.op.name(), &c.inputs[..]) {
        ("LT" | "LTE", &[a, b]) => uniform(cx.model, a) == Some(0.0) && b == x,
        ("GT" | "GTE", &[a, b]) => a == x && uniform(cx.model, b) == Some(0.0),
        _ => false,
    };
    // the negative branch: alpha·(exp(x) − 1), written as a Sub of 1 or an Add of −1; with
    // alpha = 1 (PyTorch's and Keras' default) tract drops the product by one
    let (m, alpha) = with_constant(cx.model, cx.model.node(neg.node), "Mul").unwrap_or((neg, 1.0));
    let minus_one = with_constant(cx.model, cx.model.node(m.node), "Sub")
        .filter(|&(e, c)| c == 1.0 && cx.model.node(m.node).inputs[0] == e)
        .or_else(|| {
            with_constant(cx.model, cx.model.node(m.node), "Add").filter(|&(_, c)| c == -1.0)
        });
    let e = minus_one.map(|(e, _)| e).ok_or_else(not)?;
    if !positive || exp_input(cx, e) != Some(x) {
        return Err(not());
    }
    Ok((x, vec![alpha]))
}

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
