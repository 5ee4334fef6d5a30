//! `Add`, `Sub`, `Mul`: folded into a preceding Dense/Conv2d when one side is a constant
//! per output channel (bias, BatchNorm, any affine), otherwise the runtime's elementwise
//! ops with full, scalar or per-channel broadcast.

use tract_onnx::prelude::*;

use super::leaky_relu;
use crate::builder::TensorId;
use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, Value, broadcast, runtime_shape, unsupported};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Sub,
    Mul,
}

pub(crate) fn add<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    if leaky_relu::try_fuse(cx, node)? {
        return Ok(());
    }
    binary(cx, node, Kind::Add)
}

pub(crate) fn sub<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    if leaky_relu::try_fuse(cx, node)? {
        return Ok(());
    }
    binary(cx, node, Kind::Sub)
}

pub(crate) fn mul<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    binary(cx, node, Kind::Mul)
}

fn binary<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode, kind: Kind) -> Result<(), CompileError> {
    if node.inputs.len() != 2 {
        return Err(unsupported(node, "expects two operands"));
    }
    let out = OutletId::new(node.id, 0);
    let (ia, ib) = (node.inputs[0], node.inputs[1]);
    let (a, b) = (cx.value(ia)?, cx.value(ib)?);
    // Fold a constant into a pending Dense/Conv2d that nothing else reads.
    let fold = match (&a, &b) {
        (Value::Linear(l), Value::Const(c)) if cx.exclusive(ia) => Some((l, c, true)),
        (Value::Const(c), Value::Linear(l)) if cx.exclusive(ib) => Some((l, c, false)),
        _ => None,
    };
    if let Some((l, c, linear_first)) = fold
        && let Some(v) = l.channel_vector(c)
    {
        let mut l = l.clone();
        let per = l.weight.len() / l.out_channels;
        for (n, &s) in v.iter().enumerate() {
            let (w, b) = (&mut l.weight[n * per..(n + 1) * per], &mut l.bias[n]);
            match (kind, linear_first) {
                (Kind::Add, _) => *b += s,
                (Kind::Sub, true) => *b -= s,
                (Kind::Sub, false) => {
                    w.iter_mut().for_each(|x| *x = -*x);
                    *b = s - *b;
                }
                (Kind::Mul, _) => {
                    w.iter_mut().for_each(|x| *x *= s);
                    *b *= s;
                }
            }
        }
        l.shape = cx.out_shape(node, 0)?;
        cx.set(out, Value::Linear(l));
        return Ok(());
    }
    let out_shape = cx.out_shape(node, 0)?;
    let ta = operand(cx, node, ia, &out_shape)?;
    let tb = operand(cx, node, ib, &out_shape)?;
    let r = match kind {
        Kind::Add => cx.builder.add(ta, tb),
        Kind::Sub => cx.builder.sub(ta, tb),
        Kind::Mul => cx.builder.mul(ta, tb),
    };
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}

/// One operand as a builder tensor broadcastable by the runtime: full size (in the
/// output's runtime shape), a scalar, or one value per channel (the first runtime axis).
/// A constant that broadcasts any other way is expanded to full size.
fn operand<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
    o: OutletId,
    out_shape: &[usize],
) -> Result<TensorId, CompileError> {
    let full = runtime_shape(out_shape);
    let numel: usize = full.iter().product();
    let shape = cx.shape_of(node, o)?;
    let n: usize = shape.iter().product();
    let per_channel = per_channel(&shape, out_shape);
    if let Value::Const(c) = cx.value(o)? {
        let (s, values) = if n == 1 {
            (vec![1], broadcast(&c, &[1]))
        } else if n == numel {
            (full.clone(), broadcast(&c, &shape))
        } else if per_channel {
            (vec![full[0]], broadcast(&c, &shape))
        } else {
            (full.clone(), broadcast(&c, out_shape))
        };
        let values =
            values.ok_or_else(|| unsupported(node, "a constant that does not broadcast"))?;
        let r = cx.builder.constant(&s, &values);
        return cx.build(node, r);
    }
    let a = cx.act(o)?;
    if n == numel {
        cx.ensure(node, &a, &full)
    } else if n == 1 {
        cx.ensure(node, &a, &[1])
    } else if per_channel {
        cx.ensure(node, &a, &[full[0]])
    } else {
        Err(unsupported(
            node,
            &format!("broadcast of {shape:?} to {out_shape:?} (only full, scalar or per channel)"),
        ))
    }
}

/// Whether `shape` broadcasts to `out` along the first runtime axis only.
fn per_channel(shape: &[usize], out: &[usize]) -> bool {
    let rt = runtime_shape(out);
    if rt.len() < 2 || shape.len() > out.len() {
        return false;
    }
    let axis = out.len() - rt.len();
    let pad = out.len() - shape.len();
    (0..out.len()).all(|i| {
        let d = if i < pad { 1 } else { shape[i - pad] };
        if i == axis { d == out[i] } else { d == 1 }
    })
}
