//! The one interface every engine implements, the errors they return, the contract checks
//! they share, and the tolerances between them.
//!
//! Like tract's test-rt, the suites (the case list, the comparisons) know nothing about
//! engines and the engines know nothing about suites: a new engine is one `Engine` impl.

use edgegan_runtime::contract;
use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

use crate::array::Array;
use crate::case::{CaseInputs, Condition};
use crate::npy::NpyError;

/// An engine's output: `x`, float32 `[N, ..]`.
pub type Output = Array<f32>;

/// Runs a generator on a case.
pub trait Engine {
    /// short name used in reports and tolerance keys (`tract`, `ort`, `burn`, `golden`)
    fn name(&self) -> &str;
    /// `x` for the case's inputs, or why not; never panics on bad input
    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError>;
}

/// What an engine adapter can report.
#[derive(Debug, Error)]
pub enum EngineError {
    /// the model file (or checkpoint) cannot be loaded
    #[error("{engine}: cannot load {path}: {message}")]
    Load {
        /// the engine
        engine: String,
        /// the file or folder
        path: PathBuf,
        /// the cause
        message: String,
    },
    /// the model loads but its inputs or outputs are not the contract's
    #[error("{engine}: {path} breaks the ONNX contract: {message}")]
    Contract {
        /// the engine
        engine: String,
        /// the model
        path: PathBuf,
        /// what differs
        message: String,
    },
    /// the case's inputs do not fit the model
    #[error("{engine}: case `{case}`: {message}")]
    Input {
        /// the engine
        engine: String,
        /// the case name
        case: String,
        /// what does not fit
        message: String,
    },
    /// the engine failed while running
    #[error("{engine}: case `{case}` failed: {message}")]
    Run {
        /// the engine
        engine: String,
        /// the case name
        case: String,
        /// the cause
        message: String,
    },
    /// the ONNX Runtime shared library is not where the tests look for it
    #[error(
        "ONNX Runtime library not found at {path} ({why}): run scripts/setup.sh \
         (it installs the onnxruntime wheel under .deps/onnxruntime), or point \
         ORT_DYLIB_PATH at a libonnxruntime.so of version 1.32 or later"
    )]
    OrtLibrary {
        /// where it was looked for
        path: PathBuf,
        /// why it could not be used
        why: String,
    },
    /// a golden file is missing, unreadable or does not match the case
    #[error("golden: {path}: {message}")]
    Golden {
        /// the golden file or folder
        path: PathBuf,
        /// what is wrong (and how to regenerate)
        message: String,
    },
    /// a golden `.npy` file is malformed
    #[error("golden: {path}: {source}")]
    Npy {
        /// the file
        path: PathBuf,
        /// the cause
        source: NpyError,
    },
}

/// Element type of a graph input or output, as far as the contract cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DType {
    /// float32
    F32,
    /// int64
    I64,
    /// anything else, by the engine's name for it
    Other(String),
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DType::F32 => f.write_str("float32"),
            DType::I64 => f.write_str("int64"),
            DType::Other(s) => f.write_str(s),
        }
    }
}

/// A graph input or output as an engine reports it: fixed dimensions are `Some`, symbolic
/// ones (the batch `N`) `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoSpec {
    /// the value's name
    pub name: String,
    /// element type
    pub dtype: DType,
    /// dimensions
    pub dims: Vec<Option<usize>>,
}

/// The input sets the contract allows, with their element type and rank.
const CONTRACT_INPUTS: [&[(&str, DType, usize)]; 3] = [
    &[(contract::Z, DType::F32, 2)],
    &[
        (contract::Z, DType::F32, 2),
        (contract::LABEL, DType::I64, 1),
    ],
    &[
        (contract::Z, DType::F32, 2),
        (contract::MASK, DType::F32, 4),
        (contract::MASKED, DType::F32, 4),
    ],
];

/// Checks a model's declared inputs and outputs against the contract: inputs `z`, `z` +
/// `label`, or `z` + `mask` + `masked` with the contract's types and ranks; one output `x`,
/// float32, rank ≥ 2. Returns the reason when they do not.
pub fn check_model_io(inputs: &[IoSpec], outputs: &[IoSpec]) -> Result<(), String> {
    let mut names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    let allowed = CONTRACT_INPUTS.iter().find(|set| {
        let mut want: Vec<&str> = set.iter().map(|(n, _, _)| *n).collect();
        want.sort_unstable();
        want == names
    });
    let Some(allowed) = allowed else {
        return Err(format!(
            "inputs are {names:?}; the contract allows [\"z\"], [\"label\", \"z\"] or \
             [\"mask\", \"masked\", \"z\"]"
        ));
    };
    for (name, dtype, rank) in allowed.iter() {
        if let Some(spec) = inputs.iter().find(|i| i.name == *name)
            && (spec.dtype != *dtype || spec.dims.len() != *rank)
        {
            return Err(format!(
                "input `{name}` is {} of rank {}, the contract says {dtype} of rank {rank}",
                spec.dtype,
                spec.dims.len()
            ));
        }
    }
    match outputs {
        [x] if x.name == contract::X && x.dtype == DType::F32 && x.dims.len() >= 2 => Ok(()),
        _ => Err(format!(
            "outputs are {:?}; the contract says one float32 output `x` of rank >= 2",
            outputs
                .iter()
                .map(|o| format!("{} {}{:?}", o.name, o.dtype, o.dims))
                .collect::<Vec<_>>()
        )),
    }
}

/// The number of classes of a label-conditioned model, from its `edgegan.classes`
/// metadata (`value`); `None` for a model without a `label` input. The graph cannot check
/// a label's range itself (the exported one even casts labels to int32, so 2^32 would
/// silently become class 0), so the engines check it against this number.
pub fn label_classes(inputs: &[IoSpec], value: Option<&str>) -> Result<Option<usize>, String> {
    if !inputs.iter().any(|i| i.name == contract::LABEL) {
        return Ok(None);
    }
    match value.map(str::parse::<usize>) {
        Some(Ok(k)) if k > 0 => Ok(Some(k)),
        Some(_) => Err(format!(
            "metadata edgegan.classes is `{}`, not a positive count",
            value.unwrap_or_default()
        )),
        None => Err("a `label` input but no edgegan.classes metadata".into()),
    }
}

/// Checks a case's tensors against a model's inputs: the same names, each the declared
/// type, every fixed dimension equal, one batch across all of them, and every label in
/// `0..classes`. Engines call it before running so a wrong input is a clear error, not
/// whatever the engine makes of it (tract panics on a label past the table, ONNX
/// Runtime reports it, and a huge one wraps to a valid class).
pub fn check_case(
    inputs: &[IoSpec],
    classes: Option<usize>,
    case: &CaseInputs,
) -> Result<(), String> {
    let tensors = case.tensors();
    let mut given: Vec<&str> = tensors.iter().map(|t| t.name()).collect();
    let mut wanted: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    given.sort_unstable();
    wanted.sort_unstable();
    if given != wanted {
        return Err(format!(
            "the case has inputs {given:?}, the model takes {wanted:?}"
        ));
    }
    let batch = case.batch();
    if batch == 0 {
        return Err("the batch is empty".into());
    }
    for t in &tensors {
        let Some(spec) = inputs.iter().find(|i| i.name == t.name()) else {
            continue;
        };
        if spec.dtype.to_string() != t.dtype() {
            return Err(format!(
                "input `{}` is {}, the model takes {}",
                t.name(),
                t.dtype(),
                spec.dtype
            ));
        }
        let shape = t.shape();
        let fits = shape.len() == spec.dims.len()
            && shape.first() == Some(&batch)
            && shape
                .iter()
                .zip(&spec.dims)
                .all(|(&s, d)| d.is_none_or(|d| d == s));
        if !fits {
            return Err(format!(
                "input `{}` has shape {shape:?}, the model takes {} with batch {batch}",
                t.name(),
                show_dims(&spec.dims)
            ));
        }
    }
    if let (Condition::Label(l), Some(k)) = (&case.condition, classes)
        && let Some(bad) = l
            .data()
            .iter()
            .find(|&&v| !usize::try_from(v).is_ok_and(|v| v < k))
    {
        return Err(format!("label {bad} is not a class of this model (0..{k})"));
    }
    Ok(())
}

/// Makes the errors of one engine on one case, so adapters say only what went wrong.
#[derive(Debug, Clone, Copy)]
pub struct CaseErrors<'a> {
    /// the engine's name
    pub engine: &'a str,
    /// the case
    pub case: &'a CaseInputs,
}

impl CaseErrors<'_> {
    /// the inputs do not fit the model
    pub fn input(&self, message: impl ToString) -> EngineError {
        EngineError::Input {
            engine: self.engine.into(),
            case: self.case.name.clone(),
            message: message.to_string(),
        }
    }

    /// the engine failed
    pub fn run(&self, message: impl ToString) -> EngineError {
        EngineError::Run {
            engine: self.engine.into(),
            case: self.case.name.clone(),
            message: message.to_string(),
        }
    }

    /// Wraps an engine's raw output as `x`, checking it is `[N, ..]` for the case's batch.
    pub fn output(&self, shape: Vec<usize>, data: Vec<f32>) -> Result<Output, EngineError> {
        let x = Array::new(shape, data).map_err(|m| self.run(m))?;
        if x.batch() != Some(self.case.batch()) || x.shape().len() < 2 {
            return Err(self.run(format!(
                "output `x` has shape {:?} for a batch of {}",
                x.shape(),
                self.case.batch()
            )));
        }
        Ok(x)
    }
}

fn show_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "N".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Largest |a - b| over all elements; an error when the shapes differ. A NaN on either
/// side counts as an infinite difference, so it can never pass a tolerance.
pub fn max_abs_diff(a: &Output, b: &Output) -> Result<f32, String> {
    if a.shape() != b.shape() {
        return Err(format!("shapes differ: {:?} vs {:?}", a.shape(), b.shape()));
    }
    Ok(a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        })
        .fold(0.0, f32::max))
}

/// The most any two float32 engines may differ by: the bound, and the export's
/// own self-check bound (`edgegan_train::export::TOLERANCE`). The device runtime's f32
/// model (`egm-f32`) is held to it too.
pub const F32_TOLERANCE: f32 = 1e-5;

/// Max |egm-w8a32 - egm-f32| (int8 per-channel weights, f32 activations), over every
/// element of a case. Measured 2026-11-27 over each model's case list (max over cases):
/// ring8-cgan (MLP) 3.2e-3, fashion-cgan (conv, work-in-progress export) 8.7e-2,
/// fashion-inpaint (conv + mask, work-in-progress export) 4.2e-2; the bound is about 2.3x
/// the largest.
pub const W8A32_TOLERANCE: f32 = 0.2;
/// Mean |egm-w8a32 - egm-f32| of a case. Measured (max over cases): ring8-cgan 6.7e-4,
/// fashion-cgan 4.7e-3, fashion-inpaint 2.7e-3; about 2.5x margin.
pub const W8A32_MEAN_TOLERANCE: f32 = 0.012;
/// Max |egm-w8a8 - egm-f32| (int8 everything, tanh by table), over every element of a
/// case. Measured on the shipped models (max over cases): ring8-cgan 1.2e-2, fashion-cgan
/// 5.9e-1, fashion-inpaint 5.4e-1 — single pixels on the steep part of tanh, where one
/// int8 step of the pre-activation moves the output a lot; the output range is [-1, 1].
/// This bound only catches a broken model; the per-case mean below and the quality of
/// w8a8 samples (label accuracy, classifier FD via `edgegan-train score`) are the guards.
pub const W8A8_TOLERANCE: f32 = 1.0;
/// Mean |egm-w8a8 - egm-f32| of a case. Measured on the shipped models: ring8-cgan
/// 4.3e-3, fashion-cgan 2.3e-2, fashion-inpaint 1.1e-2; about 1.7x margin.
pub const W8A8_MEAN_TOLERANCE: f32 = 0.04;

/// The float32 engines: every pair of them must agree to [`F32_TOLERANCE`].
pub const F32_ENGINES: [&str; 5] = ["burn", "tract", "ort", "golden", "burn-import"];

/// Engine names, in report order: the float32 engines, then the device runtime on the
/// compiled `.egm` models.
pub const ENGINES: [&str; 8] = [
    "burn",
    "tract",
    "ort",
    "golden",
    "burn-import",
    "egm-f32",
    "egm-w8a32",
    "egm-w8a8",
];

/// The key of an engine pair in tolerance tables: the two names sorted, joined by `~`.
pub fn pair_key(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("{x}~{y}")
}

/// The max |a - b| allowed for every engine pair the suite compares (pairs not in the
/// table are not compared: a quantised model is held to the f32 model it was quantised
/// from, not to every float engine):
///
/// - every pair of [`F32_ENGINES`], and `egm-f32` against each of them:
///   [`F32_TOLERANCE`];
/// - `egm-f32~egm-w8a32`: [`W8A32_TOLERANCE`]; `egm-f32~egm-w8a8`: [`W8A8_TOLERANCE`].
///
/// A model card may tighten a pair (`[tolerances]`), never loosen it (the card test
/// enforces that). `egm-w8a8` is also compared bit for bit with its own golden outputs.
pub fn default_tolerances() -> BTreeMap<String, f32> {
    let mut t = BTreeMap::new();
    for (i, a) in F32_ENGINES.iter().enumerate() {
        for b in &F32_ENGINES[i + 1..] {
            t.insert(pair_key(a, b), F32_TOLERANCE);
        }
        t.insert(pair_key(a, "egm-f32"), F32_TOLERANCE);
    }
    t.insert(pair_key("egm-f32", "egm-w8a32"), W8A32_TOLERANCE);
    t.insert(pair_key("egm-f32", "egm-w8a8"), W8A8_TOLERANCE);
    t
}

/// The mean |a - b| allowed per case for the quantised pairs (a max bound alone would let
/// a broken model through as long as every error stayed below a single worst pixel's).
pub fn mean_tolerances() -> BTreeMap<String, f32> {
    BTreeMap::from([
        (pair_key("egm-f32", "egm-w8a32"), W8A32_MEAN_TOLERANCE),
        (pair_key("egm-f32", "egm-w8a8"), W8A8_MEAN_TOLERANCE),
    ])
}

/// Mean |a - b| over all elements; an error when the shapes differ. A NaN counts as an
/// infinite difference.
pub fn mean_abs_diff(a: &Output, b: &Output) -> Result<f32, String> {
    if a.shape() != b.shape() {
        return Err(format!("shapes differ: {:?} vs {:?}", a.shape(), b.shape()));
    }
    let sum: f64 = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| {
            let d = f64::from((x - y).abs());
            if d.is_nan() { f64::INFINITY } else { d }
        })
        .sum();
    Ok((sum / a.len().max(1) as f64) as f32)
}

/// Checks that every float32 input of a case is finite, and labels are non-negative:
/// generated cases always are; a hand-edited golden file might not be.
pub fn check_values(case: &CaseInputs) -> Result<(), String> {
    if case.z.data().iter().any(|v| !v.is_finite()) {
        return Err("`z` has a non-finite value".into());
    }
    match &case.condition {
        Condition::Label(l) if l.data().iter().any(|&v| v < 0) => {
            Err("`label` has a negative class".into())
        }
        Condition::Mask { mask, masked }
            if mask
                .data()
                .iter()
                .chain(masked.data())
                .any(|v| !v.is_finite()) =>
        {
            Err("`mask` or `masked` has a non-finite value".into())
        }
        _ => Ok(()),
    }
}
