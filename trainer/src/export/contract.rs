//! The generator's ONNX contract as the trainer writes and checks it (ARCHITECTURE.md,
//! "The generator's ONNX contract"): a run's condition kind, the symbolic batch, and
//! reading an ONNX file's interface back to check it. The names, the `edgegan.*` metadata
//! keys and [`ConditionKind`] are the shared [`edgegan_runtime::contract`].

use std::collections::BTreeMap;
use std::path::Path;

use onnx_ir::{Message, ModelProto, ValueInfoProto};
use serde::Serialize;

pub use edgegan_runtime::contract::ConditionKind;
use edgegan_runtime::contract::{LABEL, MASK, MASKED, X, Z, keys};

use super::export_err;
use crate::error::{Result, TrainError};
use crate::training::Gan;

/// What a run's generator is conditioned on, as the contract sees it.
pub fn condition_kind(gan: &Gan) -> ConditionKind {
    let dim = |d: usize| u32::try_from(d).unwrap_or(u32::MAX);
    match (gan.inpainting(), gan.dataset.image_shape()) {
        (true, Some([c, h, w])) => ConditionKind::Mask {
            channels: dim(c),
            height: dim(h),
            width: dim(w),
        },
        _ if gan.conditional() => ConditionKind::Label {
            classes: dim(gan.dataset.classes()),
        },
        _ => ConditionKind::None,
    }
}

/// `[C, H, W]` of a mask-conditioned kind's `mask` and `masked` inputs.
pub fn mask_shape(kind: ConditionKind) -> Option<[usize; 3]> {
    match kind {
        ConditionKind::Mask {
            channels,
            height,
            width,
        } => Some([channels, height, width].map(|d| d as usize)),
        _ => None,
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

/// The symbolic batch dimension.
pub const BATCH_SYMBOL: &str = "N";

/// Ops that would make sampling non-deterministic; noise must come in through `z`.
pub const RANDOM_OPS: [&str; 6] = [
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
];

// TensorProto.DataType values from the ONNX specification.
pub(super) const ONNX_FLOAT: i32 = 1;

pub(super) const ONNX_INT32: i32 = 6;

pub(super) const ONNX_INT64: i32 = 7;

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

pub(super) fn elem_type(info: &ValueInfoProto) -> i32 {
    info.type_.tensor_type().elem_type
}

pub(super) fn dtype_name(t: i32) -> String {
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

pub(super) fn describe(info: &ValueInfoProto) -> TensorDescription {
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

pub(super) fn summarize(model: &ModelProto) -> OnnxSummary {
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
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| export_err(path, format!("not a readable ONNX protobuf: {e}")))?;
    Ok(summarize(&model))
}

/// Checks a summary against the contract for a generator of condition `kind` with noise
/// dimension `noise_dim` and samples of `out_shape` (without the batch).
pub fn check_contract(
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
    let mut inputs = vec![t(Z, "float32", &[n.clone(), noise_dim.to_string()])];
    let with_batch = |dims: &[usize]| -> Vec<String> {
        std::iter::once(n.clone())
            .chain(dims.iter().map(|d| d.to_string()))
            .collect()
    };
    match (kind, mask_shape(kind)) {
        (ConditionKind::Label { .. }, _) => {
            inputs.push(t(LABEL, "int64", std::slice::from_ref(&n)))
        }
        (_, Some(shape)) => {
            inputs.push(t(MASK, "float32", &with_batch(&shape)));
            inputs.push(t(MASKED, "float32", &with_batch(&shape)));
        }
        _ => {}
    }
    if summary.inputs != inputs {
        return Err(format!(
            "inputs are {:?}, expected {inputs:?}",
            summary.inputs
        ));
    }
    let outputs = vec![t(X, "float32", &with_batch(out_shape))];
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
        keys::NOISE_DIM,
        keys::CONDITION,
        keys::CLASSES,
        keys::CLASS_NAMES,
        keys::OUTPUT_SHAPE,
        keys::VALUE_RANGE,
        keys::NORMALIZER,
        keys::RUN,
        keys::CONFIG_SHA256,
    ] {
        if !summary.metadata.contains_key(key) {
            return Err(format!("metadata_props lacks {key}"));
        }
    }
    Ok(())
}
