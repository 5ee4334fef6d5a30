//! `Gather` of the label in a constant `[classes, D]` table: the label embedding. The
//! index may also be a function of the label alone (tf2onnx's Keras `Embedding` wraps
//! negative indices first): it is evaluated for every class, and the table's rows taken
//! in that order.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::Gather;

use crate::compile::CompileError;
use crate::compile::lower::{LabelTable, Lowerer, Value, broadcast, unsupported};

pub(crate) fn gather<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<Gather>()
        .ok_or_else(|| unsupported(node, "not a Gather"))?;
    let not = || {
        unsupported(
            node,
            "only the label indexing a constant table (a class embedding)",
        )
    };
    let Value::Const(table) = cx.value(node.inputs[0])? else {
        return Err(not());
    };
    let index = node.inputs[1];
    let Some((_, classes)) = cx.label else {
        return Err(not());
    };
    // the label itself, or a computation on it alone: each class's row
    let n = table.shape().first().copied().unwrap_or(0);
    let row = |c: u32| -> Option<usize> {
        let t = cx.of_label(index, i64::from(c))?;
        let t = t.cast_to::<i64>().ok()?;
        let v: Vec<i64> = t
            .to_plain_array_view::<i64>()
            .ok()?
            .iter()
            .copied()
            .collect();
        let &[i] = &v[..] else {
            return None;
        };
        let i = if i < 0 { i + n as i64 } else { i };
        usize::try_from(i).ok().filter(|&i| i < n)
    };
    let rows = (0..classes)
        .map(row)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(not)?;
    // the plain label: the table as it is
    let rows = (rows.len() != n || rows.iter().enumerate().any(|(c, &r)| c != r)).then_some(rows);
    let shape = table.shape().to_vec();
    let [_, dim] = shape[..] else {
        return Err(unsupported(
            node,
            &format!("table of shape {shape:?} is not [classes, D]"),
        ));
    };
    if op.axis != 0 {
        return Err(unsupported(node, "only axis 0"));
    }
    let mut values = broadcast(&table, &shape).ok_or_else(|| unsupported(node, "table type"))?;
    if let Some(rows) = rows {
        values = rows
            .iter()
            .flat_map(|&r| values[r * dim..(r + 1) * dim].to_vec())
            .collect();
    }
    // pending: a Dense it is added to takes it as a label-indexed bias (see `binary`)
    let t = LabelTable {
        rows: values,
        dim,
        shape: cx.out_shape(node, 0)?,
    };
    cx.set(OutletId::new(node.id, 0), Value::LabelTable(Box::new(t)));
    Ok(())
}
