//! `Add`, `Sub`, `Mul`: folded into a preceding Dense/Conv2d when one side is a constant
//! per output channel (bias, BatchNorm, any affine), otherwise the runtime's elementwise
//! ops with full, scalar or per-channel broadcast.

use tract_onnx::prelude::*;

use super::leaky_relu;
use crate::builder::TensorId;
use crate::compile::CompileError;
use crate::compile::lower::{LabelTable, Lowerer, Value, broadcast, runtime_shape, unsupported};

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
        // the label-indexed part of the bias scales and negates with the rest
        if let Some(t) = &mut l.label_bias {
            for row in t.chunks_exact_mut(l.out_channels) {
                for (x, &s) in row.iter_mut().zip(&v) {
                    match (kind, linear_first) {
                        (Kind::Sub, false) => *x = -*x,
                        (Kind::Mul, _) => *x *= s,
                        _ => {}
                    }
                }
            }
        }
        l.shape = cx.out_shape(node, 0)?;
        cx.set(out, Value::Linear(l));
        return Ok(());
    }
    if let Some(v) = fold_label_table(cx, node, kind, (ia, &a), (ib, &b))? {
        cx.set(out, v);
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

/// A function of the label alone combined with a constant stays a class table; a class
/// table added to a pending Dense that nothing else reads becomes that Dense's
/// label-indexed bias (`concat(z, embedding(label))·W` arrives from tract as the product
/// with z plus the product with the embedding). `None`: neither applies.
fn fold_label_table(
    cx: &mut Lowerer<'_>,
    node: &TypedNode,
    kind: Kind,
    (ia, a): (OutletId, &Value),
    (ib, b): (OutletId, &Value),
) -> Result<Option<Value>, CompileError> {
    let out_shape = cx.out_shape(node, 0)?;
    let numel: usize = out_shape.iter().product();
    match (a, b) {
        (Value::LabelTable(t), Value::Const(c)) | (Value::Const(c), Value::LabelTable(t))
            if numel == t.dim =>
        {
            let Some(v) = broadcast(c, &t.shape) else {
                return Ok(None);
            };
            let table_first = matches!(a, Value::LabelTable(_));
            let rows = match (kind, table_first) {
                (Kind::Add, _) => t.map_rows(&v, |r, x| r + x),
                (Kind::Sub, true) => t.map_rows(&v, |r, x| r - x),
                (Kind::Sub, false) => t.map_rows(&v, |r, x| x - r),
                (Kind::Mul, _) => t.map_rows(&v, |r, x| r * x),
            };
            let t = LabelTable {
                rows,
                dim: t.dim,
                shape: out_shape,
            };
            Ok(Some(Value::LabelTable(Box::new(t))))
        }
        (Value::Linear(l), Value::LabelTable(t)) | (Value::LabelTable(t), Value::Linear(l))
            if kind == Kind::Add
                && l.conv.is_none()
                && t.dim == l.out_channels
                && numel == t.dim
                && cx.exclusive(if matches!(a, Value::Linear(_)) {
                    ia
                } else {
                    ib
                }) =>
        {
            let mut l = l.clone();
            let table = match &l.label_bias {
                Some(old) => old.iter().zip(&t.rows).map(|(x, y)| x + y).collect(),
                None => t.rows.clone(),
            };
            l.label_bias = Some(table);
            l.shape = out_shape;
            Ok(Some(Value::Linear(l)))
        }
        _ => Ok(None),
    }
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
