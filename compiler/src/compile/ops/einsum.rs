//! `EinSum` (ONNX MatMul and Gemm after decluttering) with one constant operand: a Dense.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use crate::compile::CompileError;
use crate::compile::lower::{LabelTable, Linear, Lowerer, Value, unsupported};

/// `x·W` in any axis order, with `x` of batch 1: contracted axes of `x` become the Dense
/// input `K`, the constant's other axes its outputs `N`. Left pending so that a bias or
/// BatchNorm after it folds into its weights.
pub(crate) fn einsum<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<EinSum>()
        .ok_or_else(|| unsupported(node, "not an EinSum"))?;
    if op.q_params.is_some() || node.inputs.len() != 2 {
        return Err(unsupported(node, "only a float product of two operands"));
    }
    let (ins, outs) = op.axes.to_strs();
    let out_expr: Vec<char> = outs[0].chars().collect();
    let (a, b) = (cx.value(node.inputs[0])?, cx.value(node.inputs[1])?);
    let (x_slot, w) = match (&a, &b) {
        (_, Value::Const(w)) => (0, w.clone()),
        (Value::Const(w), _) => (1, w.clone()),
        _ => {
            return Err(unsupported(
                node,
                "a product of two activations (only activation x constant)",
            ));
        }
    };
    let x_value = if x_slot == 0 { a } else { b };
    let x_shape = cx.shape_of(node, node.inputs[x_slot])?;
    let x_expr: Vec<char> = ins[x_slot].chars().collect();
    let w_expr: Vec<char> = ins[1 - x_slot].chars().collect();
    let w = w
        .cast_to::<f32>()
        .map_err(|e| unsupported(node, &format!("weights: {e:#}")))?
        .into_owned();
    let w_shape = w.shape().to_vec();
    let out_shape = cx.out_shape(node, 0)?;
    if x_expr.len() != x_shape.len() || w_expr.len() != w_shape.len() {
        return Err(unsupported(node, "axes do not match the operand ranks"));
    }
    // Every axis of x that is not contracted must be a batch axis of size 1.
    let mut k_axes = vec![];
    for (i, c) in x_expr.iter().enumerate() {
        let in_w = w_expr.contains(c);
        let in_out = out_expr.contains(c);
        if in_w && !in_out {
            k_axes.push(*c);
        } else if x_shape[i] != 1 {
            return Err(unsupported(
                node,
                &format!(
                    "axis {c} of the activation (size {}) is not contracted",
                    x_shape[i]
                ),
            ));
        }
    }
    // Outputs: axes of W that reach the output, in output order.
    let n_axes: Vec<char> = out_expr
        .iter()
        .copied()
        .filter(|c| w_expr.contains(c) && !x_expr.contains(c))
        .collect();
    let pos = |c: &char| w_expr.iter().position(|d| d == c);
    let mut perm: Vec<usize> = n_axes.iter().chain(&k_axes).filter_map(pos).collect();
    for (i, c) in w_expr.iter().enumerate() {
        if !perm.contains(&i) {
            if w_shape[i] != 1 {
                return Err(unsupported(
                    node,
                    &format!("weight axis {c} is neither input nor output"),
                ));
            }
            perm.push(i);
        }
    }
    let view = w
        .to_plain_array_view::<f32>()
        .map_err(|e| unsupported(node, &format!("{e:#}")))?;
    let weight: Vec<f32> = view.permuted_axes(perm).iter().copied().collect();
    let n: usize = n_axes.iter().filter_map(pos).map(|i| w_shape[i]).product();
    if n == 0 || !weight.len().is_multiple_of(n) {
        return Err(unsupported(node, "empty weights"));
    }
    // a product with the one-hot label is a look-up of its weight columns, and a product
    // with a function of the label alone is one too: kept pending as a class table, so
    // that an add to a Dense folds it into that Dense's bias
    let table = match &x_value {
        Value::OneHot(h) if weight.len() == n * h.classes => Some(h.table(&weight, n)),
        Value::LabelTable(t) if weight.len() == n * t.dim => Some(
            t.rows
                .chunks_exact(t.dim)
                .flat_map(|row| {
                    weight
                        .chunks_exact(t.dim)
                        .map(|w| w.iter().zip(row).map(|(a, b)| a * b).sum::<f32>())
                        .collect::<Vec<_>>()
                })
                .collect(),
        ),
        _ => None,
    };
    if let Some(rows) = table {
        let t = LabelTable {
            rows,
            dim: n,
            shape: out_shape,
        };
        cx.set(OutletId::new(node.id, 0), Value::LabelTable(Box::new(t)));
        return Ok(());
    }
    let x = cx.act(node.inputs[x_slot])?;
    cx.set(
        OutletId::new(node.id, 0),
        Value::Linear(Box::new(Linear {
            input: x.id,
            conv: None,
            transposed: None,
            out_channels: n,
            weight,
            bias: vec![0.0; n],
            label_bias: None,
            shape: out_shape,
            conv_shape: vec![],
        })),
    );
    Ok(())
}
