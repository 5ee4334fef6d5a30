//! The export's use of the compiler's one tract runner ([`edgegan_compiler::tract`]):
//! runs a written ONNX generator (what the self-check compares with Burn), after checking
//! its inputs against the condition given, and types a graph at batch 1 (what the Resize
//! rewrite needs).

use std::panic::AssertUnwindSafe;
use std::path::Path;

use edgegan_compiler::tract::{OnnxInput, OnnxType, TractError, TypedOnnx};
use edgegan_runtime::contract::{LABEL, MASK, MASKED, X, Z};

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
    match std::panic::catch_unwind(AssertUnwindSafe(|| run(path, z, condition))) {
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
        let facts: Vec<(OnnxType, &[usize])> = inputs
            .iter()
            .map(|(is_float, dims)| {
                let dtype = if *is_float {
                    OnnxType::F32
                } else {
                    OnnxType::I64
                };
                (dtype, dims.as_slice())
            })
            .collect();
        let typed = TypedOnnx::from_bytes_at(bytes, &facts)
            .map_err(|e| format!("tract cannot type it at batch 1: {}", message(e)))?;
        names
            .iter()
            .map(|name| {
                typed
                    .node_input_dims(name)
                    .ok_or_else(|| format!("node `{name}` not found after typing"))?
                    .into_iter()
                    .map(|d| {
                        d.ok_or_else(|| format!("node `{name}` has a symbolic input dimension"))
                    })
                    .collect()
            })
            .collect()
    }))
    .map_err(|p| {
        format!(
            "tract panicked while typing the graph: {}",
            panic_message(p.as_ref())
        )
    })?
}

/// A tract error without the path (the export's errors name the file themselves).
fn message(e: TractError) -> String {
    match e {
        TractError::Load { message, .. } => message,
        other => other.to_string(),
    }
}

fn run(
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
    let model =
        TypedOnnx::from_path(path).map_err(|e| format!("tract cannot load it: {}", message(e)))?;
    let names: Vec<String> = model.inputs().iter().map(|f| f.name.clone()).collect();
    let mut expected = vec![Z];
    if labels.is_some() {
        expected.push(LABEL);
    }
    if masks.is_some() {
        expected.extend([MASK, MASKED]);
    }
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_unstable();
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
    let output_names: Vec<&str> = model.outputs().iter().map(|f| f.name.as_str()).collect();
    if output_names != [X] {
        return Err(format!(
            "the model's outputs are {output_names:?}, expected [\"{X}\"]"
        ));
    }

    let mut shapes: Vec<Vec<usize>> = Vec::new();
    let mut batch = 0;
    for fact in model.inputs() {
        let name = fact.name.as_str();
        if name == Z {
            let noise_dim = match (&fact.dtype, &fact.dims[..]) {
                (OnnxType::F32, [_, d]) => d.ok_or("input `z` has no fixed noise dimension")?,
                _ => return Err(format!("input `z` is {fact:?}, expected float32 [N, Z]")),
            };
            if z.is_empty() || noise_dim == 0 || !z.len().is_multiple_of(noise_dim) {
                return Err(format!(
                    "{} noise values do not form [N, {noise_dim}] rows for input `z`",
                    z.len()
                ));
            }
            batch = z.len() / noise_dim;
            shapes.push(vec![batch, noise_dim]);
        } else if name == MASK || name == MASKED {
            let (OnnxType::F32, [_, c, h, w]) = (&fact.dtype, &fact.dims[..]) else {
                return Err(format!(
                    "input `{name}` is {fact:?}, expected float32 [N, C, H, W]"
                ));
            };
            let mut dims = [0usize; 3];
            for (d, fixed) in dims.iter_mut().zip([c, h, w]) {
                *d =
                    fixed.ok_or_else(|| format!("input `{name}` has no fixed image dimensions"))?;
            }
            let per: usize = dims.iter().product();
            let (mask, masked) = masks.unwrap_or_default();
            let data = if name == MASK { mask } else { masked };
            if per == 0 || data.is_empty() || !data.len().is_multiple_of(per) {
                return Err(format!(
                    "{} values do not form [N, {}, {}, {}] images for input `{name}`",
                    data.len(),
                    dims[0],
                    dims[1],
                    dims[2]
                ));
            }
            shapes.push(vec![data.len() / per, dims[0], dims[1], dims[2]]);
        } else {
            if fact.dtype != OnnxType::I64 || fact.dims.len() != 1 {
                return Err(format!("input `label` is {fact:?}, expected int64 [N]"));
            }
            shapes.push(vec![labels.unwrap_or_default().len()]);
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
    if let Some(first) = shapes.get(2).or(shapes.get(1))
        && masks.is_some()
        && first.first() != Some(&batch)
    {
        return Err(format!(
            "{} mask images for a batch of {batch} noise rows",
            first.first().copied().unwrap_or(0)
        ));
    }
    let inputs: Vec<OnnxInput<'_>> = names
        .iter()
        .zip(&shapes)
        .map(|(name, shape)| match name.as_str() {
            n if n == Z => OnnxInput::F32 {
                name,
                shape,
                data: z,
            },
            n if n == MASK || n == MASKED => {
                let (mask, masked) = masks.unwrap_or_default();
                let data = if n == MASK { mask } else { masked };
                OnnxInput::F32 { name, shape, data }
            }
            _ => OnnxInput::I64 {
                name,
                shape,
                data: labels.unwrap_or_default(),
            },
        })
        .collect();
    let runner = model
        .into_runner()
        .map_err(|e| format!("tract cannot optimise it: {}", message(e)))?;
    let x = runner
        .run(&inputs)
        .map_err(|e| format!("tract failed to run it: {}", message(e)))?;
    if x.shape.first() != Some(&batch) {
        return Err(format!(
            "output `x` has shape {:?} for a batch of {batch}",
            x.shape
        ));
    }
    Ok(x.data)
}
