//! Rewriting burn-onnx's protobuf to the contract: contract names and order of the
//! inputs and output, the symbolic batch `N` everywhere (also after a static capture),
//! an int64 `label`, Resize by scales (so tract keeps the batch symbolic), and canonical
//! value names (so the same weights always give the same bytes).

use onnx_ir::{
    AttributeProto, AttributeType, GraphProto, Message, ModelProto, NodeProto, TensorProto,
    ValueInfoProto,
};

use super::capture::{BatchAxis, STATIC_BATCH};
use edgegan_runtime::contract::{LABEL, MASK, MASKED, X, Z};

use super::contract::{
    BATCH_SYMBOL, ConditionKind, ONNX_FLOAT, ONNX_INT32, ONNX_INT64, RANDOM_OPS, describe,
    dtype_name, elem_type,
};
use super::tract_check;

/// Int32 copy of `label` that a `Cast` feeds to the graph when Burn captured int32 indices.
const LABEL_INT32: &str = "label_int32";

/// Renames the I/O to the contract's (`z`, then `label` or `mask` and `masked` in capture
/// order, `x`), makes the batch `N` everywhere, adds the int64 `label` input (with a Cast
/// when Burn captured int32), refuses random ops, and renames intermediate values
/// canonically. Returns the label dtype Burn captured.
pub fn to_contract(
    model: &mut ModelProto,
    kind: ConditionKind,
    batch_axis: BatchAxis,
) -> std::result::Result<Option<String>, String> {
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let masked_model = matches!(kind, ConditionKind::Mask { .. });
    let graph = model.graph.mut_or_insert_default();
    if let Some(node) = graph
        .node
        .iter()
        .find(|n| RANDOM_OPS.contains(&n.op_type.as_str()))
    {
        return Err(format!(
            "node `{}` is a {} op; noise must be the `z` input",
            node.name, node.op_type
        ));
    }
    let initializers: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let runtime: Vec<usize> = (0..graph.input.len())
        .filter(|&i| !initializers.contains(&graph.input[i].name))
        .collect();
    let floats: Vec<usize> = runtime
        .iter()
        .copied()
        .filter(|&i| elem_type(&graph.input[i]) == ONNX_FLOAT)
        .collect();
    let ints: Vec<usize> = runtime
        .iter()
        .copied()
        .filter(|&i| matches!(elem_type(&graph.input[i]), ONNX_INT32 | ONNX_INT64))
        .collect();
    let expected_ints = usize::from(conditional);
    let expected_floats = if masked_model { 3 } else { 1 };
    if floats.len() != expected_floats
        || ints.len() != expected_ints
        || runtime.len() != expected_floats + expected_ints
    {
        return Err(format!(
            "expected {expected_floats} float input(s){} from the exporter, found {:?}",
            if conditional {
                " and one int input"
            } else {
                ""
            },
            runtime
                .iter()
                .map(|&i| describe(&graph.input[i]))
                .collect::<Vec<_>>()
        ));
    }
    if graph.output.len() != 1 {
        return Err(format!("expected one output, found {}", graph.output.len()));
    }
    if elem_type(&graph.output[0]) != ONNX_FLOAT {
        return Err(format!(
            "the output is {}, not float32",
            describe(&graph.output[0]).dtype
        ));
    }

    let mut reserved = vec![Z, X];
    if conditional {
        reserved.extend([LABEL, LABEL_INT32]);
    }
    if masked_model {
        reserved.extend([MASK, MASKED]);
    }
    let mut own: Vec<Option<String>> = floats
        .iter()
        .map(|&i| Some(graph.input[i].name.clone()))
        .collect();
    own.push(ints.first().map(|&i| graph.input[i].name.clone()));
    own.push(Some(graph.output[0].name.clone()));
    for name in all_value_names(graph) {
        if reserved.contains(&name.as_str()) && !own.contains(&Some(name.clone())) {
            return Err(format!(
                "the exporter already uses the contract name `{name}`"
            ));
        }
    }

    // z is the rank-2 float input; the image inputs follow in capture order
    let rank = |v: &ValueInfoProto| {
        v.type_
            .as_ref()
            .and_then(|t| t.tensor_type().shape.as_ref().map(|s| s.dim.len()))
            .unwrap_or(0)
    };
    let z_index = floats
        .iter()
        .copied()
        .find(|&i| rank(&graph.input[i]) == 2)
        .ok_or_else(|| "no rank-2 float input for the noise `z`".to_string())?;
    let images: Vec<String> = floats
        .iter()
        .filter(|&&i| i != z_index)
        .map(|&i| graph.input[i].name.clone())
        .collect();
    let z_old = graph.input[z_index].name.clone();
    rename_value(graph, &z_old, Z);
    for (old, new) in images.iter().zip([MASK, MASKED]) {
        rename_value(graph, old, new);
    }
    let out_old = graph.output[0].name.clone();
    rename_value(graph, &out_old, X);

    let mut captured = None;
    if let Some(&li) = ints.first() {
        let label_old = graph.input[li].name.clone();
        let dtype = elem_type(&graph.input[li]);
        captured = Some(dtype_name(dtype));
        if dtype == ONNX_INT64 {
            rename_value(graph, &label_old, LABEL);
        } else {
            // The contract's label is int64; the graph keeps Burn's int32 behind a Cast.
            rename_value(graph, &label_old, LABEL_INT32);
            let input = &mut graph.input[li];
            input.name = LABEL.into();
            input
                .type_
                .mut_or_insert_default()
                .mut_tensor_type()
                .elem_type = ONNX_INT64;
            let mut cast = NodeProto::new();
            cast.name = "edgegan_label_to_int32".into();
            cast.op_type = "Cast".into();
            cast.input = vec![LABEL.into()];
            cast.output = vec![LABEL_INT32.into()];
            let mut to = AttributeProto::new();
            to.name = "to".into();
            to.type_ = AttributeType::INT.into();
            to.i = i64::from(ONNX_INT32);
            cast.attribute.push(to);
            graph.node.insert(0, cast);
        }
    }

    // Graph inputs in contract order: z, then label.
    graph.input.sort_by_key(|v| match v.name.as_str() {
        Z => 0,
        LABEL => 1,
        MASK => 2,
        MASKED => 3,
        _ => 4,
    });

    let rewrite_static = batch_axis == BatchAxis::Rewritten;
    for info in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        if [Z, LABEL, MASK, MASKED, X].contains(&info.name.as_str()) {
            set_batch_symbol(info, None);
        }
    }
    for info in &mut graph.value_info {
        set_batch_symbol(info, rewrite_static.then_some(STATIC_BATCH as i64));
    }
    if rewrite_static {
        rewrite_reshape_batch(graph)?;
    }
    canonical_value_names(graph);
    graph.name = "edgegan_generator".into();
    Ok(captured)
}

/// burn-onnx writes nearest upsampling as `Resize(x, sizes=[H', W'], axes=[2, 3])`, whose
/// output size tract cannot derive with a symbolic batch. The canonical form
/// `Resize(x, scales=[1, 1, H'/H, W'/W])` means the same to every engine and keeps the
/// batch symbolic; the input sizes come from typing the graph with tract at batch 1.
/// The replaced `sizes` (and any other initializer no node reads) are removed.
pub fn resize_sizes_to_scales(model: &mut ModelProto) -> std::result::Result<(), String> {
    let graph = &model.graph;
    let targets: Vec<(usize, String, Vec<i64>)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op_type == "Resize" && n.input.len() == 4 && !n.input[3].is_empty())
        .filter_map(|(i, n)| {
            let init = graph.initializer.iter().find(|t| t.name == n.input[3])?;
            let sizes = int64_values(init);
            Some((i, n.name.clone(), sizes))
        })
        .collect();
    if targets.is_empty() {
        drop_unused_initializers(model.graph.mut_or_insert_default());
        return Ok(());
    }
    let bytes = model
        .write_to_bytes()
        .map_err(|e| format!("cannot encode the model: {e}"))?;
    let names: Vec<String> = targets.iter().map(|t| t.1.clone()).collect();
    // graph inputs at batch 1 (every symbolic dimension is the batch)
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<(bool, Vec<usize>)> = graph
        .input
        .iter()
        .filter(|v| !initializers.contains(&v.name.as_str()))
        .map(|v| {
            let dims = v
                .type_
                .as_ref()
                .and_then(|t| t.tensor_type().shape.as_ref())
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| {
                            if d.has_dim_value() {
                                d.dim_value().max(1) as usize
                            } else {
                                1
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            (elem_type(v) == ONNX_FLOAT, dims)
        })
        .collect();
    let input_shapes = tract_check::node_input_shapes(&bytes, &inputs, &names)?;
    let graph = model.graph.mut_or_insert_default();
    for ((index, name, sizes), shape) in targets.into_iter().zip(input_shapes) {
        let node = &mut graph.node[index];
        let axes: Vec<i64> = node
            .attribute
            .iter()
            .find(|a| a.name == "axes")
            .map(|a| a.ints.clone())
            .unwrap_or_else(|| (0..shape.len() as i64).collect());
        if axes.len() != sizes.len() {
            return Err(format!(
                "Resize `{name}`: {} sizes for axes {axes:?}",
                sizes.len()
            ));
        }
        let mut scales = vec![1.0f32; shape.len()];
        for (&axis, &size) in axes.iter().zip(&sizes) {
            let axis =
                usize::try_from(axis).map_err(|_| format!("Resize `{name}`: axis {axis}"))?;
            let Some(&len) = shape.get(axis).filter(|&&l| l > 0) else {
                return Err(format!(
                    "Resize `{name}`: axis {axis} of input shape {shape:?}"
                ));
            };
            scales[axis] = size as f32 / len as f32;
        }
        let scales_name = format!("{name}_scales");
        node.input = vec![node.input[0].clone(), String::new(), scales_name.clone()];
        node.attribute.retain(|a| a.name != "axes");
        let mut t = TensorProto::new();
        t.name = scales_name;
        t.data_type = ONNX_FLOAT;
        t.dims = vec![scales.len() as i64];
        t.raw_data = scales
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        graph.initializer.push(t);
    }
    drop_unused_initializers(graph);
    Ok(())
}

/// Removes the initializers no node reads and no graph output names (the `sizes` the
/// Resize rewrite replaced): ONNX Runtime warns on every load of a model that has one
/// ("Removing initializer ... It is not used by any node"). Returns the names removed.
fn drop_unused_initializers(graph: &mut GraphProto) -> Vec<String> {
    let unused = unused_initializers(graph);
    graph.initializer.retain(|t| !unused.contains(&t.name));
    graph.input.retain(|v| !unused.contains(&v.name));
    unused
}

/// The names of the initializers no node reads and no graph output names.
pub(super) fn unused_initializers(graph: &GraphProto) -> Vec<String> {
    let read = |name: &str| {
        graph.node.iter().any(|n| n.input.iter().any(|i| i == name))
            || graph.output.iter().any(|o| o.name == name)
    };
    graph
        .initializer
        .iter()
        .filter(|t| !read(&t.name))
        .map(|t| t.name.clone())
        .collect()
}

/// A static capture bakes the batch into constant Reshape shapes: the leading entry
/// becomes -1 (inferred), or 0 (copied from the input) when -1 is already taken.
fn rewrite_reshape_batch(graph: &mut GraphProto) -> std::result::Result<(), String> {
    let shapes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape")
        .filter_map(|n| n.input.get(1).cloned())
        .collect();
    for name in shapes {
        let Some(init) = graph.initializer.iter_mut().find(|t| t.name == name) else {
            return Err(format!(
                "a Reshape takes its shape from `{name}`, which is computed, not constant; \
                 the batch cannot be rewritten"
            ));
        };
        if init.data_type != ONNX_INT64 {
            continue;
        }
        let mut values = int64_values(init);
        if values.first() == Some(&(STATIC_BATCH as i64)) {
            values[0] = if values.contains(&-1) { 0 } else { -1 };
            init.int64_data.clear();
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            init.raw_data = raw.into();
        }
    }
    Ok(())
}

/// Renames the exporter's intermediate values (`tensor_<global id>`, which depend on how
/// many tensors the process made before) to `value_<k>` in graph order, so the same
/// weights always give the same bytes.
fn canonical_value_names(graph: &mut GraphProto) {
    let keep: Vec<String> = graph
        .initializer
        .iter()
        .map(|t| t.name.clone())
        .chain(
            graph
                .input
                .iter()
                .chain(&graph.output)
                .map(|v| v.name.clone()),
        )
        .collect();
    let produced: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().cloned())
        .filter(|name| !name.is_empty() && !keep.contains(name))
        .collect();
    let mut taken = all_value_names(graph);
    for (k, old) in produced.into_iter().enumerate() {
        let new = format!("value_{k}");
        if old == new || taken.contains(&new) {
            continue;
        }
        rename_value(graph, &old, &new);
        taken.push(new);
    }
}

fn all_value_names(graph: &GraphProto) -> Vec<String> {
    let mut names: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().chain(&n.output).cloned())
        .collect();
    names.extend(graph.initializer.iter().map(|t| t.name.clone()));
    names.extend(
        graph
            .input
            .iter()
            .chain(&graph.output)
            .chain(&graph.value_info)
            .map(|v| v.name.clone()),
    );
    names.sort();
    names.dedup();
    names
}

pub(super) fn rename_value(graph: &mut GraphProto, from: &str, to: &str) {
    for node in &mut graph.node {
        for name in node.input.iter_mut().chain(node.output.iter_mut()) {
            if name == from {
                *name = to.into();
            }
        }
    }
    for info in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        if info.name == from {
            info.name = to.into();
        }
    }
}

/// Sets the leading dimension to `N`: always (`only_if = None`) or only where it is the
/// given static value.
fn set_batch_symbol(info: &mut ValueInfoProto, only_if: Option<i64>) {
    let tensor = info.type_.mut_or_insert_default().mut_tensor_type();
    let shape = tensor.shape.mut_or_insert_default();
    if let Some(dim) = shape.dim.first_mut() {
        let is_static_batch = dim.has_dim_value() && Some(dim.dim_value()) == only_if;
        if only_if.is_none() || is_static_batch {
            dim.set_dim_param(BATCH_SYMBOL.into());
        }
    }
}

/// The values of an int64 initializer, whichever of its two encodings (`int64_data` or
/// little-endian `raw_data`) the exporter used.
fn int64_values(init: &TensorProto) -> Vec<i64> {
    if !init.int64_data.is_empty() {
        init.int64_data.clone()
    } else {
        init.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect()
    }
}
