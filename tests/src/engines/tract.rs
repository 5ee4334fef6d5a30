//! tract: the ONNX file loaded once through the compiler's one tract runner
//! ([`edgegan_compiler::tract`]), its interface checked against the contract, then
//! optimised with the batch left symbolic and planned once; every case runs the same plan.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use edgegan_compiler::tract::{OnnxFact, OnnxInput, OnnxRunner, OnnxType, TractError, TypedOnnx};
use edgegan_runtime::contract::keys;

use crate::case::{CaseInputs, NamedTensor};
use crate::engine::{
    CaseErrors, DType, Engine, EngineError, IoSpec, Output, check_case, check_model_io,
    label_classes,
};
use crate::engines::panic_message;

/// The tract engine for one ONNX file.
pub struct TractEngine {
    path: PathBuf,
    runner: OnnxRunner,
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
        let (runner, inputs, classes) = match built {
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
            runner,
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

type Plan = (OnnxRunner, Vec<IoSpec>, Option<usize>);

/// A tract error without the path (the engine's errors name the file themselves).
fn message(e: TractError) -> String {
    match e {
        TractError::Load { message, .. } => message,
        other => other.to_string(),
    }
}

fn build(path: &Path) -> Result<Plan, Built> {
    let typed = TypedOnnx::from_path(path).map_err(|e| Built::Load(message(e)))?;
    let inputs = io_specs(typed.inputs());
    let outputs = io_specs(typed.outputs());
    check_model_io(&inputs, &outputs).map_err(Built::Contract)?;
    let classes = label_classes(&inputs, typed.metadata(keys::CLASSES)).map_err(Built::Contract)?;
    let runner = typed
        .into_runner()
        .map_err(|e| Built::Load(format!("cannot optimise: {}", message(e))))?;
    Ok((runner, inputs, classes))
}

/// The model's inputs (or outputs) as the contract checks see them.
fn io_specs(facts: &[OnnxFact]) -> Vec<IoSpec> {
    facts
        .iter()
        .map(|f| IoSpec {
            name: f.name.clone(),
            dtype: match &f.dtype {
                OnnxType::F32 => DType::F32,
                OnnxType::I64 => DType::I64,
                OnnxType::Other(name) => DType::Other(name.clone()),
            },
            dims: f.dims.clone(),
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
        let inputs: Vec<OnnxInput<'_>> = tensors
            .iter()
            .map(|t| match t {
                NamedTensor::F32(name, a) => OnnxInput::F32 {
                    name,
                    shape: a.shape(),
                    data: a.data(),
                },
                NamedTensor::I64(name, a) => OnnxInput::I64 {
                    name,
                    shape: a.shape(),
                    data: a.data(),
                },
            })
            .collect();
        if let Some(spec) = self
            .inputs
            .iter()
            .find(|spec| !inputs.iter().any(|i| i.name() == spec.name))
        {
            return Err(err.input(format!("no input `{}`", spec.name)));
        }
        // Out-of-range labels and the like reach kernels that may assert; keep the
        // "error, never a panic" promise of the trait.
        let x = catch_unwind(AssertUnwindSafe(|| self.runner.run(&inputs)))
            .map_err(|p| err.run(format!("tract panicked: {}", panic_message(p.as_ref()))))?
            .map_err(|e| err.run(message(e)))?;
        err.output(x.shape, x.data)
    }
}
