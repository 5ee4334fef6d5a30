//! burn-import: Burn again, but reading our ONNX instead of our checkpoint. `tests/build.rs`
//! runs burn-onnx's import (`ModelGen`, weights embedded) on every
//! `models/*/generator.onnx` when the tests are built; the generated Rust runs here on
//! the flex CPU backend, like the trainer. It is a third reader of the ONNX file,
//! independent of tract and ONNX Runtime, and shares no code with the `burn` engine but
//! the backend.
//!
//! A model the importer could not lower is a load error naming the model and the
//! importer's message (the build itself does not fail, so the other engines still run).

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::array::Array;
use crate::case::{CaseInputs, Condition, NamedTensor};
use crate::engine::{
    CaseErrors, DType, Engine, EngineError, IoSpec, Output, check_case, check_model_io,
};
use crate::engines::panic_message;
use crate::model::{ConditionKind, ModelDir, sha256_hex};

const NAME: &str = "burn-import";

/// A graph input as the build script read it: name, whether it is int64 (else float32),
/// and its dimensions (`None` where symbolic).
pub type InputSpec = (&'static str, bool, &'static [Option<usize>]);

/// A generated model with its adapter (written by `tests/build.rs`).
pub trait Runner {
    /// the graph's inputs, in its order
    fn inputs(&self) -> &'static [InputSpec];
    /// the rank of the output `x`
    fn output_rank(&self) -> usize;
    /// runs `forward` on the case's tensors: the output's shape and values
    fn run(&self, inputs: &[NamedTensor<'_>]) -> Result<(Vec<usize>, Vec<f32>), String>;
}

/// What the build script made of a model folder.
pub enum Imported {
    /// the generated model: loads its embedded weights onto a device
    Model(fn(&Device) -> Box<dyn Runner>),
    /// the importer could not lower it: why
    Failed(String),
}

fn find<'a, 'b>(
    spec: &InputSpec,
    inputs: &'a [NamedTensor<'b>],
) -> Result<&'a NamedTensor<'b>, String> {
    inputs
        .iter()
        .find(|t| t.name() == spec.0)
        .ok_or_else(|| format!("no input `{}`", spec.0))
}

fn dims<const D: usize>(spec: &InputSpec, shape: &[usize]) -> Result<[usize; D], String> {
    shape
        .try_into()
        .map_err(|_| format!("input `{}` has shape {shape:?}, rank {D} expected", spec.0))
}

/// The float32 input `spec` of the case as a Burn tensor.
pub fn float_input<const D: usize>(
    spec: &InputSpec,
    inputs: &[NamedTensor<'_>],
    device: &Device,
) -> Result<Tensor<D>, String> {
    match find(spec, inputs)? {
        NamedTensor::F32(_, a) => Ok(Tensor::<D>::from_data(
            TensorData::new(a.data().to_vec(), dims::<D>(spec, a.shape())?),
            device,
        )),
        NamedTensor::I64(..) => Err(format!("input `{}` is int64, not float32", spec.0)),
    }
}

/// The int64 input `spec` of the case as a Burn tensor.
pub fn int_input<const D: usize>(
    spec: &InputSpec,
    inputs: &[NamedTensor<'_>],
    device: &Device,
) -> Result<Tensor<D, Int>, String> {
    match find(spec, inputs)? {
        NamedTensor::I64(_, a) => Ok(Tensor::<D, Int>::from_data(
            TensorData::new(a.data().to_vec(), dims::<D>(spec, a.shape())?),
            device,
        )),
        NamedTensor::F32(..) => Err(format!("input `{}` is float32, not int64", spec.0)),
    }
}

/// The output's shape and values.
pub fn float_output<const D: usize>(x: Tensor<D>) -> Result<(Vec<usize>, Vec<f32>), String> {
    let shape = x.dims().to_vec();
    let data = x
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("output `x`: {e:?}"))?;
    Ok((shape, data))
}

#[allow(
    clippy::all,
    missing_docs,
    unused,
    unreachable_pub,
    non_camel_case_types
)]
mod generated {
    use super::{Imported, InputSpec, Runner, float_input, float_output, int_input};
    use crate::case::NamedTensor;
    include!(concat!(env!("OUT_DIR"), "/burn_import/registry.rs"));
}

/// SHA-256 (hex) of the model's ONNX file; empty when it cannot be read.
fn onnx_sha256(model: &ModelDir) -> String {
    std::fs::read(model.onnx_path())
        .map(|b| sha256_hex(&b))
        .unwrap_or_default()
}

/// The burn-import engine for one model folder.
pub struct BurnImportEngine {
    model: String,
    runner: Box<dyn Runner>,
    inputs: Vec<IoSpec>,
    classes: Option<usize>,
    /// the generated graph has its batch fixed to 1: run a case row by row
    per_row: bool,
}

impl std::fmt::Debug for BurnImportEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurnImportEngine")
            .field("model", &self.model)
            .field("inputs", &self.inputs)
            .field("per_row", &self.per_row)
            .finish_non_exhaustive()
    }
}

impl BurnImportEngine {
    /// The model generated from `model`'s `generator.onnx` at build time, with its
    /// embedded weights loaded.
    pub fn load(model: &ModelDir) -> Result<BurnImportEngine, EngineError> {
        let load_err = |message: String| EngineError::Load {
            engine: NAME.into(),
            path: model.onnx_path(),
            message,
        };
        let make = match generated::lookup(&model.name) {
            None => {
                return Err(load_err(format!(
                    "model `{}` was not imported: tests/build.rs generates Burn code for \
                     every models/*/generator.onnx when the tests are built; rebuild them \
                     (`cargo test --release -p edgegan-tests`)",
                    model.name
                )));
            }
            Some((sha256, _)) if sha256 != onnx_sha256(model) => {
                return Err(load_err(format!(
                    "model `{}`: generator.onnx is not the file imported when the tests \
                     were built; rebuild them (`cargo test --release -p edgegan-tests`)",
                    model.name
                )));
            }
            Some((_, Imported::Failed(why))) => {
                return Err(load_err(format!(
                    "burn-onnx import cannot lower model `{}`: {why}",
                    model.name
                )));
            }
            Some((_, Imported::Model(make))) => make,
        };
        let runner = catch_unwind(AssertUnwindSafe(|| make(&Device::flex()))).map_err(|p| {
            load_err(format!(
                "loading the embedded weights of `{}` panicked: {}",
                model.name,
                panic_message(p.as_ref())
            ))
        })?;
        let inputs: Vec<IoSpec> = runner
            .inputs()
            .iter()
            .map(|(name, int, dims)| IoSpec {
                name: (*name).to_string(),
                dtype: if *int { DType::I64 } else { DType::F32 },
                dims: dims.to_vec(),
            })
            .collect();
        let output = IoSpec {
            name: "x".into(),
            dtype: DType::F32,
            dims: vec![None; runner.output_rank()],
        };
        check_model_io(&inputs, &[output]).map_err(|message| EngineError::Contract {
            engine: NAME.into(),
            path: model.onnx_path(),
            message,
        })?;
        let classes = match &model.info.condition {
            ConditionKind::Label { class_names } => Some(class_names.len()),
            _ => None,
        };
        // A fixed batch of 1 is run row by row; any other fixed batch would only fit
        // cases of that batch.
        let batches: Vec<usize> = inputs.iter().filter_map(|i| i.dims[0]).collect();
        let per_row = match batches.as_slice() {
            [] => false,
            b if b.iter().all(|&n| n == 1) => true,
            b => {
                return Err(load_err(format!(
                    "the imported model of `{}` has its batch fixed to {b:?}",
                    model.name
                )));
            }
        };
        // the case check below then sees a symbolic batch
        let inputs = inputs
            .into_iter()
            .map(|mut i| {
                i.dims[0] = None;
                i
            })
            .collect();
        Ok(BurnImportEngine {
            model: model.name.clone(),
            runner,
            inputs,
            classes,
            per_row,
        })
    }

    fn forward(&self, err: &CaseErrors<'_>, case: &CaseInputs) -> Result<Output, EngineError> {
        let tensors = case.tensors();
        let (shape, data) = catch_unwind(AssertUnwindSafe(|| self.runner.run(&tensors)))
            .map_err(|p| err.run(format!("Burn panicked: {}", panic_message(p.as_ref()))))?
            .map_err(|m| err.run(m))?;
        err.output(shape, data)
    }
}

impl Engine for BurnImportEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors { engine: NAME, case };
        check_case(&self.inputs, self.classes, case).map_err(|m| err.input(m))?;
        if !self.per_row || case.batch() == 1 {
            return self.forward(&err, case);
        }
        let mut shape = Vec::new();
        let mut data = Vec::new();
        for row in 0..case.batch() {
            let one = row_of(case, row).map_err(|m| err.input(m))?;
            let x = self.forward(
                &CaseErrors {
                    engine: NAME,
                    case: &one,
                },
                &one,
            )?;
            shape = x.shape().to_vec();
            data.extend_from_slice(x.data());
        }
        shape[0] = case.batch();
        err.output(shape, data)
    }
}

/// Row `i` of every input of `case`, as a case of batch 1.
fn row_of(case: &CaseInputs, i: usize) -> Result<CaseInputs, String> {
    fn row<T: Clone>(a: &Array<T>, i: usize) -> Result<Array<T>, String> {
        let per_row = a.len() / a.batch().unwrap_or(1).max(1);
        let mut shape = a.shape().to_vec();
        shape[0] = 1;
        Array::new(shape, a.data()[i * per_row..(i + 1) * per_row].to_vec())
    }
    let condition = match &case.condition {
        Condition::None => Condition::None,
        Condition::Label(l) => Condition::Label(row(l, i)?),
        Condition::Mask { mask, masked } => Condition::Mask {
            mask: row(mask, i)?,
            masked: row(masked, i)?,
        },
    };
    Ok(CaseInputs {
        name: format!("{}-row{i}", case.name),
        z: row(&case.z, i)?,
        condition,
    })
}
