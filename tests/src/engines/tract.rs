//! tract: the ONNX file loaded once, optimised (`into_optimized`) with the batch left
//! symbolic, and planned once; every case runs the same plan.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgegan_compiler::contract::tract_metadata;
use edgegan_runtime::contract::keys;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use crate::case::{CaseInputs, NamedTensor};
use crate::engine::{
    CaseErrors, DType, Engine, EngineError, IoSpec, Output, check_case, check_model_io,
    label_classes,
};
use crate::engines::panic_message;

/// The tract engine for one ONNX file.
pub struct TractEngine {
    path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<IoSpec>,
    classes: Option<usize>,
}

impl std::fmt::Debug for TractEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractEngine")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "tract";

impl TractEngine {
    /// Loads, checks against the contract, optimises and plans the model at `path`.
    pub fn load(path: &Path) -> Result<TractEngine, EngineError> {
        let load_err = |message: String| EngineError::Load {
            engine: NAME.into(),
            path: path.to_path_buf(),
            message,
        };
        // tract reports most bad files as errors, but some malformed graphs trip its
        // internal assertions; a panic here must still be an error for the caller.
        let built = catch_unwind(AssertUnwindSafe(|| build(path)))
            .map_err(|p| load_err(format!("tract panicked: {}", panic_message(p.as_ref()))))?;
        let (plan, inputs, classes) = match built {
            Ok(b) => b,
            Err(Built::Load(m)) => return Err(load_err(m)),
            Err(Built::Contract(message)) => {
                return Err(EngineError::Contract {
                    engine: NAME.into(),
                    path: path.to_path_buf(),
                    message,
                });
            }
        };
        Ok(TractEngine {
            path: path.to_path_buf(),
            plan,
            inputs,
            classes,
        })
    }
}

/// Why [`build`] failed: the file, or the contract.
enum Built {
    Load(String),
    Contract(String),
}

type Plan = (Arc<TypedRunnableModel>, Vec<IoSpec>, Option<usize>);

fn build(path: &Path) -> Result<Plan, Built> {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .map_err(|e| Built::Load(format!("{e:#}")))?;
    let classes_value = tract_metadata(&model, keys::CLASSES);
    let typed = model
        .into_typed()
        .map_err(|e| Built::Load(format!("cannot type the graph: {e:#}")))?;
    let inputs = io_specs(&typed, true).map_err(Built::Load)?;
    let outputs = io_specs(&typed, false).map_err(Built::Load)?;
    check_model_io(&inputs, &outputs).map_err(Built::Contract)?;
    let classes = label_classes(&inputs, classes_value.as_deref()).map_err(Built::Contract)?;
    let plan = typed
        .into_optimized()
        .map_err(|e| Built::Load(format!("cannot optimise: {e:#}")))?
        .into_runnable()
        .map_err(|e| Built::Load(format!("cannot plan: {e:#}")))?;
    Ok((plan, inputs, classes))
}

/// The model's inputs (or outputs) as the contract checks see them.
fn io_specs(model: &TypedModel, inputs: bool) -> Result<Vec<IoSpec>, String> {
    let outlets = if inputs {
        model.input_outlets()
    } else {
        model.output_outlets()
    }
    .map_err(|e| format!("{e:#}"))?;
    outlets
        .iter()
        .map(|&o| {
            let fact = model.outlet_fact(o).map_err(|e| format!("{e:#}"))?;
            let name = if inputs {
                model.node(o.node).name.clone()
            } else {
                model
                    .outlet_label(o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_string()
            };
            let dtype = match fact.datum_type {
                DatumType::F32 => DType::F32,
                DatumType::I64 => DType::I64,
                other => DType::Other(format!("{other:?}")),
            };
            let dims = fact.shape.iter().map(|d| d.to_usize().ok()).collect();
            Ok(IoSpec { name, dtype, dims })
        })
        .collect()
}

impl Engine for TractEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors { engine: NAME, case };
        check_case(&self.inputs, self.classes, case).map_err(|m| err.input(m))?;
        let tensors = case.tensors();
        let mut values: TVec<TValue> = tvec![];
        for spec in &self.inputs {
            let Some(t) = tensors.iter().find(|t| t.name() == spec.name) else {
                return Err(err.input(format!("no input `{}`", spec.name)));
            };
            let tensor = match t {
                NamedTensor::F32(_, a) => Tensor::from_shape(a.shape(), a.data()),
                NamedTensor::I64(_, a) => Tensor::from_shape(a.shape(), a.data()),
            }
            .map_err(|e| err.input(format!("{e:#}")))?;
            values.push(tensor.into());
        }
        // Out-of-range labels and the like reach kernels that may assert; keep the
        // "error, never a panic" promise of the trait.
        let result = catch_unwind(AssertUnwindSafe(|| self.plan.run(values)))
            .map_err(|p| err.run(format!("tract panicked: {}", panic_message(p.as_ref()))))?
            .map_err(|e| err.run(format!("{e:#}")))?;
        let [x] = result.as_slice() else {
            return Err(err.run(format!("{} outputs, expected 1", result.len())));
        };
        let view = x
            .to_plain_array_view::<f32>()
            .map_err(|e| err.run(format!("output `x` is not float32: {e:#}")))?;
        err.output(view.shape().to_vec(), view.iter().copied().collect())
    }
}
