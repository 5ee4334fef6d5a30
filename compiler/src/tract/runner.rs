//! One tract runner for ONNX generators at any batch: parsed and typed ([`TypedOnnx`]:
//! the interface, metadata and typed shapes a caller checks first), then optimised with
//! the batch left symbolic, planned once and run on named inputs ([`OnnxRunner`]). The
//! trainer export's self-check and the tests' tract engine run a generator this way;
//! [`TractSampler`] (batch 1, reused input tensors) is the sampling API on top of the same
//! tract.
//!
//! [`TractSampler`]: super::TractSampler

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use super::TractError;
use super::caps::{self, OnnxLimits};

/// One named input of a run, batch axis first.
#[derive(Clone, Copy, Debug)]
pub enum OnnxInput<'a> {
    /// A float32 input (`z`, `mask`, `masked`).
    F32 {
        /// The graph input's name.
        name: &'a str,
        /// Its shape, batch first.
        shape: &'a [usize],
        /// Row-major values.
        data: &'a [f32],
    },
    /// An int64 input (`label`).
    I64 {
        /// The graph input's name.
        name: &'a str,
        /// Its shape, batch first.
        shape: &'a [usize],
        /// Row-major values.
        data: &'a [i64],
    },
}

impl OnnxInput<'_> {
    /// The graph input's name.
    pub fn name(&self) -> &str {
        match self {
            OnnxInput::F32 { name, .. } | OnnxInput::I64 { name, .. } => name,
        }
    }

    fn tensor(&self) -> TractResult<Tensor> {
        match *self {
            OnnxInput::F32 { shape, data, .. } => Tensor::from_shape(shape, data),
            OnnxInput::I64 { shape, data, .. } => Tensor::from_shape(shape, data),
        }
    }
}

/// The first output of a run: its shape (batch first) and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxOutput {
    /// Shape, batch first.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

/// Element type of a graph input or output, as far as the contract cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnnxType {
    /// float32
    F32,
    /// int64
    I64,
    /// anything else, as tract names it
    Other(String),
}

impl OnnxType {
    fn of(dt: DatumType) -> Self {
        match dt {
            DatumType::F32 => OnnxType::F32,
            DatumType::I64 => OnnxType::I64,
            other => OnnxType::Other(format!("{other:?}")),
        }
    }
}

/// A graph input or output of a typed model: its name, element type and dimensions
/// (`None` for a symbolic one, such as the batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxFact {
    /// The input's node name, or the output's label (its node's name without one).
    pub name: String,
    /// Element type.
    pub dtype: OnnxType,
    /// Dimensions, batch first.
    pub dims: Vec<Option<usize>>,
}

/// An ONNX model parsed and typed by tract, not yet optimised: its interface and
/// metadata can be checked before [`into_runner`](Self::into_runner) optimises and plans
/// it (what [`OnnxRunner::from_path`] does in one step).
pub struct TypedOnnx {
    model: TypedModel,
    path: PathBuf,
    inputs: Vec<OnnxFact>,
    outputs: Vec<OnnxFact>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for TypedOnnx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedOnnx")
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// The prefix tract gives the ONNX `metadata_props` among a model's properties.
const METADATA_PROPERTY: &str = "onnx.metadata_props.";

impl TypedOnnx {
    /// Parses and types the ONNX model at `path` (inputs as the file declares them).
    ///
    /// # Errors
    ///
    /// [`TractError::Load`] if the file is over the [`OnnxLimits`] defaults (checked before
    /// tract builds anything) or tract cannot read or type it.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, TractError> {
        let path = path.as_ref();
        let proto = caps::read(path, &OnnxLimits::default()).map_err(|e| load_err(path, e))?;
        let model = caps::parse(&proto, Some(path)).map_err(|e| load_err(path, e))?;
        Self::typed(model, path)
    }

    /// As [`from_path`](Self::from_path), for an ONNX model held in memory (`path` in
    /// errors is `<memory>`).
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TractError> {
        Self::from_bytes_at(bytes, &[])
    }

    /// As [`from_bytes`](Self::from_bytes) with the first graph inputs fixed to the given
    /// element types and shapes (one entry per input, in the graph's order) before typing,
    /// so every shape in the graph is concrete (e.g. at batch 1).
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path), also for an input fact tract refuses.
    pub fn from_bytes_at(
        bytes: &[u8],
        inputs: &[(OnnxType, &[usize])],
    ) -> Result<Self, TractError> {
        let path = Path::new(MEMORY);
        let proto = caps::check(bytes, &OnnxLimits::default()).map_err(|e| load_err(path, e))?;
        let mut model = caps::parse(&proto, None).map_err(|e| load_err(path, e))?;
        for (ix, (dtype, shape)) in inputs.iter().enumerate() {
            let dt = match dtype {
                OnnxType::F32 => f32::datum_type(),
                OnnxType::I64 => i64::datum_type(),
                OnnxType::Other(name) => {
                    return Err(load_err(
                        path,
                        format!("input {ix}: unsupported type {name}"),
                    ));
                }
            };
            model
                .set_input_fact(ix, InferenceFact::dt_shape(dt, *shape))
                .map_err(|e| load_err(path, e))?;
        }
        Self::typed(model, path)
    }

    fn typed(model: InferenceModel, path: &Path) -> Result<Self, TractError> {
        let metadata = model
            .properties
            .iter()
            .filter_map(|(k, t)| {
                let key = k.strip_prefix(METADATA_PROPERTY)?;
                let value = t
                    .to_plain_array_view::<String>()
                    .ok()?
                    .iter()
                    .next()?
                    .clone();
                Some((key.to_string(), value))
            })
            .collect();
        let model = model.into_typed().map_err(|e| load_err(path, e))?;
        caps::check_typed(&model, &OnnxLimits::default()).map_err(|e| load_err(path, e))?;
        let facts = |outlets: &[OutletId], inputs: bool| -> TractResult<Vec<OnnxFact>> {
            outlets
                .iter()
                .map(|&o| {
                    let fact = model.outlet_fact(o)?;
                    let node = &model.node(o.node).name;
                    let name = if inputs {
                        node.clone()
                    } else {
                        model.outlet_label(o).unwrap_or(node).to_string()
                    };
                    Ok(OnnxFact {
                        name,
                        dtype: OnnxType::of(fact.datum_type),
                        dims: fact.shape.iter().map(|d| d.to_usize().ok()).collect(),
                    })
                })
                .collect()
        };
        let inputs = model
            .input_outlets()
            .and_then(|o| facts(o, true))
            .map_err(|e| load_err(path, e))?;
        let outputs = model
            .output_outlets()
            .and_then(|o| facts(o, false))
            .map_err(|e| load_err(path, e))?;
        Ok(TypedOnnx {
            model,
            path: path.to_path_buf(),
            inputs,
            outputs,
            metadata,
        })
    }

    /// The graph's inputs, in the graph's order.
    pub fn inputs(&self) -> &[OnnxFact] {
        &self.inputs
    }

    /// The graph's outputs, in the graph's order.
    pub fn outputs(&self) -> &[OnnxFact] {
        &self.outputs
    }

    /// The value of `metadata_props` key `key` (e.g. `edgegan.classes`).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The dimensions of the first input of the node named `node` in the typed graph
    /// (`None` for a symbolic one), or `None` if there is no such node with an input.
    pub fn node_input_dims(&self, node: &str) -> Option<Vec<Option<usize>>> {
        let node = self.model.nodes().iter().find(|n| n.name == node)?;
        let fact = self.model.outlet_fact(*node.inputs.first()?).ok()?;
        Some(fact.shape.iter().map(|d| d.to_usize().ok()).collect())
    }

    /// Optimises and plans the model.
    ///
    /// # Errors
    ///
    /// [`TractError::Load`] if tract cannot optimise or plan it.
    pub fn into_runner(self) -> Result<OnnxRunner, TractError> {
        let TypedOnnx {
            model,
            path,
            inputs,
            ..
        } = self;
        let input_names = inputs.into_iter().map(|f| f.name).collect();
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| load_err(&path, e))?;
        Ok(OnnxRunner { plan, input_names })
    }
}

/// The `path` of errors about a model held in memory.
const MEMORY: &str = "<memory>";

/// An ONNX model planned once by tract with its batch symbolic.
#[derive(Clone)]
pub struct OnnxRunner {
    plan: Arc<TypedRunnableModel>,
    input_names: Vec<String>,
}

impl std::fmt::Debug for OnnxRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRunner")
            .field("inputs", &self.input_names)
            .finish_non_exhaustive()
    }
}

fn load_err(path: &Path, e: impl std::fmt::Display) -> TractError {
    TractError::Load {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    }
}

impl OnnxRunner {
    /// Parses, types, optimises and plans the ONNX model at `path`
    /// ([`TypedOnnx::from_path`], then [`TypedOnnx::into_runner`]).
    ///
    /// # Errors
    ///
    /// [`TractError::Load`] if tract cannot read, type, optimise or plan it.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, TractError> {
        TypedOnnx::from_path(path)?.into_runner()
    }

    /// As [`from_path`](Self::from_path), for an ONNX model held in memory (`path` in
    /// errors is `<memory>`).
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TractError> {
        TypedOnnx::from_bytes(bytes)?.into_runner()
    }

    /// The graph's input names, in the graph's order.
    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }

    /// Runs the plan on `inputs` (matched to the graph's inputs by name; the batch is the
    /// inputs' first axis) and returns the first output as float32.
    ///
    /// # Errors
    ///
    /// [`TractError::Run`] for a missing input, data that does not fit its shape, a tract
    /// failure, or an output that is not float32.
    pub fn run(&self, inputs: &[OnnxInput<'_>]) -> Result<OnnxOutput, TractError> {
        let run_err = |e: TractFailure| TractError::Run(format!("{e:#}"));
        let mut values: TVec<TValue> = tvec![];
        for name in &self.input_names {
            let input = inputs
                .iter()
                .find(|i| i.name() == name)
                .ok_or_else(|| TractError::Run(format!("no input `{name}`")))?;
            values.push(input.tensor().map_err(run_err)?.into());
        }
        let outputs = self.plan.run(values).map_err(run_err)?;
        let x = outputs
            .first()
            .ok_or_else(|| TractError::Run("the model has no output".into()))?;
        let view = x.to_plain_array_view::<f32>().map_err(run_err)?;
        Ok(OnnxOutput {
            shape: view.shape().to_vec(),
            data: view.iter().copied().collect(),
        })
    }
}

/// tract's error type.
type TractFailure = tract_onnx::prelude::TractError;

/// Plans the ONNX model in `bytes` and runs it once on `inputs` (any batch).
///
/// # Errors
///
/// As [`OnnxRunner::from_bytes`] and [`OnnxRunner::run`].
pub fn run_onnx(bytes: &[u8], inputs: &[OnnxInput<'_>]) -> Result<OnnxOutput, TractError> {
    OnnxRunner::from_bytes(bytes)?.run(inputs)
}
