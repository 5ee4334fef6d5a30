//! ONNX export of a run's generator, to the contract in `ARCHITECTURE.md` ("The
//! generator's ONNX contract"), with a self-check through tract.
//!
//! 1. An independent copy of the sampling generator (the EMA copy when enabled) is rebuilt
//!    from the config and loaded with the trained record, off autodiff, so capture cannot
//!    move state shared with the live model.
//! 2. burn-onnx 0.22's exporter captures `forward` with a symbolic batch axis `N`
//!    (`export_dynamic`); an architecture whose capture loses the batch axis falls back to
//!    a static capture whose batch is rewritten to `N` afterwards.
//! 3. The protobuf is rewritten in Rust to the contract: inputs `z` (float32 `[N, Z]`) and,
//!    for label conditioning, `label` (int64 `[N]`; Burn's int32 indices get a `Cast`
//!    after it); output `x` (float32 `[N, D]`); `metadata_props` `edgegan.*` (see
//!    [`metadata`]). Random ops are refused.
//! 4. The file is written next to `out` under a temporary name, loaded with tract (batch
//!    symbolic), run at batch 1, 7 and 64 on seeded noise and cycling labels, and compared
//!    with Burn's own output; only a model within [`TOLERANCE`] is renamed to `out`.

pub mod shipped;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, ExportError, InputSpec, OnnxExporter};
use onnx_ir::{AttributeProto, AttributeType, Message, ModelProto, NodeProto, ValueInfoProto};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::OutputActivation;
use crate::error::{Result, TrainError};
use crate::networks::conv::{ConvGenerator, InpaintGenerator};
use crate::networks::{Condition, Generator};
use crate::training::run_dir::{self as run, RunDir};
use crate::training::{Gan, read_vec};

/// Name of the noise input (float32 `[N, Z]`).
pub const NOISE_INPUT: &str = "z";
/// Name of the class-label input (int64 `[N]`) of a label-conditioned generator.
pub const LABEL_INPUT: &str = "label";
/// Name of the mask input (float32 `[N, C, H, W]`, 1 = known pixel) of an inpainting
/// generator.
pub const MASK_INPUT: &str = "mask";
/// Name of the masked-image input (float32 `[N, C, H, W]`) of an inpainting generator.
pub const MASKED_INPUT: &str = "masked";
/// Name of the output (float32 `[N, D]` for points, `[N, C, H, W]` for images).
pub const OUTPUT: &str = "x";

/// What a generator is conditioned on, as the contract sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// input `z` only
    None,
    /// inputs `z` and `label` (int64 `[N]`)
    Label {
        /// number of classes
        classes: usize,
    },
    /// inputs `z`, `mask` and `masked` (float32 `[N, C, H, W]`)
    Mask {
        /// `[C, H, W]`
        shape: [usize; 3],
    },
}

impl ConditionKind {
    /// The condition of a run's generator.
    pub fn of(gan: &Gan) -> Self {
        match (gan.inpainting(), gan.dataset.image_shape()) {
            (true, Some(shape)) => Self::Mask { shape },
            _ if gan.conditional() => Self::Label {
                classes: gan.dataset.classes(),
            },
            _ => Self::None,
        }
    }

    /// `none`, `label` or `mask` (the `edgegan.condition` metadata value).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Label { .. } => "label",
            Self::Mask { .. } => "mask",
        }
    }
}

/// The condition inputs of one batch (row-major).
#[derive(Debug, Clone, Copy)]
pub enum ConditionInput<'a> {
    /// unconditional
    None,
    /// class labels `[N]`
    Label(&'a [i64]),
    /// mask and masked image, `[N, C, H, W]` each
    Mask {
        /// 1 = known pixel
        mask: &'a [f32],
        /// image * mask
        masked: &'a [f32],
    },
}

impl<'a> ConditionInput<'a> {
    /// From the optional labels of a label-conditioned (or unconditional) model.
    pub fn from_labels(labels: Option<&'a [i64]>) -> Self {
        labels.map_or(Self::None, Self::Label)
    }
}

/// Self-check inputs of one batch.
#[derive(Debug, Clone)]
pub struct CheckBatch {
    /// noise `[N, Z]`
    pub z: Vec<f32>,
    /// labels cycling over the classes (label models)
    pub labels: Vec<i64>,
    /// masks (mask models)
    pub mask: Vec<f32>,
    /// a deterministic pattern image times the mask (mask models)
    pub masked: Vec<f32>,
    /// the condition kind they are for
    pub kind: ConditionKind,
}

impl CheckBatch {
    /// The condition inputs.
    pub fn condition(&self) -> ConditionInput<'_> {
        match self.kind {
            ConditionKind::None => ConditionInput::None,
            ConditionKind::Label { .. } => ConditionInput::Label(&self.labels),
            ConditionKind::Mask { .. } => ConditionInput::Mask {
                mask: &self.mask,
                masked: &self.masked,
            },
        }
    }
}

/// Deterministic self-check inputs for `batch` rows of a generator of `kind`.
pub fn check_batch(batch: usize, noise_dim: usize, kind: ConditionKind) -> CheckBatch {
    let classes = match kind {
        ConditionKind::Label { classes } => classes,
        _ => 0,
    };
    let (z, labels) = check_inputs(batch, noise_dim, classes);
    let (mut mask, mut masked) = (Vec::new(), Vec::new());
    if let ConditionKind::Mask { shape } = kind {
        let mut rng = Pcg64::seed_from_u64(CHECK_SEED ^ 0x6d61_736b ^ batch as u64);
        mask = crate::data::images::random_masks(
            crate::data::images::MaskKind::Mixed,
            batch,
            shape,
            &mut rng,
        );
        let dim: usize = shape.iter().product();
        // a smooth deterministic pattern in [-1, 1] stands in for an image
        let image: Vec<f32> = (0..batch * dim)
            .map(|i| ((i % dim) as f32 * 0.37 + (i / dim) as f32).sin())
            .collect();
        masked = crate::data::images::apply_mask(&image, &mask);
    }
    CheckBatch {
        z,
        labels,
        mask,
        masked,
        kind,
    }
}
/// The symbolic batch dimension.
pub const BATCH_SYMBOL: &str = "N";
/// Largest accepted |Burn - tract| over every output element.
pub const TOLERANCE: f32 = 1e-5;
/// Batch sizes of the self-check.
pub const CHECK_BATCHES: [usize; 3] = [1, 7, 64];
/// Seed of the self-check noise (batch `b` uses `CHECK_SEED ^ b`).
pub const CHECK_SEED: u64 = 0x6578_706f_7274;
/// Version of the `edgegan.*` metadata layout.
pub const CONTRACT_VERSION: &str = "1";

/// Int32 copy of `label` that a `Cast` feeds to the graph when Burn captured int32 indices.
const LABEL_INT32: &str = "label_int32";
/// Batch of the static fallback capture (odd and unusual, so it is not mistaken for
/// another dimension when the batch is rewritten).
const STATIC_BATCH: usize = 13;
/// Ops that would make sampling non-deterministic; noise must come in through `z`.
const RANDOM_OPS: [&str; 6] = [
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
];
// TensorProto.DataType values from the ONNX specification.
const ONNX_FLOAT: i32 = 1;
const ONNX_INT32: i32 = 6;
const ONNX_INT64: i32 = 7;

/// One graph input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorDescription {
    /// value name
    pub name: String,
    /// element type (`float32`, `int64`, ...)
    pub dtype: String,
    /// dimensions: a number, or a symbol such as `N`
    pub shape: Vec<String>,
}

/// How the batch axis became symbolic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchAxis {
    /// burn-onnx captured two batch sizes and emitted `N` itself.
    Symbolic,
    /// A static capture at [`STATIC_BATCH`] whose batch was rewritten to `N` (inputs,
    /// outputs, value_info, and the leading entry of constant `Reshape` shapes).
    Rewritten,
}

/// Burn vs tract on one batch of the self-check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParityCheck {
    /// batch size
    pub batch: usize,
    /// max |Burn - tract| over all output elements (network units)
    pub max_abs_diff: f32,
}

/// What [`export_generator`] wrote and measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// the ONNX file
    pub path: PathBuf,
    /// its size in bytes
    pub bytes: u64,
    /// SHA-256 of the file, hex
    pub sha256: String,
    /// ONNX operator set (default domain)
    pub opset: i64,
    /// graph inputs
    pub inputs: Vec<TensorDescription>,
    /// graph outputs
    pub outputs: Vec<TensorDescription>,
    /// how the batch axis became symbolic
    pub batch_axis: BatchAxis,
    /// element type Burn captured for the labels (`int32` gets a `Cast` after `label`)
    pub captured_label_dtype: Option<String>,
    /// the `metadata_props` written
    pub metadata: BTreeMap<String, String>,
    /// Burn vs tract, one entry per batch in [`CHECK_BATCHES`]
    pub parity: Vec<ParityCheck>,
    /// the largest of `parity`
    pub max_abs_diff: f32,
    /// the accepted maximum
    pub tolerance: f32,
}

/// The parts of an ONNX file the contract speaks about (see [`inspect_onnx`]).
#[derive(Debug, Clone, Serialize)]
pub struct OnnxSummary {
    /// graph inputs (initializers excluded)
    pub inputs: Vec<TensorDescription>,
    /// graph outputs
    pub outputs: Vec<TensorDescription>,
    /// intermediate value_info entries
    pub value_info: Vec<TensorDescription>,
    /// `metadata_props`
    pub metadata: BTreeMap<String, String>,
    /// operator set of the default domain (0 when absent)
    pub opset: i64,
    /// op type of every node, in graph order
    pub op_types: Vec<String>,
}

fn export_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Export {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Exports the run's `edgegan-train export --run DIR --out FILE`: opens the run folder,
/// loads `checkpoint` (default: the latest), and calls [`export_generator`] with the run
/// folder's name as the run id.
pub fn export_run(run_dir: &Path, out: &Path, checkpoint: Option<&Path>) -> Result<ExportReport> {
    let (run, config) = RunDir::open(run_dir)?;
    let gan = run::load_gan(&run, config, checkpoint)?;
    let run_id = run_dir
        .canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(run_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string());
    export_generator(&gan, out, &run_id)
}

/// Exports `gan`'s sampling generator (the EMA copy when enabled) to `out` as ONNX,
/// following the contract, then checks the written file with tract against Burn at batch
/// 1, 7 and 64. `out` is only replaced by a model that passed; a model that failed is left
/// beside it (named in the error) for inspection.
pub fn export_generator(gan: &Gan, out: &Path, run_id: &str) -> Result<ExportReport> {
    export_with(gan, out, run_id, Capture::Auto, TOLERANCE)
}

/// Which capture [`export_with`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    /// symbolic batch from burn-onnx, static + rewrite when that cannot capture the model
    Auto,
    /// always static + rewrite (the fallback path, forced by tests)
    #[cfg_attr(not(test), allow(dead_code))]
    Static,
}

fn export_with(
    gan: &Gan,
    out: &Path,
    run_id: &str,
    capture: Capture,
    tolerance: f32,
) -> Result<ExportReport> {
    let kind = ConditionKind::of(gan);
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let noise_dim = gan.config.generator.noise_dim;
    let out_dim = gan.dataset.dim();
    let out_shape: Vec<usize> = match gan.dataset.image_shape() {
        Some(shape) => shape.to_vec(),
        None => vec![out_dim],
    };
    let classes = conditional.then(|| gan.dataset.classes());

    // An independent copy, off autodiff: capture moves the module it is given to the
    // capture device, and Arc-shared state (BatchNorm running stats) would move with it.
    let reference = gan.sampling_generator();
    let copy = Generator::from_config(
        &gan.config,
        out_dim,
        gan.dataset.image_shape(),
        classes,
        &Device::flex(),
    )?
    .load_record(reference.clone().into_record());

    let image = gan.dataset.image_shape();
    let (bytes, batch_axis) = capture_onnx(&copy, noise_dim, kind, image, capture)
        .map_err(|message| export_err(out, message))?;
    let mut model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| export_err(out, format!("burn-onnx produced unreadable protobuf: {e}")))?;
    let captured_label_dtype = to_contract_for(&mut model, kind, batch_axis)
        .map_err(|m| export_err(out, format!("cannot rewrite to the contract: {m}")))?;
    resize_sizes_to_scales(&mut model)
        .map_err(|m| export_err(out, format!("cannot rewrite Resize to scales: {m}")))?;
    let metadata = metadata(gan, run_id)?;
    set_metadata(&mut model, &metadata);
    model.doc_string = format!(
        "edgegan generator from run {run_id}: inputs {NOISE_INPUT}{}, output {OUTPUT}; see metadata_props edgegan.*",
        match kind {
            ConditionKind::None => "",
            ConditionKind::Label { .. } => " and label",
            ConditionKind::Mask { .. } => ", mask and masked",
        }
    );
    let bytes = model
        .write_to_bytes()
        .map_err(|e| export_err(out, format!("cannot encode the rewritten model: {e}")))?;
    let summary = summarize(&model);
    check_contract_for(&summary, kind, noise_dim, &out_shape)
        .map_err(|m| export_err(out, format!("the rewritten model breaks the contract: {m}")))?;

    // Write beside `out`, verify, then rename into place.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generator.onnx".into());
    let pending = out.with_file_name(format!("{name}.unverified"));
    std::fs::write(&pending, &bytes).map_err(io_err(&pending))?;

    let mut parity = Vec::with_capacity(CHECK_BATCHES.len());
    for batch in CHECK_BATCHES {
        let inputs = check_batch(batch, noise_dim, kind);
        let burn = burn_forward_with(&reference, noise_dim, &inputs.z, inputs.condition())?;
        let tract = run_onnx_with_condition(&pending, &inputs.z, inputs.condition())?;
        parity.push(ParityCheck {
            batch,
            max_abs_diff: max_abs_diff(&burn, &tract),
        });
    }
    let max = parity.iter().map(|p| p.max_abs_diff).fold(0.0, nan_max);
    // NaN counts as a failure
    if parity
        .iter()
        .any(|p| p.max_abs_diff.is_nan() || p.max_abs_diff > tolerance)
    {
        let table: Vec<String> = parity
            .iter()
            .map(|p| format!("batch {}: {:.3e}", p.batch, p.max_abs_diff))
            .collect();
        return Err(export_err(
            out,
            format!(
                "self-check failed: tract and Burn differ by more than {tolerance:e} ({}); \
                 the rejected model is at {} and {} was left unchanged",
                table.join(", "),
                pending.display(),
                out.display()
            ),
        ));
    }
    std::fs::rename(&pending, out).map_err(io_err(out))?;

    Ok(ExportReport {
        path: out.to_path_buf(),
        bytes: bytes.len() as u64,
        sha256: hex(&Sha256::digest(&bytes)),
        opset: summary.opset,
        inputs: summary.inputs,
        outputs: summary.outputs,
        batch_axis,
        captured_label_dtype,
        metadata,
        parity,
        max_abs_diff: max,
        tolerance,
    })
}

/// Deterministic self-check inputs: seeded standard-normal noise `[batch, noise_dim]`
/// and labels cycling over the classes (all 0 when `classes` is 0).
pub fn check_inputs(batch: usize, noise_dim: usize, classes: usize) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Pcg64::seed_from_u64(CHECK_SEED ^ batch as u64);
    let z = (0..batch * noise_dim)
        .map(|_| {
            let v: f64 = StandardNormal.sample(&mut rng);
            v as f32
        })
        .collect();
    let labels = (0..batch).map(|i| (i % classes.max(1)) as i64).collect();
    (z, labels)
}

/// Burn's generator output (network units), row-major `[batch, out_dim]`, for noise
/// `z` (row-major `[batch, noise_dim]`) and the labels of a conditional generator.
pub fn burn_forward(
    generator: &Generator,
    noise_dim: usize,
    z: &[f32],
    labels: Option<&[i64]>,
) -> Result<Vec<f32>> {
    burn_forward_with(generator, noise_dim, z, ConditionInput::from_labels(labels))
}

/// Burn's generator output (network units, row-major; images as `[N, C, H, W]`) for
/// noise `z` and any condition.
pub fn burn_forward_with(
    generator: &Generator,
    noise_dim: usize,
    z: &[f32],
    condition: ConditionInput<'_>,
) -> Result<Vec<f32>> {
    let device = Device::flex();
    let batch = z.len() / noise_dim.max(1);
    let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [batch, noise_dim]), &device);
    let rows = |v: &[f32]| {
        let cols = v.len() / batch.max(1);
        Tensor::<2>::from_data(TensorData::new(v.to_vec(), [batch, cols]), &device)
    };
    let condition = match condition {
        ConditionInput::Label(l) => Condition::Label(Tensor::<1, Int>::from_data(
            TensorData::new(l.to_vec(), [l.len()]),
            &device,
        )),
        ConditionInput::None => Condition::None,
        ConditionInput::Mask { mask, masked } => Condition::Mask {
            mask: rows(mask),
            masked: rows(masked),
        },
    };
    read_vec(generator.forward(z, &condition))
}

/// Max |a - b|; NaN if any difference is NaN, infinite if the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, nan_max)
}

/// `f32::max` that propagates NaN (a NaN difference must fail the check).
fn nan_max(m: f32, d: f32) -> f32 {
    if m.is_nan() || d.is_nan() {
        f32::NAN
    } else {
        m.max(d)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Capture

/// Runs burn-onnx's exporter. Errors are sentences for the user.
fn capture_onnx(
    generator: &Generator,
    noise_dim: usize,
    kind: ConditionKind,
    image: Option<[usize; 3]>,
    capture: Capture,
) -> std::result::Result<(Vec<u8>, BatchAxis), String> {
    if capture == Capture::Auto {
        match guarded(|| capture_with(generator, noise_dim, kind, image, true))? {
            Ok(bytes) => return Ok((bytes, BatchAxis::Symbolic)),
            // The batch could not be traced symbolically: capture static, rewrite after.
            Err(
                ExportError::DynamicShapeLost { .. } | ExportError::DynamicGraphMismatch { .. },
            ) => {}
            Err(e) => return Err(describe_export_error(&e)),
        }
    }
    match guarded(|| capture_with(generator, noise_dim, kind, image, false))? {
        Ok(bytes) => Ok((bytes, BatchAxis::Rewritten)),
        Err(e) => Err(describe_export_error(&e)),
    }
}

/// Turns a panic inside capture (e.g. `one_hot` in `forward`) into an error.
fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        format!(
            "burn-onnx panicked while capturing the generator's forward pass ({}); \
             ops such as `one_hot` cannot be captured: look labels up in a parameter table \
             with `select` (exports as Gather) and keep random sampling outside `forward`",
            panic_message(payload.as_ref())
        )
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn zeros_z(n: usize, noise_dim: usize) -> Tensor<2> {
    Tensor::<2>::zeros([n, noise_dim], &Device::flex())
}

fn zeros_labels(n: usize) -> Tensor<1, Int> {
    Tensor::<1, Int>::zeros([n], &Device::flex())
}

fn zeros_images(n: usize, [c, h, w]: [usize; 3]) -> Tensor<4> {
    Tensor::<4>::zeros([n, c, h, w], &Device::flex())
}

/// Captures `module`'s forward `f` on zero inputs made by `make(batch)`: with a symbolic
/// batch (`dynamic`, traced at batch 2 and 3) or statically at [`STATIC_BATCH`].
fn capture_one<M, I, O>(
    module: &M,
    make: impl Fn(usize) -> I,
    specs: &[InputSpec],
    dynamic: bool,
    f: impl Fn(&M, I) -> O,
) -> std::result::Result<Vec<u8>, ExportError>
where
    M: Module,
    I: burn_onnx::export::ExportInput,
    O: burn_onnx::export::ExportOutput,
{
    let exporter = OnnxExporter::new();
    let model = if dynamic {
        exporter.export_dynamic(module, make(2), make(3), specs, f)?
    } else {
        exporter.export(module, make(STATIC_BATCH), f)?
    };
    Ok(model.into_bytes())
}

/// Captures the generator's contract forward pass: `z` (+ `label` | `mask`, `masked`)
/// to `x`, images as `[N, C, H, W]`.
fn capture_with(
    generator: &Generator,
    noise_dim: usize,
    kind: ConditionKind,
    image: Option<[usize; 3]>,
    dynamic: bool,
) -> std::result::Result<Vec<u8>, ExportError> {
    let batch = || AxisSpec::dynamic(BATCH_SYMBOL);
    let z_spec = InputSpec::new([batch(), AxisSpec::Static]);
    let label_spec = InputSpec::new([batch()]);
    let image_spec = || {
        InputSpec::new([
            batch(),
            AxisSpec::Static,
            AxisSpec::Static,
            AxisSpec::Static,
        ])
    };
    let z = |n| zeros_z(n, noise_dim);
    match (generator, kind) {
        (Generator::Inpaint(g), ConditionKind::Mask { shape }) => capture_one(
            g,
            |n| (z(n), zeros_images(n, shape), zeros_images(n, shape)),
            &[z_spec, image_spec(), image_spec()],
            dynamic,
            |g: &InpaintGenerator, (z, mask, masked): (Tensor<2>, Tensor<4>, Tensor<4>)| {
                g.forward(z, mask, masked)
            },
        ),
        (Generator::Conv(g), ConditionKind::Label { .. }) => capture_one(
            g,
            |n| (z(n), zeros_labels(n)),
            &[z_spec, label_spec],
            dynamic,
            |g: &ConvGenerator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                g.forward(z, Some(labels))
            },
        ),
        (Generator::Conv(g), _) => capture_one(g, z, &[z_spec], dynamic, |g: &ConvGenerator, z| {
            g.forward(z, None)
        }),
        // an MLP drawing images: the flat output becomes [N, C, H, W]
        (g, ConditionKind::Label { .. }) if image.is_some() => {
            let [c, h, w] = image.unwrap_or([1, 1, 1]).map(|d| d as i32);
            capture_one(
                g,
                |n| (z(n), zeros_labels(n)),
                &[z_spec, label_spec],
                dynamic,
                move |g: &Generator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                    g.forward(z, &Condition::Label(labels))
                        .reshape([-1, c, h, w])
                },
            )
        }
        (g, ConditionKind::None) if image.is_some() => {
            let [c, h, w] = image.unwrap_or([1, 1, 1]).map(|d| d as i32);
            capture_one(g, z, &[z_spec], dynamic, move |g: &Generator, z| {
                g.forward(z, &Condition::None).reshape([-1, c, h, w])
            })
        }
        (g, ConditionKind::Label { .. }) => capture_one(
            g,
            |n| (z(n), zeros_labels(n)),
            &[z_spec, label_spec],
            dynamic,
            |g: &Generator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                g.forward(z, &Condition::Label(labels))
            },
        ),
        (g, _) => capture_one(g, z, &[z_spec], dynamic, |g: &Generator, z| {
            g.forward(z, &Condition::None)
        }),
    }
}

/// burn-onnx's error as a sentence that names the op and says what to use instead.
pub fn describe_export_error(error: &ExportError) -> String {
    match error {
        ExportError::UnsupportedOperation { operation, kind } => {
            let op = operation_name(kind);
            format!(
                "the generator uses `{op}` (operation {operation} of its forward pass), which \
                 burn-onnx 0.22 cannot lower to ONNX; {}",
                replacement_hint(&op)
            )
        }
        ExportError::DynamicGraphMismatch { .. } | ExportError::DynamicShapeLost { .. } => format!(
            "the batch axis cannot be made symbolic ({error}); make `forward` independent of \
             the batch size (no slicing or padding over the batch axis)"
        ),
        other => format!("burn-onnx export failed: {other}"),
    }
}

/// The Burn operation's name from the Debug text burn-onnx reports, e.g.
/// `Module(ConvTranspose2d(ConvTranspose2dOpIr { .. }))` -> `ConvTranspose2d`.
fn operation_name(kind: &str) -> String {
    const WRAPPERS: [&str; 13] = [
        "BaseFloat",
        "BaseInt",
        "BaseBool",
        "NumericFloat",
        "NumericInt",
        "Bool",
        "Int",
        "Float",
        "Module",
        "Init",
        "Custom",
        "Distributed",
        "Activation",
    ];
    const DTYPES: [&str; 14] = [
        "F64", "F32", "Flex32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16",
        "U8", "QFloat",
    ];
    kind.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .find(|t| !WRAPPERS.contains(t) && !DTYPES.contains(t))
        .unwrap_or(kind)
        .to_string()
}

fn replacement_hint(op: &str) -> &'static str {
    match op {
        "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => {
            "replace the transposed convolution by an upsample (`interpolate`, nearest) followed \
             by a Conv2d"
        }
        "LeakyRelu" => "write leaky ReLU as `relu(x) - slope * relu(-x)` (as model.rs does)",
        "Prelu" | "PRelu" => "write it as `relu(x) - a * relu(-x)` with `a` a parameter",
        "Gelu" => {
            "use relu, tanh or sigmoid, or gelu's tanh approximation written with Tanh/Mul/Add"
        }
        "Softmax" | "LogSoftmax" => "write it with exp, sum and div",
        "Embedding" => {
            "keep the table as a `Param<Tensor<2>>` and look rows up with \
             `table.val().select(0, labels)` (exports as Gather)"
        }
        "OneHot" => "look labels up in a parameter table with `select` instead of one_hot",
        "Permute" | "SwapDims" | "Expand" | "Flip" => {
            "restructure the layer with reshape/cat/slice so no permutation or expand is needed"
        }
        "Clamp" | "ClampMin" | "ClampMax" => "use tanh or a relu-based form instead of clamp",
        "Random" | "RandomNormal" | "RandomUniform" | "Dropout" => {
            "keep randomness out of `forward`: noise comes in through `z`"
        }
        _ => {
            "rewrite that layer with what burn-onnx lowers: Linear, Conv1d/Conv2d, BatchNorm, \
             interpolate, pools, add/sub/mul/div, neg, abs, exp, log, sqrt, tanh, relu, \
             sigmoid, matmul, reshape, cat, slice, select"
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rewriting to the contract

/// Renames the I/O to `z`/`label`/`x`, makes the batch `N` everywhere, adds the int64
/// `label` input (with a Cast when Burn captured int32), and refuses random ops.
/// Returns the label dtype Burn captured.
#[cfg(test)]
fn to_contract(
    model: &mut ModelProto,
    conditional: bool,
    batch_axis: BatchAxis,
) -> std::result::Result<Option<String>, String> {
    let kind = if conditional {
        ConditionKind::Label { classes: 1 }
    } else {
        ConditionKind::None
    };
    to_contract_for(model, kind, batch_axis)
}

/// [`to_contract`] for any condition kind: float inputs are `z` (rank 2) then `mask`
/// and `masked` in capture order.
fn to_contract_for(
    model: &mut ModelProto,
    kind: ConditionKind,
    batch_axis: BatchAxis,
) -> std::result::Result<Option<String>, String> {
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let masked_model = matches!(kind, ConditionKind::Mask { .. });
    let graph = model.graph.mut_or_insert_default();
    if let Some(node) = graph
        .node
        .iter()
        .find(|n| RANDOM_OPS.contains(&n.op_type.as_str()))
    {
        return Err(format!(
            "node `{}` is a {} op; noise must be the `z` input",
            node.name, node.op_type
        ));
    }
    let initializers: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let runtime: Vec<usize> = (0..graph.input.len())
        .filter(|&i| !initializers.contains(&graph.input[i].name))
        .collect();
    let floats: Vec<usize> = runtime
        .iter()
        .copied()
        .filter(|&i| elem_type(&graph.input[i]) == ONNX_FLOAT)
        .collect();
    let ints: Vec<usize> = runtime
        .iter()
        .copied()
        .filter(|&i| matches!(elem_type(&graph.input[i]), ONNX_INT32 | ONNX_INT64))
        .collect();
    let expected_ints = usize::from(conditional);
    let expected_floats = if masked_model { 3 } else { 1 };
    if floats.len() != expected_floats
        || ints.len() != expected_ints
        || runtime.len() != expected_floats + expected_ints
    {
        return Err(format!(
            "expected {expected_floats} float input(s){} from the exporter, found {:?}",
            if conditional {
                " and one int input"
            } else {
                ""
            },
            runtime
                .iter()
                .map(|&i| describe(&graph.input[i]))
                .collect::<Vec<_>>()
        ));
    }
    if graph.output.len() != 1 {
        return Err(format!("expected one output, found {}", graph.output.len()));
    }
    if elem_type(&graph.output[0]) != ONNX_FLOAT {
        return Err(format!(
            "the output is {}, not float32",
            describe(&graph.output[0]).dtype
        ));
    }

    let mut reserved = vec![NOISE_INPUT, OUTPUT];
    if conditional {
        reserved.extend([LABEL_INPUT, LABEL_INT32]);
    }
    if masked_model {
        reserved.extend([MASK_INPUT, MASKED_INPUT]);
    }
    let mut own: Vec<Option<String>> = floats
        .iter()
        .map(|&i| Some(graph.input[i].name.clone()))
        .collect();
    own.push(ints.first().map(|&i| graph.input[i].name.clone()));
    own.push(Some(graph.output[0].name.clone()));
    for name in all_value_names(graph) {
        if reserved.contains(&name.as_str()) && !own.contains(&Some(name.clone())) {
            return Err(format!(
                "the exporter already uses the contract name `{name}`"
            ));
        }
    }

    // z is the rank-2 float input; the image inputs follow in capture order
    let rank = |v: &ValueInfoProto| {
        v.type_
            .as_ref()
            .and_then(|t| t.tensor_type().shape.as_ref().map(|s| s.dim.len()))
            .unwrap_or(0)
    };
    let z_index = floats
        .iter()
        .copied()
        .find(|&i| rank(&graph.input[i]) == 2)
        .ok_or_else(|| "no rank-2 float input for the noise `z`".to_string())?;
    let images: Vec<String> = floats
        .iter()
        .filter(|&&i| i != z_index)
        .map(|&i| graph.input[i].name.clone())
        .collect();
    let z_old = graph.input[z_index].name.clone();
    rename_value(graph, &z_old, NOISE_INPUT);
    for (old, new) in images.iter().zip([MASK_INPUT, MASKED_INPUT]) {
        rename_value(graph, old, new);
    }
    let out_old = graph.output[0].name.clone();
    rename_value(graph, &out_old, OUTPUT);

    let mut captured = None;
    if let Some(&li) = ints.first() {
        let label_old = graph.input[li].name.clone();
        let dtype = elem_type(&graph.input[li]);
        captured = Some(dtype_name(dtype));
        if dtype == ONNX_INT64 {
            rename_value(graph, &label_old, LABEL_INPUT);
        } else {
            // The contract's label is int64; the graph keeps Burn's int32 behind a Cast.
            rename_value(graph, &label_old, LABEL_INT32);
            let input = &mut graph.input[li];
            input.name = LABEL_INPUT.into();
            input
                .type_
                .mut_or_insert_default()
                .mut_tensor_type()
                .elem_type = ONNX_INT64;
            let mut cast = NodeProto::new();
            cast.name = "edgegan_label_to_int32".into();
            cast.op_type = "Cast".into();
            cast.input = vec![LABEL_INPUT.into()];
            cast.output = vec![LABEL_INT32.into()];
            let mut to = AttributeProto::new();
            to.name = "to".into();
            to.type_ = AttributeType::INT.into();
            to.i = i64::from(ONNX_INT32);
            cast.attribute.push(to);
            graph.node.insert(0, cast);
        }
    }

    // Graph inputs in contract order: z, then label.
    graph.input.sort_by_key(|v| match v.name.as_str() {
        NOISE_INPUT => 0,
        LABEL_INPUT => 1,
        MASK_INPUT => 2,
        MASKED_INPUT => 3,
        _ => 4,
    });

    let rewrite_static = batch_axis == BatchAxis::Rewritten;
    for info in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        if [NOISE_INPUT, LABEL_INPUT, MASK_INPUT, MASKED_INPUT, OUTPUT]
            .contains(&info.name.as_str())
        {
            set_batch_symbol(info, None);
        }
    }
    for info in &mut graph.value_info {
        set_batch_symbol(info, rewrite_static.then_some(STATIC_BATCH as i64));
    }
    if rewrite_static {
        rewrite_reshape_batch(graph)?;
    }
    canonical_value_names(graph);
    graph.name = "edgegan_generator".into();
    Ok(captured)
}

/// burn-onnx writes nearest upsampling as `Resize(x, sizes=[H', W'], axes=[2, 3])`, whose
/// output size tract cannot derive with a symbolic batch. The canonical form
/// `Resize(x, scales=[1, 1, H'/H, W'/W])` means the same to every engine and keeps the
/// batch symbolic; the input sizes come from typing the graph with tract at batch 1.
fn resize_sizes_to_scales(model: &mut ModelProto) -> std::result::Result<(), String> {
    let graph = &model.graph;
    let targets: Vec<(usize, String, Vec<i64>)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op_type == "Resize" && n.input.len() == 4 && !n.input[3].is_empty())
        .filter_map(|(i, n)| {
            let init = graph.initializer.iter().find(|t| t.name == n.input[3])?;
            let sizes: Vec<i64> = if !init.int64_data.is_empty() {
                init.int64_data.clone()
            } else {
                init.raw_data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            };
            Some((i, n.name.clone(), sizes))
        })
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let bytes = model
        .write_to_bytes()
        .map_err(|e| format!("cannot encode the model: {e}"))?;
    let names: Vec<String> = targets.iter().map(|t| t.1.clone()).collect();
    // graph inputs at batch 1 (every symbolic dimension is the batch)
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<(bool, Vec<usize>)> = graph
        .input
        .iter()
        .filter(|v| !initializers.contains(&v.name.as_str()))
        .map(|v| {
            let dims = v
                .type_
                .as_ref()
                .and_then(|t| t.tensor_type().shape.as_ref())
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| {
                            if d.has_dim_value() {
                                d.dim_value().max(1) as usize
                            } else {
                                1
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            (elem_type(v) == ONNX_FLOAT, dims)
        })
        .collect();
    let input_shapes = std::panic::catch_unwind(AssertUnwindSafe(|| {
        tract_runner::node_input_shapes(&bytes, &inputs, &names)
    }))
    .map_err(|p| {
        format!(
            "tract panicked while typing the graph: {}",
            panic_message(p.as_ref())
        )
    })??;
    let graph = model.graph.mut_or_insert_default();
    for ((index, name, sizes), shape) in targets.into_iter().zip(input_shapes) {
        let node = &mut graph.node[index];
        let axes: Vec<i64> = node
            .attribute
            .iter()
            .find(|a| a.name == "axes")
            .map(|a| a.ints.clone())
            .unwrap_or_else(|| (0..shape.len() as i64).collect());
        if axes.len() != sizes.len() {
            return Err(format!(
                "Resize `{name}`: {} sizes for axes {axes:?}",
                sizes.len()
            ));
        }
        let mut scales = vec![1.0f32; shape.len()];
        for (&axis, &size) in axes.iter().zip(&sizes) {
            let axis =
                usize::try_from(axis).map_err(|_| format!("Resize `{name}`: axis {axis}"))?;
            let Some(&len) = shape.get(axis).filter(|&&l| l > 0) else {
                return Err(format!(
                    "Resize `{name}`: axis {axis} of input shape {shape:?}"
                ));
            };
            scales[axis] = size as f32 / len as f32;
        }
        let scales_name = format!("{name}_scales");
        node.input = vec![node.input[0].clone(), String::new(), scales_name.clone()];
        node.attribute.retain(|a| a.name != "axes");
        let mut t = onnx_ir::TensorProto::new();
        t.name = scales_name;
        t.data_type = ONNX_FLOAT;
        t.dims = vec![scales.len() as i64];
        t.raw_data = scales
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
        graph.initializer.push(t);
    }
    Ok(())
}

/// A static capture bakes the batch into constant Reshape shapes: the leading entry
/// becomes -1 (inferred), or 0 (copied from the input) when -1 is already taken.
fn rewrite_reshape_batch(graph: &mut onnx_ir::GraphProto) -> std::result::Result<(), String> {
    let shapes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape")
        .filter_map(|n| n.input.get(1).cloned())
        .collect();
    for name in shapes {
        let Some(init) = graph.initializer.iter_mut().find(|t| t.name == name) else {
            return Err(format!(
                "a Reshape takes its shape from `{name}`, which is computed, not constant; \
                 the batch cannot be rewritten"
            ));
        };
        if init.data_type != ONNX_INT64 {
            continue;
        }
        let mut values: Vec<i64> = if !init.int64_data.is_empty() {
            init.int64_data.clone()
        } else {
            init.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect()
        };
        if values.first() == Some(&(STATIC_BATCH as i64)) {
            values[0] = if values.contains(&-1) { 0 } else { -1 };
            init.int64_data.clear();
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            init.raw_data = raw.into();
        }
    }
    Ok(())
}

/// Renames the exporter's intermediate values (`tensor_<global id>`, which depend on how
/// many tensors the process made before) to `value_<k>` in graph order, so the same
/// weights always give the same bytes.
fn canonical_value_names(graph: &mut onnx_ir::GraphProto) {
    let keep: Vec<String> = graph
        .initializer
        .iter()
        .map(|t| t.name.clone())
        .chain(
            graph
                .input
                .iter()
                .chain(&graph.output)
                .map(|v| v.name.clone()),
        )
        .collect();
    let produced: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().cloned())
        .filter(|name| !name.is_empty() && !keep.contains(name))
        .collect();
    let mut taken = all_value_names(graph);
    for (k, old) in produced.into_iter().enumerate() {
        let new = format!("value_{k}");
        if old == new || taken.contains(&new) {
            continue;
        }
        rename_value(graph, &old, &new);
        taken.push(new);
    }
}

fn all_value_names(graph: &onnx_ir::GraphProto) -> Vec<String> {
    let mut names: Vec<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().chain(&n.output).cloned())
        .collect();
    names.extend(graph.initializer.iter().map(|t| t.name.clone()));
    names.extend(
        graph
            .input
            .iter()
            .chain(&graph.output)
            .chain(&graph.value_info)
            .map(|v| v.name.clone()),
    );
    names.sort();
    names.dedup();
    names
}

fn rename_value(graph: &mut onnx_ir::GraphProto, from: &str, to: &str) {
    for node in &mut graph.node {
        for name in node.input.iter_mut().chain(node.output.iter_mut()) {
            if name == from {
                *name = to.into();
            }
        }
    }
    for info in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        if info.name == from {
            info.name = to.into();
        }
    }
}

/// Sets the leading dimension to `N`: always (`only_if = None`) or only where it is the
/// given static value.
fn set_batch_symbol(info: &mut ValueInfoProto, only_if: Option<i64>) {
    let tensor = info.type_.mut_or_insert_default().mut_tensor_type();
    let shape = tensor.shape.mut_or_insert_default();
    if let Some(dim) = shape.dim.first_mut() {
        let is_static_batch = dim.has_dim_value() && Some(dim.dim_value()) == only_if;
        if only_if.is_none() || is_static_batch {
            dim.set_dim_param(BATCH_SYMBOL.into());
        }
    }
}

fn elem_type(info: &ValueInfoProto) -> i32 {
    info.type_.tensor_type().elem_type
}

fn dtype_name(t: i32) -> String {
    match t {
        1 => "float32".into(),
        2 => "uint8".into(),
        3 => "int8".into(),
        5 => "int16".into(),
        6 => "int32".into(),
        7 => "int64".into(),
        9 => "bool".into(),
        10 => "float16".into(),
        11 => "float64".into(),
        16 => "bfloat16".into(),
        other => format!("onnx type {other}"),
    }
}

fn describe(info: &ValueInfoProto) -> TensorDescription {
    let tensor = info.type_.tensor_type();
    TensorDescription {
        name: info.name.clone(),
        dtype: dtype_name(tensor.elem_type),
        shape: tensor
            .shape
            .dim
            .iter()
            .map(|d| {
                if d.has_dim_param() {
                    d.dim_param().to_string()
                } else if d.has_dim_value() {
                    d.dim_value().to_string()
                } else {
                    "?".into()
                }
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Metadata

/// The `metadata_props` of `gan`'s export:
/// - `edgegan.contract_version`: [`CONTRACT_VERSION`]
/// - `edgegan.noise_dim`: Z
/// - `edgegan.condition`: `none` or `label`
/// - `edgegan.classes`: the number of labels the model accepts (0 when unconditional)
/// - `edgegan.class_names`: JSON array of their names (`[]` when unconditional)
/// - `edgegan.output_shape`: JSON array, the shape of one sample (without the batch)
/// - `edgegan.value_range`: `[-1, 1]` (tanh output) or `unbounded` (linear output)
/// - `edgegan.normalizer`: JSON `{"center": [..], "scale": [..]}`; data = x * scale + center
/// - `edgegan.run`: the run id; `edgegan.step`: the training step of the weights
/// - `edgegan.config_sha256`: SHA-256 of the run's config as TOML ([`TrainConfig::to_toml`],
///   the text the trainer writes as the run's `config.toml`)
///
/// [`TrainConfig::to_toml`]: crate::config::TrainConfig::to_toml
pub fn metadata(gan: &Gan, run_id: &str) -> Result<BTreeMap<String, String>> {
    let kind = ConditionKind::of(gan);
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let class_names = if conditional {
        gan.dataset.class_names()
    } else {
        Vec::new()
    };
    let normalizer = serde_json::json!({
        "center": gan.normalizer.center,
        "scale": gan.normalizer.scale,
        "to_data": "x * scale + center",
    });
    let toml = gan.config.to_toml()?;
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(format!("edgegan.{k}"), v);
    };
    put("contract_version", CONTRACT_VERSION.into());
    put("noise_dim", gan.config.generator.noise_dim.to_string());
    put("condition", kind.name().into());
    put("classes", class_names.len().to_string());
    put("class_names", json(&class_names));
    let output_shape = match gan.dataset.image_shape() {
        Some(shape) => shape.to_vec(),
        None => vec![gan.dataset.dim()],
    };
    put("output_shape", json(&output_shape));
    if let ConditionKind::Mask { shape } = kind {
        put("mask_shape", json(&shape));
        put(
            "mask_convention",
            "1 = known pixel; masked = image * mask".into(),
        );
    }
    put(
        "value_range",
        match gan.config.generator.output {
            OutputActivation::Tanh => "[-1, 1]",
            OutputActivation::Linear => "unbounded",
        }
        .into(),
    );
    put("normalizer", normalizer.to_string());
    put("run", run_id.into());
    put("step", gan.step.to_string());
    put("config_sha256", hex(&Sha256::digest(toml.as_bytes())));
    Ok(m)
}

/// Compact JSON of a serialisable value.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn set_metadata(model: &mut ModelProto, metadata: &BTreeMap<String, String>) {
    model
        .metadata_props
        .retain(|e| !metadata.contains_key(&e.key));
    for (key, value) in metadata {
        model.metadata_props.push(Default::default());
        if let Some(entry) = model.metadata_props.last_mut() {
            entry.key = key.clone();
            entry.value = value.clone();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading back

fn summarize(model: &ModelProto) -> OnnxSummary {
    let graph = &model.graph;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    OnnxSummary {
        inputs: graph
            .input
            .iter()
            .filter(|v| !initializers.contains(&v.name.as_str()))
            .map(describe)
            .collect(),
        outputs: graph.output.iter().map(describe).collect(),
        value_info: graph.value_info.iter().map(describe).collect(),
        metadata: model
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(0, |o| o.version),
        op_types: graph.node.iter().map(|n| n.op_type.clone()).collect(),
    }
}

/// Reads an ONNX file's inputs, outputs, value_info, metadata, opset and op types.
pub fn inspect_onnx(path: &Path) -> Result<OnnxSummary> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| export_err(path, format!("not a readable ONNX protobuf: {e}")))?;
    Ok(summarize(&model))
}

/// Checks a summary against the contract for a generator with noise dimension
/// `noise_dim` and `out_dim`-dimensional samples.
pub fn check_contract(
    summary: &OnnxSummary,
    conditional: bool,
    noise_dim: usize,
    out_dim: usize,
) -> std::result::Result<(), String> {
    let kind = if conditional {
        ConditionKind::Label { classes: 1 }
    } else {
        ConditionKind::None
    };
    check_contract_for(summary, kind, noise_dim, &[out_dim])
}

/// [`check_contract`] for any condition kind and output shape (without the batch).
pub fn check_contract_for(
    summary: &OnnxSummary,
    kind: ConditionKind,
    noise_dim: usize,
    out_shape: &[usize],
) -> std::result::Result<(), String> {
    let t = |name: &str, dtype: &str, shape: &[String]| TensorDescription {
        name: name.into(),
        dtype: dtype.into(),
        shape: shape.to_vec(),
    };
    let n = BATCH_SYMBOL.to_string();
    let mut inputs = vec![t(
        NOISE_INPUT,
        "float32",
        &[n.clone(), noise_dim.to_string()],
    )];
    let with_batch = |dims: &[usize]| -> Vec<String> {
        std::iter::once(n.clone())
            .chain(dims.iter().map(|d| d.to_string()))
            .collect()
    };
    match kind {
        ConditionKind::Label { .. } => {
            inputs.push(t(LABEL_INPUT, "int64", std::slice::from_ref(&n)))
        }
        ConditionKind::Mask { shape } => {
            inputs.push(t(MASK_INPUT, "float32", &with_batch(&shape)));
            inputs.push(t(MASKED_INPUT, "float32", &with_batch(&shape)));
        }
        ConditionKind::None => {}
    }
    if summary.inputs != inputs {
        return Err(format!(
            "inputs are {:?}, expected {inputs:?}",
            summary.inputs
        ));
    }
    let outputs = vec![t(OUTPUT, "float32", &with_batch(out_shape))];
    if summary.outputs != outputs {
        return Err(format!(
            "outputs are {:?}, expected {outputs:?}",
            summary.outputs
        ));
    }
    if let Some(v) = summary
        .value_info
        .iter()
        .find(|v| v.shape.first() != Some(&n))
    {
        return Err(format!("value_info {v:?} has no symbolic batch `{n}`"));
    }
    let random: Vec<&String> = summary
        .op_types
        .iter()
        .filter(|op| RANDOM_OPS.contains(&op.as_str()))
        .collect();
    if !random.is_empty() {
        return Err(format!(
            "the graph contains random ops {random:?}; noise must be the `z` input"
        ));
    }
    for key in [
        "noise_dim",
        "condition",
        "classes",
        "class_names",
        "output_shape",
        "value_range",
        "normalizer",
        "run",
        "config_sha256",
    ] {
        if !summary.metadata.contains_key(&format!("edgegan.{key}")) {
            return Err(format!("metadata_props lacks edgegan.{key}"));
        }
    }
    Ok(())
}

/// Runs an ONNX generator with tract (optimised plan, batch from the inputs): `z` is
/// row-major `[N, Z]`, `labels` the `N` class indices of a label-conditioned model
/// (`None` for an unconditional one). Returns `x` row-major. A missing, truncated or
/// corrupted file, input names other than the contract's, or inputs of the wrong shape
/// give an error, never a panic.
pub fn run_onnx_with_tract(path: &Path, z: &[f32], labels: Option<&[i64]>) -> Result<Vec<f32>> {
    run_onnx_with_condition(path, z, ConditionInput::from_labels(labels))
}

/// [`run_onnx_with_tract`] for any condition (mask models take `mask` and `masked`).
pub fn run_onnx_with_condition(
    path: &Path,
    z: &[f32],
    condition: ConditionInput<'_>,
) -> Result<Vec<f32>> {
    if !path.is_file() {
        return Err(export_err(path, "no such ONNX file"));
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| tract_runner::run(path, z, condition))) {
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

mod tract_runner {
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

    use super::{ConditionInput, LABEL_INPUT, MASK_INPUT, MASKED_INPUT, NOISE_INPUT, OUTPUT};

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

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};

    use super::*;
    use crate::config::{Activation, DatasetKind};
    use crate::data::Dataset;
    use crate::training::gan::tests::{param_bits, tiny_config, tiny_gan};

    #[test]
    fn image_generators_export_to_the_contract_for_each_condition_kind() {
        use crate::config::Arch;
        use crate::training::gan::tests::tiny_image_gan;
        let mlp = {
            let mut gan = tiny_image_gan("label");
            gan.config.generator.arch = Arch::Mlp;
            gan.config.discriminator.arch = Arch::Mlp;
            let dataset = gan.dataset.clone();
            Gan::new(gan.config.clone(), dataset).unwrap()
        };
        for (name, gan) in [
            ("conv label", tiny_image_gan("label")),
            ("conv none", tiny_image_gan("none")),
            ("conv mask", tiny_image_gan("mask")),
            ("mlp label on images", mlp),
        ] {
            let gan = trained(gan);
            let (_dir, path, report) = export(&gan, Capture::Auto);
            assert!(report.max_abs_diff <= TOLERANCE, "{name}: {report:?}");
            let s = inspect_onnx(&path).unwrap();
            let kind = ConditionKind::of(&gan);
            check_contract_for(&s, kind, gan.config.generator.noise_dim, &[1, 8, 8])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.metadata["edgegan.output_shape"], "[1,8,8]", "{name}");
            assert_eq!(s.metadata["edgegan.condition"], kind.name(), "{name}");
            // batch 5 through tract agrees with Burn, whatever batch the self-check used
            let inputs = check_batch(5, gan.config.generator.noise_dim, kind);
            let tract = run_onnx_with_condition(&path, &inputs.z, inputs.condition()).unwrap();
            let burn = burn_forward_with(
                &gan.sampling_generator(),
                gan.config.generator.noise_dim,
                &inputs.z,
                inputs.condition(),
            )
            .unwrap();
            assert!(max_abs_diff(&burn, &tract) <= TOLERANCE, "{name}");
            assert_eq!(tract.len(), 5 * 64);
        }
    }

    fn trained(mut gan: Gan) -> Gan {
        for _ in 0..5 {
            gan.train_step().unwrap();
        }
        gan
    }

    /// Conditional on grid25 (25 classes), EMA sampling, two leaky-ReLU hidden layers,
    /// linear output.
    fn variant_gan() -> Gan {
        let mut config = tiny_config(DatasetKind::Grid25, true);
        config.algorithm.ema_decay = Some(0.9);
        config.generator.activation = Activation::LeakyRelu { slope: 0.2 };
        config.generator.output = OutputActivation::Linear;
        config.generator.hidden = vec![16, 16];
        let dataset = Dataset::from_config(&config.data).unwrap();
        trained(Gan::new(config, dataset).unwrap())
    }

    fn export(gan: &Gan, capture: Capture) -> (tempfile::TempDir, PathBuf, ExportReport) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models/generator.onnx");
        let report = export_with(gan, &path, "run-1", capture, TOLERANCE).unwrap();
        (dir, path, report)
    }

    fn n_by(d: usize) -> Vec<String> {
        vec![BATCH_SYMBOL.into(), d.to_string()]
    }

    fn rewrite(path: &Path, out: &Path, f: impl FnOnce(&mut ModelProto)) {
        let mut model = ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
        f(&mut model);
        std::fs::write(out, model.write_to_bytes().unwrap()).unwrap();
    }

    #[test]
    fn unconditional_export_has_only_input_z_and_output_x_with_symbolic_batch() {
        let gan = trained(tiny_gan(false));
        let (_dir, path, report) = export(&gan, Capture::Auto);
        let s = inspect_onnx(&path).unwrap();
        let names: Vec<_> = s.inputs.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [NOISE_INPUT]);
        assert_eq!(s.inputs[0].dtype, "float32");
        assert_eq!(s.inputs[0].shape, n_by(8));
        assert_eq!(s.outputs.len(), 1);
        assert_eq!(
            (s.outputs[0].name.as_str(), s.outputs[0].dtype.as_str()),
            (OUTPUT, "float32")
        );
        assert_eq!(s.outputs[0].shape, n_by(2));
        assert!(
            s.value_info.iter().all(|v| v.shape[0] == BATCH_SYMBOL),
            "{:?}",
            s.value_info
        );
        assert_eq!(report.inputs, s.inputs);
        assert_eq!(report.batch_axis, BatchAxis::Symbolic);
        assert_eq!(report.captured_label_dtype, None);
        assert_eq!(report.opset, 18);
        assert_eq!(report.bytes, std::fs::metadata(&path).unwrap().len());
        check_contract(&s, false, 8, 2).unwrap();
    }

    #[test]
    fn conditional_export_has_inputs_z_and_int64_label_and_output_x_with_symbolic_batch() {
        let gan = trained(tiny_gan(true));
        let (_dir, path, report) = export(&gan, Capture::Auto);
        let s = inspect_onnx(&path).unwrap();
        let inputs: Vec<_> = s
            .inputs
            .iter()
            .map(|t| (t.name.as_str(), t.dtype.as_str(), t.shape.clone()))
            .collect();
        assert_eq!(
            inputs,
            [
                (NOISE_INPUT, "float32", n_by(8)),
                (LABEL_INPUT, "int64", vec![BATCH_SYMBOL.to_string()])
            ]
        );
        assert_eq!(s.outputs[0].name, OUTPUT);
        assert_eq!(s.outputs[0].shape, n_by(2));
        assert!(
            s.value_info.iter().all(|v| v.shape[0] == BATCH_SYMBOL),
            "{:?}",
            s.value_info
        );
        // Burn captures int32 indices: the int64 `label` feeds them through one Cast.
        if report.captured_label_dtype.as_deref() == Some("int32") {
            assert_eq!(s.op_types[0], "Cast");
        }
        eprintln!(
            "conditional ring8: {} bytes, label captured as {:?}, ops {:?}",
            report.bytes, report.captured_label_dtype, s.op_types
        );
        check_contract(&s, true, 8, 2).unwrap();
    }

    #[test]
    fn metadata_props_describe_the_model_and_the_run() {
        let gan = trained(tiny_gan(true));
        let (_dir, path, report) = export(&gan, Capture::Auto);
        let m = inspect_onnx(&path).unwrap().metadata;
        assert_eq!(m, report.metadata);
        assert_eq!(m["edgegan.noise_dim"], "8");
        assert_eq!(m["edgegan.condition"], "label");
        assert_eq!(m["edgegan.classes"], "8");
        let names: Vec<String> = serde_json::from_str(&m["edgegan.class_names"]).unwrap();
        assert_eq!(names, gan.dataset.class_names());
        assert_eq!(m["edgegan.output_shape"], "[2]");
        assert_eq!(m["edgegan.value_range"], "[-1, 1]");
        let norm: serde_json::Value = serde_json::from_str(&m["edgegan.normalizer"]).unwrap();
        let center: Vec<f32> = serde_json::from_value(norm["center"].clone()).unwrap();
        let scale: Vec<f32> = serde_json::from_value(norm["scale"].clone()).unwrap();
        assert_eq!(
            (center, scale),
            (gan.normalizer.center.clone(), gan.normalizer.scale.clone())
        );
        assert_eq!(m["edgegan.run"], "run-1");
        assert_eq!(m["edgegan.step"], "5");
        let sha = hex(&Sha256::digest(gan.config.to_toml().unwrap().as_bytes()));
        assert_eq!(m["edgegan.config_sha256"], sha);
        assert_eq!(sha.len(), 64);

        let gan = trained(tiny_gan(false));
        let m = metadata(&gan, "r").unwrap();
        assert_eq!(m["edgegan.condition"], "none");
        assert_eq!(m["edgegan.classes"], "0");
        assert_eq!(m["edgegan.class_names"], "[]");
        assert_eq!(
            metadata(&variant_gan(), "r").unwrap()["edgegan.value_range"],
            "unbounded"
        );
    }

    #[test]
    fn tract_matches_burn_within_1e5_at_batch_1_7_and_64() {
        let cases = [
            ("unconditional ring8", trained(tiny_gan(false))),
            ("conditional ring8", trained(tiny_gan(true))),
            ("conditional grid25 ema leaky linear", variant_gan()),
        ];
        for (name, gan) in cases {
            let (_dir, path, report) = export(&gan, Capture::Auto);
            let batches: Vec<usize> = report.parity.iter().map(|p| p.batch).collect();
            assert_eq!(batches, CHECK_BATCHES);
            assert!(
                report.max_abs_diff <= TOLERANCE,
                "{name}: {:?}",
                report.parity
            );
            // Independently of the report, on other noise: tract vs Burn's sampling G.
            let noise_dim = gan.config.generator.noise_dim;
            let classes = if gan.conditional() {
                gan.dataset.classes()
            } else {
                0
            };
            let g = gan.sampling_generator();
            for batch in CHECK_BATCHES {
                let (z, labels) = check_inputs(batch, noise_dim, classes);
                let z: Vec<f32> = z.iter().map(|v| v * 1.5 + 0.25).collect();
                let labels = gan.conditional().then_some(labels.as_slice());
                let burn = burn_forward(&g, noise_dim, &z, labels).unwrap();
                let tract = run_onnx_with_tract(&path, &z, labels).unwrap();
                assert_eq!(burn.len(), batch * gan.dataset.dim());
                let diff = max_abs_diff(&burn, &tract);
                assert!(diff <= TOLERANCE, "{name} batch {batch}: {diff}");
            }
            eprintln!(
                "{name}: {} bytes, parity {:?}",
                report.bytes,
                report
                    .parity
                    .iter()
                    .map(|p| (p.batch, p.max_abs_diff))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_ema_generator_is_what_gets_exported() {
        let gan = variant_gan();
        let (_dir, path, _) = export(&gan, Capture::Auto);
        let (z, labels) = check_inputs(7, 8, 25);
        let tract = run_onnx_with_tract(&path, &z, Some(&labels)).unwrap();
        let ema = burn_forward(&gan.sampling_generator(), 8, &z, Some(&labels)).unwrap();
        let raw = burn_forward(&gan.generator.valid(), 8, &z, Some(&labels)).unwrap();
        assert!(max_abs_diff(&tract, &ema) <= TOLERANCE);
        assert!(
            max_abs_diff(&tract, &raw) > 1e-4,
            "EMA and G should differ after 5 steps"
        );
    }

    #[test]
    fn static_capture_with_rewritten_batch_also_matches_at_every_batch() {
        let gan = trained(tiny_gan(true));
        let (_dir, path, report) = export(&gan, Capture::Static);
        assert_eq!(report.batch_axis, BatchAxis::Rewritten);
        assert!(report.max_abs_diff <= TOLERANCE, "{:?}", report.parity);
        check_contract(&inspect_onnx(&path).unwrap(), true, 8, 2).unwrap();
    }

    #[test]
    fn exported_graph_has_no_random_ops_and_export_refuses_them() {
        let gan = trained(tiny_gan(true));
        let (_dir, path, _) = export(&gan, Capture::Auto);
        let s = inspect_onnx(&path).unwrap();
        assert!(
            s.op_types
                .iter()
                .all(|op| !RANDOM_OPS.contains(&op.as_str())),
            "{:?}",
            s.op_types
        );

        let mut model = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        let graph = model.graph.mut_or_insert_default();
        let mut node = NodeProto::new();
        node.op_type = "RandomNormalLike".into();
        node.input = vec![NOISE_INPUT.into()];
        node.output = vec!["noise".into()];
        graph.node.push(node);
        let err = to_contract(&mut model, true, BatchAxis::Symbolic).unwrap_err();
        assert!(err.contains("RandomNormalLike"), "{err}");
        let mut s = summarize(&model);
        s.op_types.push("Bernoulli".into());
        assert!(
            check_contract(&s, true, 8, 2)
                .unwrap_err()
                .contains("Bernoulli")
        );
    }

    #[test]
    fn export_leaves_the_trained_gan_unchanged_and_bytes_are_reproducible() {
        let gan = trained(tiny_gan(true));
        let g_before = param_bits(&gan.generator);
        let (z, labels) = check_inputs(7, 8, 8);
        let out_before = burn_forward(&gan.sampling_generator(), 8, &z, Some(&labels)).unwrap();
        let (_d1, a, _) = export(&gan, Capture::Auto);
        let (_d2, b, _) = export(&gan, Capture::Auto);
        assert_eq!(param_bits(&gan.generator), g_before);
        let out_after = burn_forward(&gan.sampling_generator(), 8, &z, Some(&labels)).unwrap();
        assert_eq!(out_after, out_before);
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }

    #[test]
    fn truncated_or_corrupted_onnx_is_an_error_not_a_panic() {
        let gan = trained(tiny_gan(true));
        let (dir, path, _) = export(&gan, Capture::Auto);
        let bytes = std::fs::read(&path).unwrap();
        let (z, labels) = check_inputs(7, 8, 8);
        let mut bad = Vec::new();
        let truncated = dir.path().join("truncated.onnx");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        bad.push(truncated);
        let garbage = dir.path().join("garbage.onnx");
        std::fs::write(
            &garbage,
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        bad.push(garbage);
        let header = dir.path().join("header.onnx");
        let mut h = bytes.clone();
        h[..32].fill(0xff);
        std::fs::write(&header, h).unwrap();
        bad.push(header);
        let empty = dir.path().join("empty.onnx");
        std::fs::write(&empty, b"").unwrap();
        bad.push(empty);
        // a model whose output names a value no node produces
        let dangling = dir.path().join("dangling.onnx");
        rewrite(&path, &dangling, |m| {
            m.graph.mut_or_insert_default().output[0].name = "nowhere".into()
        });
        bad.push(dangling);
        bad.push(dir.path().join("missing.onnx"));
        for file in bad {
            let err = run_onnx_with_tract(&file, &z, Some(&labels)).unwrap_err();
            assert!(
                matches!(err, TrainError::Export { .. }),
                "{}: {err}",
                file.display()
            );
            assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
        }
        assert!(inspect_onnx(&dir.path().join("truncated.onnx")).is_err());
    }

    #[test]
    fn wrong_input_names_or_shapes_are_errors() {
        let gan = trained(tiny_gan(true));
        let (dir, path, _) = export(&gan, Capture::Auto);
        let (z, labels) = check_inputs(7, 8, 8);
        let run = |p: &Path, z: &[f32], l: Option<&[i64]>| {
            run_onnx_with_tract(p, z, l).unwrap_err().to_string()
        };

        let renamed = dir.path().join("renamed.onnx");
        rewrite(&path, &renamed, |m| {
            rename_value(m.graph.mut_or_insert_default(), NOISE_INPUT, "noise")
        });
        let err = run(&renamed, &z, Some(&labels));
        assert!(
            err.contains("noise") && err.contains("[\"z\", \"label\"]"),
            "{err}"
        );

        let out_renamed = dir.path().join("out_renamed.onnx");
        rewrite(&path, &out_renamed, |m| {
            rename_value(m.graph.mut_or_insert_default(), OUTPUT, "y")
        });
        assert!(run(&out_renamed, &z, Some(&labels)).contains("outputs"));

        // labels for a conditional model are required, and must match the batch
        assert!(run(&path, &z, None).contains("unconditional model was expected"));
        assert!(run(&path, &z, Some(&labels[..6])).contains("6 labels for a batch of 7"));
        // noise rows must be Z wide
        assert!(run(&path, &z[..z.len() - 3], Some(&labels)).contains("[N, 8]"));

        // a model declaring the wrong noise width or a float label is refused
        let narrow = dir.path().join("narrow.onnx");
        rewrite(&path, &narrow, |m| {
            let z = &mut m.graph.mut_or_insert_default().input[0];
            let shape = z
                .type_
                .mut_or_insert_default()
                .mut_tensor_type()
                .shape
                .mut_or_insert_default();
            shape.dim[1].set_dim_value(5);
        });
        run(&narrow, &z, Some(&labels));
        let float_label = dir.path().join("float_label.onnx");
        rewrite(&path, &float_label, |m| {
            let l = &mut m.graph.mut_or_insert_default().input[1];
            l.type_.mut_or_insert_default().mut_tensor_type().elem_type = ONNX_FLOAT;
        });
        run(&float_label, &z, Some(&labels));

        // an unconditional model given labels
        let (_d, plain, _) = export(&trained(tiny_gan(false)), Capture::Auto);
        assert!(run(&plain, &z, Some(&labels)).contains("label-conditioned model was expected"));
    }

    #[test]
    fn export_run_exports_the_runs_latest_checkpoint_and_names_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tiny_config(DatasetKind::Ring8, true);
        config.steps = 10;
        let root = dir.path().join("ring8-cgan");
        let run = RunDir::create(&root, &config).unwrap();
        let mut gan =
            Gan::new(config.clone(), Dataset::from_config(&config.data).unwrap()).unwrap();
        run::train(&run, &mut gan, run::TrainOptions { verbose: false }).unwrap();

        let out = dir.path().join("generator.onnx");
        let report = export_run(&root, &out, None).unwrap();
        assert!(report.max_abs_diff <= TOLERANCE, "{:?}", report.parity);
        assert!(!dir.path().join("generator.onnx.unverified").exists());
        let m = inspect_onnx(&out).unwrap().metadata;
        assert_eq!(m["edgegan.run"], "ring8-cgan");
        assert_eq!(m["edgegan.step"], "10");
        let on_disk = std::fs::read_to_string(root.join("config.toml")).unwrap();
        assert_eq!(
            m["edgegan.config_sha256"],
            hex(&Sha256::digest(on_disk.as_bytes()))
        );
        // the exported weights are the trained ones
        let (z, labels) = check_inputs(7, 8, 8);
        let burn = burn_forward(&gan.sampling_generator(), 8, &z, Some(&labels)).unwrap();
        let tract = run_onnx_with_tract(&out, &z, Some(&labels)).unwrap();
        assert!(max_abs_diff(&burn, &tract) <= TOLERANCE);

        let err = export_run(&dir.path().join("nothing"), &out, None).unwrap_err();
        assert!(matches!(err, TrainError::Run { .. }), "{err}");
    }

    #[derive(Module, Debug)]
    struct Leaky {
        fc: Linear,
    }

    impl Leaky {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            burn::tensor::activation::leaky_relu(self.fc.forward(x), 0.2)
        }
    }

    #[derive(Module, Debug)]
    struct OneHot {
        fc: Linear,
    }

    impl OneHot {
        fn forward(&self, labels: Tensor<1, Int>) -> Tensor<2> {
            self.fc.forward(labels.one_hot(4).float())
        }
    }

    #[test]
    fn unsupported_op_error_names_the_op_and_what_to_use_instead() {
        let device = Device::flex();
        let m = Leaky {
            fc: LinearConfig::new(4, 3).init(&device),
        };
        let err = OnnxExporter::new()
            .export(&m, Tensor::<2>::zeros([2, 4], &device), Leaky::forward)
            .unwrap_err();
        let msg = describe_export_error(&err);
        eprintln!("{msg}");
        assert!(msg.contains("`LeakyRelu`"), "{msg}");
        assert!(msg.contains("relu(x) - slope * relu(-x)"), "{msg}");

        let m = OneHot {
            fc: LinearConfig::new(4, 3).init(&device),
        };
        let labels = Tensor::<1, Int>::zeros([2], &device);
        let err = match guarded(|| OnnxExporter::new().export(&m, labels, OneHot::forward)) {
            Err(panic) => panic,
            Ok(result) => describe_export_error(&result.unwrap_err()),
        };
        eprintln!("{err}");
        assert!(err.contains("one_hot") || err.contains("OneHot"), "{err}");
        assert!(err.contains("select"), "{err}");
    }

    #[test]
    fn failed_self_check_is_an_error_with_the_numbers_and_out_is_not_written() {
        let gan = trained(tiny_gan(true));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("generator.onnx");
        // a negative tolerance rejects every model, even a perfect one
        let err = export_with(&gan, &out, "r", Capture::Auto, -1.0)
            .unwrap_err()
            .to_string();
        for batch in CHECK_BATCHES {
            assert!(err.contains(&format!("batch {batch}: ")), "{err}");
        }
        assert!(err.contains("self-check failed"), "{err}");
        assert!(!out.exists());
        assert!(
            dir.path().join("generator.onnx.unverified").exists(),
            "{err}"
        );
    }

    #[test]
    fn max_abs_diff_keeps_nan_and_length_mismatch_as_failures() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 2.0]), 0.5);
        assert!(max_abs_diff(&[f32::NAN, 2.0], &[0.0, 9.0]).is_nan());
        assert!(max_abs_diff(&[0.0, f32::NAN], &[0.0, 0.0]).is_nan());
        assert_eq!(max_abs_diff(&[0.0], &[0.0, 0.0]), f32::INFINITY);
    }

    #[test]
    fn operation_names_are_read_from_the_exporters_debug_text() {
        assert_eq!(
            operation_name("Module(ConvTranspose2d(ConvTranspose2dOpIr { x: TensorIr { .. } }))"),
            "ConvTranspose2d"
        );
        assert_eq!(
            operation_name("Float(F32, Erf(UnaryOpIr { input: 1 }))"),
            "Erf"
        );
        assert_eq!(operation_name("Activation(Gelu(UnaryOpIr { }))"), "Gelu");
        assert!(replacement_hint("ConvTranspose2d").contains("Conv2d"));
        assert!(replacement_hint("Embedding").contains("select"));
    }
}
