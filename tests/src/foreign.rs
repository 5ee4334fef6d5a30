//! Foreign generators (the corpus under `tests/corpus/<name>/`, written by
//! `scripts/make-corpus.py`, and the shipped `models/foreign/<name>/`, e.g. the DCGAN
//! `scripts/train-torch-dcgan.py` trains): ONNX files whose inputs and output have the names their
//! framework gave them, with stored inputs (`z.npy`, and `label.npy` or `mask.npy` +
//! `masked.npy`) and ONNX Runtime's outputs on them (`output.npy`).
//!
//! The cross-engine suite runs them through the same [`Engine`] trait as the shipped
//! models: the compile's resolved roles map the contract's input names (`z`, `label`,
//! `mask`, `masked`) to the graph's, so tract and ONNX Runtime run the file as it is, and
//! the device runtime runs the `.egm` models compiled in memory with the roles inferred.
//! Burn has no checkpoint of these models (they were not trained by edgegan), and the
//! burn-import engine is generated at build time from `models/` only.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use edgegan_compiler::compile::{CompileOptions, CompiledModel, compile_onnx};
use edgegan_compiler::tract::{OnnxInput, OnnxRunner, OnnxType, TypedOnnx};
use edgegan_runtime::{ConditionKind, DeviceModel, WeightFormat};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::array::Array;
use crate::case::{CaseInputs, Condition, NamedTensor};
use crate::engine::{CaseErrors, Engine, EngineError, Output};
use crate::engines::egm::{engine_name, sample_rows};
use crate::engines::ort::environment;
use crate::npy;

/// The corpus folder's name for a skipped sub-folder: models that must fail to compile.
pub const BAD_DIR: &str = "bad";

/// `<repo>/tests/corpus`.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// `<repo>/models/foreign`: shipped generators trained by other frameworks (PyTorch), each
/// with its framework's stored inputs and outputs like a corpus model.
pub fn foreign_models_root() -> PathBuf {
    crate::model::models_root().join("foreign")
}

/// Every corpus model folder (one with a `generator.onnx`), listed at run time and sorted,
/// without [`BAD_DIR`]. A folder without `generator.onnx` is an error, not a skip.
pub fn corpus_models(root: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: {e}", root.display()))?
            .path();
        if !path.is_dir() || path.file_name().is_some_and(|n| n == BAD_DIR) {
            continue;
        }
        if !path.join("generator.onnx").is_file() {
            return Err(format!("{}: no generator.onnx", path.display()));
        }
        dirs.push(path);
    }
    dirs.sort();
    Ok(dirs)
}

/// One corpus model: its file, the compile (roles inferred), the stored case and ONNX
/// Runtime's stored output.
pub struct ForeignModel {
    /// The folder's name.
    pub name: String,
    /// `generator.onnx`.
    pub onnx: PathBuf,
    /// The compile with the roles inferred.
    pub compiled: CompiledModel,
    /// The stored inputs under the contract's names.
    pub case: CaseInputs,
    /// ONNX Runtime's output on them, when the corpus was written.
    pub stored: Output,
    /// The condition the compiled models take.
    pub kind: ConditionKind,
    /// The noise input's batch size when the graph fixes it (torch.onnx.export without
    /// `dynamic_axes`): the engines that run the ONNX take no other.
    pub fixed_batch: Option<usize>,
}

/// The batch size `onnx` fixes for its input `input` (its first dimension, when a number).
fn fixed_batch(onnx: &Path, input: &str) -> Result<Option<usize>, String> {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx()
        .proto_model_for_path(onnx)
        .map_err(|e| format!("{}: {e:#}", onnx.display()))?;
    let dim = proto
        .graph
        .iter()
        .flat_map(|g| &g.input)
        .find(|i| i.name == input)
        .and_then(|i| i.r#type.as_ref())
        .and_then(|t| t.value.as_ref())
        .and_then(|v| {
            let tract_onnx::pb::type_proto::Value::TensorType(t) = v;
            t.shape.as_ref()
        })
        .and_then(|shape| shape.dim.first())
        .and_then(|d| match d.value {
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                usize::try_from(v).ok()
            }
            _ => None,
        });
    Ok(dim)
}

/// `bytes` copied into 16-byte aligned words, as [`DeviceModel::from_bytes`] needs.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

fn read<T: crate::npy::Element>(path: &Path) -> Result<Array<T>, String> {
    npy::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl ForeignModel {
    /// Compiles `dir/generator.onnx` and reads the stored inputs and output.
    pub fn load(dir: &Path) -> Result<ForeignModel, String> {
        let name = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        let onnx = dir.join("generator.onnx");
        let compiled = compile_onnx(&onnx, &CompileOptions::default())
            .map_err(|e| format!("{name}: compile: {e}"))?;
        let z = read::<f32>(&dir.join("z.npy"))?;
        let roles = &compiled.roles;
        let condition = match (&roles.label, &roles.mask) {
            (Some(_), _) => Condition::Label(read::<i64>(&dir.join("label.npy"))?),
            (None, Some(_)) => Condition::Mask {
                mask: read::<f32>(&dir.join("mask.npy"))?,
                masked: read::<f32>(&dir.join("masked.npy"))?,
            },
            (None, None) => Condition::None,
        };
        let stored = read::<f32>(&dir.join("output.npy"))?;
        let words = aligned(&compiled.f32);
        let kind = DeviceModel::from_bytes(&bytemuck::cast_slice(&words)[..compiled.f32.len()])
            .map_err(|e| format!("{name}: the f32 model: {e}"))?
            .condition();
        let fixed_batch = fixed_batch(&onnx, &compiled.roles.noise)?;
        Ok(ForeignModel {
            kind,
            fixed_batch,
            case: CaseInputs {
                name: format!("{name}/stored"),
                z,
                condition,
            },
            name,
            onnx,
            compiled,
            stored,
        })
    }

    /// The graph's name for the contract's input `contract_name`.
    fn graph_name(&self, contract_name: &str) -> Option<&str> {
        let r = &self.compiled.roles;
        match contract_name {
            edgegan_runtime::contract::Z => Some(&r.noise),
            edgegan_runtime::contract::LABEL => r.label.as_deref(),
            edgegan_runtime::contract::MASK => r.mask.as_ref().map(|m| m.0.as_str()),
            edgegan_runtime::contract::MASKED => r.mask.as_ref().map(|m| m.1.as_str()),
            _ => None,
        }
    }

    /// The case's tensors under the graph's names.
    fn renamed<'c>(&self, case: &'c CaseInputs) -> Result<Vec<(String, NamedTensor<'c>)>, String> {
        case.tensors()
            .into_iter()
            .map(|t| {
                let name = self
                    .graph_name(t.name())
                    .ok_or_else(|| format!("the model has no role for input `{}`", t.name()))?;
                Ok((name.to_string(), t))
            })
            .collect()
    }

    /// Every engine that can run this model: the stored ONNX Runtime output, tract, a live
    /// ONNX Runtime session, and the device runtime on the three compiled formats.
    pub fn engines(self: &std::sync::Arc<Self>) -> Result<Vec<Box<dyn Engine>>, EngineError> {
        let mut engines: Vec<Box<dyn Engine>> = vec![
            Box::new(Stored(self.clone())),
            Box::new(ForeignTract::load(self.clone())?),
            Box::new(ForeignOrt::load(self.clone())?),
        ];
        for format in [WeightFormat::F32, WeightFormat::W8A32, WeightFormat::W8A8] {
            engines.push(Box::new(ForeignEgm {
                model: self.clone(),
                format,
            }));
        }
        Ok(engines)
    }
}

/// ONNX Runtime's output stored beside the model (the corpus's `golden`).
struct Stored(std::sync::Arc<ForeignModel>);

impl Engine for Stored {
    fn name(&self) -> &str {
        "golden"
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors {
            engine: "golden",
            case,
        };
        if *case != self.0.case {
            return Err(err.input("only the stored inputs have a stored output"));
        }
        Ok(self.0.stored.clone())
    }
}

/// tract on the file as it is, inputs renamed to the graph's.
struct ForeignTract {
    model: std::sync::Arc<ForeignModel>,
    /// The plan with the batch symbolic, or why tract could not make one: tf2onnx gives
    /// each input's batch its own symbol (`unk__138`, `unk__139`), which tract cannot unify
    /// at a Concat; such a model is planned per case at the case's shapes.
    runner: Result<OnnxRunner, String>,
    /// The file's bytes, for the per-case plans.
    bytes: Vec<u8>,
    /// The graph's inputs in its order (the per-case plan's facts follow it).
    input_order: Vec<String>,
}

impl ForeignTract {
    fn load(model: std::sync::Arc<ForeignModel>) -> Result<Self, EngineError> {
        let load_err = |message: String| EngineError::Load {
            engine: "tract".into(),
            path: model.onnx.clone(),
            message,
        };
        let bytes = std::fs::read(&model.onnx).map_err(|e| load_err(e.to_string()))?;
        let typed = TypedOnnx::from_bytes(&bytes).map_err(|e| load_err(e.to_string()));
        let input_order = match &typed {
            Ok(t) => t.inputs().iter().map(|f| f.name.clone()).collect(),
            Err(_) => graph_inputs(&model.onnx).map_err(load_err)?,
        };
        let runner = typed
            .and_then(|t| t.into_runner().map_err(|e| load_err(e.to_string())))
            .map_err(|e| e.to_string());
        Ok(ForeignTract {
            model,
            runner,
            bytes,
            input_order,
        })
    }
}

/// The graph inputs of `onnx` that are not initializers, in the graph's order.
fn graph_inputs(onnx: &Path) -> Result<Vec<String>, String> {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx()
        .proto_model_for_path(onnx)
        .map_err(|e| format!("{}: {e:#}", onnx.display()))?;
    let g = proto
        .graph
        .as_ref()
        .ok_or_else(|| format!("{}: no graph", onnx.display()))?;
    Ok(g.input
        .iter()
        .filter(|i| !g.initializer.iter().any(|t| t.name == i.name))
        .map(|i| i.name.clone())
        .collect())
}

impl Engine for ForeignTract {
    fn name(&self) -> &str {
        "tract"
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors {
            engine: "tract",
            case,
        };
        let named = self.model.renamed(case).map_err(|m| err.input(m))?;
        let inputs: Vec<OnnxInput<'_>> = named
            .iter()
            .map(|(name, t)| match t {
                NamedTensor::F32(_, a) => OnnxInput::F32 {
                    name,
                    shape: a.shape(),
                    data: a.data(),
                },
                NamedTensor::I64(_, a) => OnnxInput::I64 {
                    name,
                    shape: a.shape(),
                    data: a.data(),
                },
            })
            .collect();
        let x = match &self.runner {
            Ok(runner) => runner.run(&inputs),
            Err(symbolic) => {
                // planned at this case's shapes, in the graph's input order
                let mut facts = Vec::new();
                for name in &self.input_order {
                    let input = inputs
                        .iter()
                        .find(|i| i.name() == name)
                        .ok_or_else(|| err.input(format!("no input `{name}`")))?;
                    facts.push(match input {
                        OnnxInput::F32 { shape, .. } => (OnnxType::F32, *shape),
                        OnnxInput::I64 { shape, .. } => (OnnxType::I64, *shape),
                    });
                }
                TypedOnnx::from_bytes_at(&self.bytes, &facts)
                    .and_then(TypedOnnx::into_runner)
                    .and_then(|r| r.run(&inputs))
                    .map_err(|e| {
                        edgegan_compiler::tract::TractError::Run(format!(
                            "{e} (with the batch symbolic: {symbolic})"
                        ))
                    })
            }
        }
        .map_err(|e| err.run(e.to_string()))?;
        err.output(x.shape, x.data)
    }
}

/// A live ONNX Runtime session on the file, inputs renamed to the graph's (an int32 label
/// input gets the labels as int32).
struct ForeignOrt {
    model: std::sync::Arc<ForeignModel>,
    session: Mutex<Session>,
}

impl ForeignOrt {
    fn load(model: std::sync::Arc<ForeignModel>) -> Result<Self, EngineError> {
        let env = environment()?;
        let session = Session::builder(env)
            .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&model.onnx))
            .map_err(|e| EngineError::Load {
                engine: "ort".into(),
                path: model.onnx.clone(),
                message: e.to_string(),
            })?;
        Ok(ForeignOrt {
            model,
            session: Mutex::new(session),
        })
    }
}

impl Engine for ForeignOrt {
    fn name(&self) -> &str {
        "ort"
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors {
            engine: "ort",
            case,
        };
        let named = self.model.renamed(case).map_err(|m| err.input(m))?;
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let int32 = |name: &str| {
            session.inputs().iter().any(|i| {
                i.name() == name
                    && matches!(
                        i.dtype(),
                        ValueType::Tensor {
                            ty: TensorElementType::Int32,
                            ..
                        }
                    )
            })
        };
        let mut values: Vec<(String, ort::value::DynValue)> = Vec::new();
        for (name, t) in &named {
            let value = match t {
                NamedTensor::F32(_, a) => {
                    Tensor::from_array((a.shape().to_vec(), a.data().to_vec()))
                        .map(|t| t.into_dyn())
                }
                NamedTensor::I64(_, a) if int32(name) => {
                    let data = a
                        .data()
                        .iter()
                        .map(|&v| i32::try_from(v).map_err(|_| err.input(format!("label {v}"))))
                        .collect::<Result<Vec<i32>, _>>()?;
                    Tensor::from_array((a.shape().to_vec(), data)).map(|t| t.into_dyn())
                }
                NamedTensor::I64(_, a) => {
                    Tensor::from_array((a.shape().to_vec(), a.data().to_vec()))
                        .map(|t| t.into_dyn())
                }
            }
            .map_err(|e| err.input(e.to_string()))?;
            values.push((name.clone(), value));
        }
        let output = self.model.compiled.roles.output.clone();
        let outputs = session.run(values).map_err(|e| err.run(e.to_string()))?;
        let x = outputs
            .get(output.as_str())
            .ok_or_else(|| err.run(format!("no output `{output}`")))?;
        let (shape, data) = x
            .try_extract_tensor::<f32>()
            .map_err(|e| err.run(format!("output `{output}`: {e}")))?;
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| err.run(format!("output dimension {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        err.output(shape, data.to_vec())
    }
}

/// The device runtime on the `.egm` model compiled in memory.
struct ForeignEgm {
    model: std::sync::Arc<ForeignModel>,
    format: WeightFormat,
}

impl Engine for ForeignEgm {
    fn name(&self) -> &str {
        engine_name(self.format)
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors {
            engine: self.name(),
            case,
        };
        // the compiler's bytes are a Vec<u8>: copy them into 16-byte aligned memory
        let bytes = self.model.compiled.bytes(self.format);
        let words = aligned(bytes);
        if let Condition::Label(l) = &case.condition
            && let Some(bad) = l.data().iter().find(|&&v| u32::try_from(v).is_err())
        {
            return Err(err.input(format!("label {bad}")));
        }
        sample_rows(&bytemuck::cast_slice(&words)[..bytes.len()], case, err)
    }
}
