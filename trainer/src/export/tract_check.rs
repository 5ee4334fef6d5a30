//! The export's own tract runner: runs a written ONNX generator with tract (what the
//! self-check compares with Burn) and types a graph at batch 1 (what the Resize rewrite
//! needs). Its API is these two functions, so a shared tract runner can replace it.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use super::contract::ConditionInput;
use super::export_err;
use crate::error::{Result, panic_message};

/// Runs an ONNX generator with tract (optimised plan, batch from the inputs): `z` is
/// row-major `[N, Z]`, `condition` the `N` class indices of a label-conditioned model,
/// the `[N, C, H, W]` mask and masked image of an inpainting one, or nothing. Returns `x`
/// row-major. A missing, truncated or corrupted file, input names other than the
/// contract's, or inputs of the wrong shape give an error, never a panic.
pub fn run_onnx(path: &Path, z: &[f32], condition: ConditionInput<'_>) -> Result<Vec<f32>> {
    if !path.is_file() {
        return Err(export_err(path, "no such ONNX file"));
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| engine::run(path, z, condition))) {
        Ok(result) => result.map_err(|m| export_err(path, m)),
        Err(payload) => Err(export_err(
            path,
            format!(
                "tract failed on this model (it panicked: {})",
                panic_message(payload.as_ref())
            ),
        )),
    }
}

/// Types the ONNX model in `bytes` with tract at the given input shapes (`(is_float,
/// dims)` per graph input: float32 or int64) and returns the input shape of each named
/// node. A tract panic is an error.
pub(super) fn node_input_shapes(
    bytes: &[u8],
    inputs: &[(bool, Vec<usize>)],
    names: &[String],
) -> std::result::Result<Vec<Vec<usize>>, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        engine::node_input_shapes(bytes, inputs, names)
    }))
    .map_err(|p| {
        format!(
            "tract panicked while typing the graph: {}",
            panic_message(p.as_ref())
        )
    })?
}

/// tract's own names (its `Tensor`, its prelude) kept apart from the rest of the export.
mod engine {
    use std::path::Path;

    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::internal::DimLike;

    /// Types the ONNX model at batch 1 and returns the input shape of each named node.
    pub(super) fn node_input_shapes(
        bytes: &[u8],
        inputs: &[(bool, Vec<usize>)],
        names: &[String],
    ) -> std::result::Result<Vec<Vec<usize>>, String> {
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| format!("tract cannot load it: {e:#}"))?;
        for (i, (is_float, dims)) in inputs.iter().enumerate() {
            let dt = if *is_float {
                f32::datum_type()
            } else {
                i64::datum_type()
            };
            model
                .set_input_fact(i, InferenceFact::dt_shape(dt, dims.clone()))
                .map_err(|e| format!("{e:#}"))?;
        }
        let typed = model
            .into_typed()
            .map_err(|e| format!("tract cannot type it at batch 1: {e:#}"))?;
        names
            .iter()
            .map(|name| {
                let node = typed
                    .nodes()
                    .iter()
                    .find(|n| &n.name == name)
                    .ok_or_else(|| format!("node `{name}` not found after typing"))?;
                let fact = typed
                    .outlet_fact(node.inputs[0])
                    .map_err(|e| format!("{e:#}"))?;
                fact.shape
                    .iter()
                    .map(|d| d.to_usize().map_err(|e| format!("{e:#}")))
                    .collect()
            })
            .collect()
    }

    use super::super::contract::{
        ConditionInput, LABEL_INPUT, MASK_INPUT, MASKED_INPUT, NOISE_INPUT, OUTPUT,
    };

    pub(super) fn run(
        path: &Path,
        z: &[f32],
        condition: ConditionInput<'_>,
    ) -> std::result::Result<Vec<f32>, String> {
        let labels = match condition {
            ConditionInput::Label(l) => Some(l),
            _ => None,
        };
        let masks = match condition {
            ConditionInput::Mask { mask, masked } => Some((mask, masked)),
            _ => None,
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| format!("tract cannot load it: {e:#}"))?;
        let inputs = model.input_outlets().map_err(|e| format!("{e:#}"))?;
        let names: Vec<String> = inputs
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let mut expected = vec![NOISE_INPUT.to_string()];
        if labels.is_some() {
            expected.push(LABEL_INPUT.into());
        }
        if masks.is_some() {
            expected.extend([MASK_INPUT.to_string(), MASKED_INPUT.to_string()]);
        }
        let mut sorted = names.clone();
        sorted.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        if sorted != expected_sorted {
            return Err(format!(
                "the model's inputs are {names:?}, expected {expected:?}{}",
                match condition {
                    ConditionInput::Label(_) =>
                        " (labels were given: a label-conditioned model was expected)",
                    ConditionInput::Mask { .. } =>
                        " (masks were given: an inpainting model was expected)",
                    ConditionInput::None =>
                        " (no labels were given: an unconditional model was expected)",
                }
            ));
        }
        let outputs = model.output_outlets().map_err(|e| format!("{e:#}"))?;
        let output_names: Vec<Option<&str>> =
            outputs.iter().map(|&o| model.outlet_label(o)).collect();
        if output_names != [Some(OUTPUT)] {
            return Err(format!(
                "the model's outputs are {output_names:?}, expected [\"{OUTPUT}\"]"
            ));
        }

        let model = model
            .into_optimized()
            .map_err(|e| format!("tract cannot optimise it: {e:#}"))?;
        let mut values: TVec<TValue> = tvec![];
        let mut batch = 0;
        for (i, name) in names.iter().enumerate() {
            let fact = model.input_fact(i).map_err(|e| format!("{e:#}"))?;
            if name == NOISE_INPUT {
                if fact.datum_type != f32::datum_type() || fact.shape.rank() != 2 {
                    return Err(format!("input `z` is {fact:?}, expected float32 [N, Z]"));
                }
                let noise_dim = fact.shape[1]
                    .to_usize()
                    .map_err(|e| format!("input `z` has no fixed noise dimension: {e:#}"))?;
                if z.is_empty() || noise_dim == 0 || !z.len().is_multiple_of(noise_dim) {
                    return Err(format!(
                        "{} noise values do not form [N, {noise_dim}] rows for input `z`",
                        z.len()
                    ));
                }
                batch = z.len() / noise_dim;
                let t = Tensor::from_shape(&[batch, noise_dim], z).map_err(|e| format!("{e:#}"))?;
                values.push(t.into());
            } else if name == MASK_INPUT || name == MASKED_INPUT {
                if fact.datum_type != f32::datum_type() || fact.shape.rank() != 4 {
                    return Err(format!(
                        "input `{name}` is {fact:?}, expected float32 [N, C, H, W]"
                    ));
                }
                let mut dims = Vec::with_capacity(3);
                for d in 1..4 {
                    dims.push(fact.shape[d].to_usize().map_err(|e| {
                        format!("input `{name}` has no fixed image dimensions: {e:#}")
                    })?);
                }
                let per: usize = dims.iter().product();
                let (mask, masked) = masks.unwrap_or_default();
                let data = if name == MASK_INPUT { mask } else { masked };
                if per == 0 || data.is_empty() || !data.len().is_multiple_of(per) {
                    return Err(format!(
                        "{} values do not form [N, {}, {}, {}] images for input `{name}`",
                        data.len(),
                        dims[0],
                        dims[1],
                        dims[2]
                    ));
                }
                let t = Tensor::from_shape(&[data.len() / per, dims[0], dims[1], dims[2]], data)
                    .map_err(|e| format!("{e:#}"))?;
                values.push(t.into());
            } else {
                if fact.datum_type != i64::datum_type() || fact.shape.rank() != 1 {
                    return Err(format!("input `label` is {fact:?}, expected int64 [N]"));
                }
                let l = labels.unwrap_or_default();
                let t = Tensor::from_shape(&[l.len()], l).map_err(|e| format!("{e:#}"))?;
                values.push(t.into());
            }
        }
        if let Some(l) = labels
            && l.len() != batch
        {
            return Err(format!(
                "{} labels for a batch of {batch} noise rows",
                l.len()
            ));
        }
        if let Some(first) = values.get(2).or(values.get(1))
            && masks.is_some()
            && first.shape().first() != Some(&batch)
        {
            return Err(format!(
                "{} mask images for a batch of {batch} noise rows",
                first.shape().first().copied().unwrap_or(0)
            ));
        }
        let plan = model
            .into_runnable()
            .map_err(|e| format!("tract cannot plan it: {e:#}"))?;
        let result = plan
            .run(values)
            .map_err(|e| format!("tract failed to run it: {e:#}"))?;
        let [x] = result.as_slice() else {
            return Err(format!(
                "the model returned {} outputs, expected 1",
                result.len()
            ));
        };
        let view = x
            .to_plain_array_view::<f32>()
            .map_err(|e| format!("output `x` is not float32: {e:#}"))?;
        if view.shape().first() != Some(&batch) {
            return Err(format!(
                "output `x` has shape {:?} for a batch of {batch}",
                view.shape()
            ));
        }
        Ok(view.iter().copied().collect())
    }
}
