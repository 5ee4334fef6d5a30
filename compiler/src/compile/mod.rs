//! The ONNX compiler: a generator's ONNX in, `.egm` models out.
//!
//! Translate time stays apart from run time: tract parses the ONNX, fixes the input facts
//! (batch 1) and declutters it; this module then walks tract's typed graph in topological
//! order and lowers each node to [`GraphBuilder`](crate::builder::GraphBuilder) calls
//! through one name → fn table ([`ops`]). On the way it folds constant subgraphs, folds a
//! bias, BatchNorm or any per-channel affine that follows a Dense/Conv2d into its weights,
//! and fuses `relu(x) − a·relu(−x)` into LeakyRelu. The inputs are found by role
//! ([`Roles`]: named, or inferred when unambiguous), so foreign generators (PyTorch's
//! default names) compile too. Every node whose op has no lowering is listed in one
//! error ([`CompileError::UnsupportedOps`]) with its ONNX op type.
//!
//! The f32 [`Graph`] is then written three times: f32, w8a32, and w8a8 calibrated by
//! running the f32 model through this runtime on the runtime's own noise for every class
//! ([`Graph::calibrate`]). [`QuantReport`] measures each quantised model against f32,
//! per layer and at the output, and the f32 model against tract's own run of the ONNX.
//!
//! ```no_run
//! use edgegan_compiler::compile::{compile_onnx, CompileOptions};
//! let compiled = compile_onnx("generator.onnx".as_ref(), &CompileOptions::default())?;
//! std::fs::write("model.w8a8.egm", &compiled.w8a8)?;
//! println!("{}", compiled.report);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lower;
pub mod ops;
mod report;
mod roles;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::builder::{BuildError, Calibration, Graph, WriteOptions};
use crate::tract::{OnnxLimitError, OnnxLimits};
use edgegan_runtime::{Condition, ConditionKind};

pub use report::{ErrorStats, FormatReport, LayerError, QuantReport};
pub use roles::{ResolvedRoles, Roles};

/// A node [`CompileError::UnsupportedOps`] lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// The node's name (tract's, after decluttering: the ONNX node's name, or a part
    /// of it as `<onnx name>.<part>`).
    pub node: String,
    /// The ONNX op type of the node it came from (`?` if tract made it up).
    pub onnx_op: String,
    /// tract's op after decluttering.
    pub op: String,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} (ONNX {}, tract {})",
            self.node, self.onnx_op, self.op
        )
    }
}

fn list_ops(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| format!("\n  {o}")).collect::<String>()
}

/// Why an ONNX generator could not be compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The ONNX file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// tract could not parse, type or declutter the model (corrupt or truncated file,
    /// inconsistent shapes).
    #[error("onnx: {0}")]
    Onnx(String),
    /// The model's inputs or outputs break the generator contract (`z` float `[N, Z]`,
    /// optional `label` int64 `[N]` or `mask`/`masked` float `[N, C, H, W]`, one float
    /// output).
    #[error("generator contract: {0}")]
    Contract(String),
    /// A node uses an op, or a form of an op, that `.egm` cannot express.
    #[error("node {node} ({op}): unsupported: {reason}")]
    Unsupported {
        /// The node's name in the ONNX graph (tract's name after decluttering).
        node: String,
        /// Its op type.
        op: String,
        /// Why it cannot be lowered.
        reason: String,
    },
    /// Nodes whose ops `.egm` has no lowering for: all of them, found before lowering.
    #[error("{} node(s) use ops with no lowering to .egm:{}", .0.len(), list_ops(.0))]
    UnsupportedOps(Vec<UnsupportedOp>),
    /// The lowered graph was rejected by the writer.
    #[error("node {node} ({op}): {source}")]
    Lowering {
        /// The node being lowered.
        node: String,
        /// Its op type.
        op: String,
        /// The builder's error.
        source: BuildError,
    },
    /// Writing, calibrating or checking the `.egm` models failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The ONNX file is over a cap of [`CompileOptions::limits`] (or not a protobuf).
    #[error(transparent)]
    Limit(#[from] OnnxLimitError),
    /// The given calibration conditions do not fit the model (a label out of range,
    /// labels for a model without labels, masks of the wrong size).
    #[error("calibration: {0}")]
    Calibration(String),
    /// The runtime failed while measuring the quantised models.
    #[error("runtime: {0}")]
    Runtime(#[from] edgegan_runtime::Error),
    /// The compile panicked on this model, almost always inside tract, whose shape
    /// inference indexes by attribute values it does not check (the caps refuse the cases
    /// found so far before tract sees them). The model is malformed; the panic is a bug
    /// to report with it.
    #[error(
        "the compiler panicked on this model ({0}); it is malformed in a way the caps do not check yet"
    )]
    Panic(String),
}

/// Runs `compile` on an untrusted model, a panic inside it becoming [`CompileError::Panic`]
/// (tract is a dependency; a malformed model must not take the process down).
fn guarded<T>(compile: impl FnOnce() -> Result<T, CompileError>) -> Result<T, CompileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(compile)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "no message".into());
        Err(CompileError::Panic(message))
    })
}

/// How [`compile_onnx`] compiles.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileOptions {
    /// Seeds per class (or per mask) used to calibrate the w8a8 activation ranges.
    pub calibration_seeds: u64,
    /// Seeds per class (or per mask) used to measure the quantisation error; they follow
    /// the calibration seeds, so the report is measured on noise calibration never saw.
    pub evaluation_seeds: u64,
    /// The first calibration seed.
    pub first_seed: u64,
    /// The range the generator's output is trained to (`sample_u8` maps it to `0..=255`);
    /// `None`: from the graph's final activation (sigmoid `[0, 1]`, otherwise `[-1, 1]`).
    pub value_range: Option<(f32, f32)>,
    /// Which inputs are the noise and the condition, and which output the object;
    /// unnamed roles are inferred (see [`Roles`]).
    pub roles: Roles,
    /// Masks and masked objects (`[C, H, W]` each) for mask-conditioned generators; empty
    /// means a built-in set (all known, none known, left half, top half), with the masked
    /// object taken from the runtime's noise.
    pub masks: Vec<(Vec<f32>, Vec<f32>)>,
    /// Class labels for label-conditioned generators whose classes are not uniform (the
    /// CLI's `--calibration FILE`): sample `i` of the calibration (and of the error
    /// measurement) takes label `labels[i mod len]`, and `calibration_seeds` and
    /// `evaluation_seeds` count samples rather than seeds per class. Empty means every
    /// class with every seed: uniform over the classes.
    pub labels: Vec<u32>,
    /// Measure per-layer errors (one extra write and run per layer); the output error is
    /// always measured.
    pub per_layer_report: bool,
    /// Caps on the ONNX file, checked before tract builds anything.
    pub limits: OnnxLimits,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            calibration_seeds: 256,
            evaluation_seeds: 16,
            first_seed: 0,
            value_range: None,
            roles: Roles::default(),
            masks: vec![],
            labels: vec![],
            per_layer_report: true,
            limits: OnnxLimits::default(),
        }
    }
}

/// A compiled generator: the lowered f32 graph, the three `.egm` models, and how far the
/// quantised ones are from f32.
#[derive(Clone, Debug)]
pub struct CompiledModel {
    /// The lowered f32 graph (BatchNorm and biases folded, LeakyRelu fused).
    pub graph: Graph,
    /// The f32 `.egm` model.
    pub f32: Vec<u8>,
    /// The w8a32 `.egm` model (int8 weights, f32 activations).
    pub w8a32: Vec<u8>,
    /// The w8a8 `.egm` model (integer only).
    pub w8a8: Vec<u8>,
    /// The activation ranges the w8a8 model was quantised with.
    pub calibration: Calibration,
    /// Errors of the quantised models against f32, and of f32 against tract.
    pub report: QuantReport,
    /// The inputs and output the compile gave each role.
    pub roles: ResolvedRoles,
}

impl CompiledModel {
    /// The model bytes of `format`.
    pub fn bytes(&self, format: edgegan_runtime::WeightFormat) -> &[u8] {
        match format {
            edgegan_runtime::WeightFormat::F32 => &self.f32,
            edgegan_runtime::WeightFormat::W8A32 => &self.w8a32,
            edgegan_runtime::WeightFormat::W8A8 => &self.w8a8,
        }
    }
}

impl fmt::Display for CompiledModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops; f32 {} B, w8a32 {} B, w8a8 {} B\n{}",
            self.graph.ops.len(),
            self.f32.len(),
            self.w8a32.len(),
            self.w8a8.len(),
            self.report
        )
    }
}

/// Compiles the ONNX generator at `path`.
///
/// # Errors
///
/// [`CompileError::Io`] if the file cannot be read; otherwise as [`compile_onnx_bytes`].
pub fn compile_onnx(path: &Path, options: &CompileOptions) -> Result<CompiledModel, CompileError> {
    let io = |source| CompileError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > options.limits.max_file_bytes {
        return Err(OnnxLimitError::FileTooLarge {
            bytes: len,
            limit: options.limits.max_file_bytes,
        }
        .into());
    }
    let bytes = std::fs::read(path).map_err(io)?;
    compile_onnx_bytes(&bytes, options)
}

/// Compiles an ONNX generator held in memory.
///
/// # Errors
///
/// [`CompileError::Limit`] for a model over [`CompileOptions::limits`] (checked on the
/// protobuf before tract builds anything), [`CompileError::Onnx`] for bytes tract cannot
/// parse or type (a truncated or corrupt file), [`CompileError::Contract`] for inputs/outputs that are not a generator's,
/// [`CompileError::UnsupportedOps`] naming every node whose op has no lowering,
/// [`CompileError::Unsupported`] naming a node whose form of a known op cannot be lowered,
/// [`CompileError::Lowering`]/[`CompileError::Build`] if the writer rejects the result,
/// [`CompileError::Panic`] if the compile panicked (inside tract: a malformed model).
pub fn compile_onnx_bytes(
    bytes: &[u8],
    options: &CompileOptions,
) -> Result<CompiledModel, CompileError> {
    guarded(|| compile_checked(bytes, options))
}

fn compile_checked(bytes: &[u8], options: &CompileOptions) -> Result<CompiledModel, CompileError> {
    let loaded = lower::load(bytes, &options.roles, &options.limits).map_err(|e| match e {
        CompileError::Onnx(_) => external_data_error(bytes).unwrap_or(e),
        e => e,
    })?;
    let graph = lower::lower(&loaded, options.value_range)?;
    check_calibration(graph.condition, options)?;
    let f32 = graph.write(&WriteOptions::f32())?;
    let w8a32 = graph.write(&WriteOptions::w8a32())?;
    let cal_samples = samples(
        &graph,
        options,
        options.first_seed,
        options.calibration_seeds,
    );
    let calibration = graph.calibrate(cal_samples.iter().map(Sample::condition))?;
    let w8a8 = graph.write(&WriteOptions::w8a8(calibration.clone()))?;
    let eval_first = options
        .first_seed
        .wrapping_add(options.calibration_seeds.max(1));
    let eval = samples(&graph, options, eval_first, options.evaluation_seeds);
    let report = report::measure(&graph, &calibration, &eval, &loaded, options)?;
    Ok(CompiledModel {
        graph,
        f32,
        w8a32,
        w8a8,
        calibration,
        report,
        roles: loaded.roles,
    })
}

/// The error for a model whose weights are in a file beside it, which tract refuses
/// naming neither the tensor nor the way out: the compiler reads one self-contained file.
fn external_data_error(bytes: &[u8]) -> Option<CompileError> {
    let (name, location) = crate::tract::caps::external_data(bytes)?;
    Some(CompileError::Onnx(format!(
        "initializer `{name}` keeps its data in `{location}` beside the model (ONNX external \
         data, the default of torch.onnx.export(..., dynamo=True)); the compiler reads one \
         self-contained .onnx file: export with external_data=False, or rewrite it with \
         onnx.save(onnx.load(PATH), NEW_PATH)"
    )))
}

/// Lowers the ONNX generator in `bytes` to an f32 [`Graph`] without writing or
/// quantising it.
///
/// # Errors
///
/// As [`compile_onnx_bytes`].
pub fn lower_onnx_bytes(bytes: &[u8], value_range: (f32, f32)) -> Result<Graph, CompileError> {
    guarded(|| {
        let loaded = lower::load(bytes, &Roles::default(), &OnnxLimits::default())?;
        lower::lower(&loaded, Some(value_range))
    })
}

/// One representative input: a seed and its condition (owned masks).
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub seed: u64,
    pub label: Option<u32>,
    pub mask: Option<(Vec<f32>, Vec<f32>)>,
}

impl Sample {
    pub fn condition(&self) -> (u64, Condition<'_>) {
        let c = match (&self.label, &self.mask) {
            (Some(l), _) => Condition::Label(*l),
            (None, Some((m, x))) => Condition::Mask { mask: m, masked: x },
            (None, None) => Condition::None,
        };
        (self.seed, c)
    }
}

/// `count` seeds from `first` for every class (or mask) of the graph's condition.
fn samples(graph: &Graph, options: &CompileOptions, first: u64, count: u64) -> Vec<Sample> {
    let seeds = (0..count.max(1)).map(|i| first.wrapping_add(i));
    match graph.condition {
        ConditionKind::None => seeds
            .map(|seed| Sample {
                seed,
                label: None,
                mask: None,
            })
            .collect(),
        ConditionKind::Label { .. } if !options.labels.is_empty() => (0..count.max(1))
            .map(|i| Sample {
                seed: first.wrapping_add(i),
                label: options
                    .labels
                    .get((i % options.labels.len() as u64) as usize)
                    .copied(),
                mask: None,
            })
            .collect(),
        ConditionKind::Label { classes } => (0..classes)
            .flat_map(|c| {
                seeds.clone().map(move |seed| Sample {
                    seed,
                    label: Some(c),
                    mask: None,
                })
            })
            .collect(),
        ConditionKind::Mask { .. } => {
            let masks = if options.masks.is_empty() {
                default_masks(graph.condition, first)
            } else {
                options.masks.clone()
            };
            masks
                .into_iter()
                .flat_map(|m| {
                    seeds.clone().map(move |seed| Sample {
                        seed,
                        label: None,
                        mask: Some(m.clone()),
                    })
                })
                .collect()
        }
    }
}

/// Checks the given calibration conditions against the model's: labels only for a label
/// model and each a class, masks only for a mask model and each of its size.
fn check_calibration(kind: ConditionKind, options: &CompileOptions) -> Result<(), CompileError> {
    let bad = |m: String| Err(CompileError::Calibration(m));
    if !options.labels.is_empty() {
        let ConditionKind::Label { classes } = kind else {
            return bad(format!(
                "{} labels given, but the model is conditioned on {kind}",
                options.labels.len()
            ));
        };
        if let Some((i, l)) = options
            .labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| l >= classes)
        {
            return bad(format!(
                "label {l} at index {i} is out of range: the model has {classes} classes (0 to {})",
                classes - 1
            ));
        }
    }
    if !options.masks.is_empty() {
        let ConditionKind::Mask { .. } = kind else {
            return bad(format!(
                "{} masks given, but the model is conditioned on {kind}",
                options.masks.len()
            ));
        };
        let len = kind.mask_len();
        if let Some(i) = options
            .masks
            .iter()
            .position(|(m, x)| m.len() != len || x.len() != len)
        {
            return bad(format!(
                "mask {i} does not have the model's {len} values per mask and masked object"
            ));
        }
    }
    Ok(())
}

/// All known, none known, left half known, top half known; the masked object is the
/// runtime's noise squashed into `[-1, 1]`, zero where unknown.
fn default_masks(kind: ConditionKind, seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    let ConditionKind::Mask {
        channels,
        height,
        width,
    } = kind
    else {
        return vec![];
    };
    let (c, h, w) = (channels as usize, height as usize, width as usize);
    let mut object = vec![0.0f32; c * h * w];
    edgegan_runtime::noise::fill(seed, &mut object);
    for v in &mut object {
        *v = libm::tanhf(*v);
    }
    let patterns: [&dyn Fn(usize, usize) -> bool; 4] =
        [&|_, _| true, &|_, _| false, &|_, x| x < w / 2, &|y, _| {
            y < h / 2
        }];
    patterns
        .iter()
        .map(|known| {
            let mut mask = vec![0.0f32; c * h * w];
            let mut masked = vec![0.0f32; c * h * w];
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        let i = (ch * h + y) * w + x;
                        if known(y, x) {
                            mask[i] = 1.0;
                            masked[i] = object[i];
                        }
                    }
                }
            }
            (mask, masked)
        })
        .collect()
}
