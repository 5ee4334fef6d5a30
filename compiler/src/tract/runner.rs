//! One tract runner for ONNX generators at any batch: parsed, typed and optimised with
//! the batch left symbolic, planned once, run on named inputs. Export's self-check and the
//! tests' tract engine run a generator at batch 1, 7 and 64 this way; [`TractSampler`]
//! (batch 1, reused input tensors) is the sampling API on top of the same tract.
//!
//! [`TractSampler`]: super::TractSampler

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

use super::TractError;

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
    fn name(&self) -> &str {
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
    /// Parses, types, optimises and plans the ONNX model at `path`.
    ///
    /// # Errors
    ///
    /// [`TractError::Load`] if tract cannot read, type, optimise or plan it.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, TractError> {
        let path = path.as_ref();
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| load_err(path, e))?;
        Self::plan(model).map_err(|e| load_err(path, e))
    }

    /// As [`from_path`](Self::from_path), for an ONNX model held in memory (`path` in
    /// errors is `<memory>`).
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TractError> {
        let path = Path::new("<memory>");
        let model = tract_onnx::onnx()
            .model_for_read(&mut &*bytes)
            .map_err(|e| load_err(path, e))?;
        Self::plan(model).map_err(|e| load_err(path, e))
    }

    fn plan(model: InferenceModel) -> TractResult<Self> {
        let typed = model.into_typed()?;
        let input_names = typed
            .input_outlets()?
            .iter()
            .map(|o| typed.node(o.node).name.clone())
            .collect();
        let plan = typed.into_optimized()?.into_runnable()?;
        Ok(OnnxRunner { plan, input_names })
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
