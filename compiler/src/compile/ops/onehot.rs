//! `OneHot` of the label (`F.one_hot(label, C)`, usually then cast to float), left
//! pending: a MatMul/Gemm that reads it becomes a class table whose rows are its weight
//! columns ([`OneHotLabel::table`], the `nn.Embedding` a user would have written), and
//! any other reader gets the one-hot vectors themselves (a `[C, C]` table). PyTorch's
//! dynamo exporter writes `F.one_hot` as `Equal(label[:, None], arange(C))` and casts:
//! that comparison is the same pending one-hot ([`equal`]).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::OneHot;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::logic::CompEq;

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

/// `Equal` of the label with the constant `0..C` (dynamo's `F.one_hot(label, C)`): for
/// every class `c` it must be true exactly at `c` of `[1, C]`, a one-hot with off 0 and
/// on 1 (a cast to a number keeps it one).
pub(crate) fn equal<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let not = || {
        unsupported(
            node,
            "only the label compared with the constant 0..classes (a one-hot)",
        )
    };
    let Some((_, classes)) = cx.label else {
        return Err(not());
    };
    let classes = usize::try_from(classes).map_err(|_| not())?;
    let out = OutletId::new(node.id, 0);
    let unit = |c: usize| {
        let Some(t) = cx.of_label(out, i64::try_from(c).ok()?) else {
            return Some(false);
        };
        let v = t.to_plain_array_view::<bool>().ok()?;
        Some(v.shape() == [1, classes] && v.iter().enumerate().all(|(i, &b)| b == (i == c)))
    };
    if depth(cx.model, node) != Some(classes) || !(0..classes).all(|c| unit(c) == Some(true)) {
        return Err(not());
    }
    let h = OneHotLabel {
        classes,
        off: 0.0,
        on: 1.0,
    };
    cx.set(out, Value::OneHot(h));
    Ok(())
}

/// The class count `C` of a one-hot of the label: a `OneHot`'s depth, or an `Equal` with
/// the constant `0..C` (see [`equal`]).
pub(crate) fn depth(model: &TypedModel, node: &TypedNode) -> Option<usize> {
    if let Some(h) = node.op_as::<OneHot>() {
        return Some(h.dim);
    }
    node.op_as::<TypedBinOp>()
        .filter(|op| op.0.is::<CompEq>())?;
    node.inputs.iter().find_map(|&i| {
        let k = model.outlet_fact(i).ok()?.konst.clone()?;
        let k = k.cast_to::<i64>().ok()?;
        let v = k.to_plain_array_view::<i64>().ok()?;
        let arange = v
            .iter()
            .enumerate()
            .all(|(c, &x)| i64::try_from(c) == Ok(x));
        (v.len() > 1 && arange).then_some(v.len())
    })
}
