//! The `.egm` writer (feature `std`): a graph description in, model bytes out.
//!
//! [`GraphBuilder`] collects a generator as a list of [`OpSpec`]s over f32 tensors (what
//! an ONNX lowering produces: weights as f32, BatchNorm already folded), checking shapes as
//! each op is added; errors name the op index. [`Graph::write`] then lowers it to one of
//! the three weight formats, plans the arena ([`crate::plan`]) and serialises it.
//!
//! - **f32**: weights and activations as given.
//! - **w8a32**: Dense/Conv2d weights as int8 with one f32 scale per output channel
//!   (symmetric, `scale = max|w| / 127`); everything else f32.
//! - **w8a8**: TFLite's int8 scheme. Each activation gets an asymmetric scale and zero
//!   point from its calibrated `(min, max)` ([`Calibration`], or [`Graph::calibrate`],
//!   which runs the f32 model through this runtime); weights are symmetric per output
//!   channel, biases int32 at `input_scale · weight_scale`, requantisation by Q31
//!   multiplier and shift; unary ops become 256-entry tables. Tensors that must share
//!   quantisation (both sides of Reshape and Upsample, all of a Concat) get the union of
//!   their ranges. The noise and condition inputs are quantised by a first op and the
//!   output dequantised by a last one, so the sampling API stays f32.

use std::collections::HashMap;

use crate::format::{
    self, DType, HEADER_LEN, MAGIC, NONE, OP_RECORD_LEN, OpFormat, OpKind, OpRecord, PREAMBLE_LEN,
    SECTION_ALIGN, Storage, TENSOR_RECORD_LEN, TensorInfo, VERSION, header as h, param,
};
use crate::kernels::FusedActivation;
use crate::kernels::add::ADD_LEFT_SHIFT;
use crate::plan::{BufferRequest, plan_greedy};
use crate::quant::{quantize_i8, quantize_multiplier};
use crate::{Condition, ConditionKind, DeviceModel, Error, Sampler, WeightFormat};

/// A tensor of a [`GraphBuilder`] graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

impl TensorId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a graph could not be built or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An op is invalid (shapes, weight lengths, unknown tensors); `op` is its index in
    /// the graph.
    #[error("op {op} ({kind}): {message}")]
    Op {
        /// Index of the op in the graph.
        op: usize,
        /// Its kind, e.g. `Dense`.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The graph as a whole is invalid (bad output, bad value range, bad noise size).
    #[error("graph: {0}")]
    Graph(String),
    /// w8a8 needs a range for this tensor and the calibration has none.
    #[error("tensor {tensor}: no calibration range (w8a8 needs one for every activation)")]
    MissingCalibration {
        /// The tensor.
        tensor: u32,
    },
    /// Quantisation produced a value the int8 format cannot hold.
    #[error("op {op} ({kind}): cannot quantise: {message}")]
    Quantisation {
        /// Index of the op in the graph.
        op: usize,
        /// Its kind.
        kind: &'static str,
        /// What overflowed.
        message: String,
    },
    /// The model exceeds a limit of the `.egm` format.
    #[error("model too large for .egm: {0}")]
    TooLarge(String),
    /// The runtime rejected the written model or failed while calibrating.
    #[error("runtime: {0}")]
    Runtime(#[from] Error),
}

/// Conv2d geometry for [`GraphBuilder::conv2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub padding: [usize; 4],
}

impl Conv2dSpec {
    /// A square kernel with stride 1 and "same" padding `k / 2` on every side.
    pub fn same(out_channels: usize, k: usize) -> Self {
        Conv2dSpec {
            out_channels,
            kernel: [k, k],
            stride: [1, 1],
            padding: [k / 2; 4],
        }
    }
}

/// One op of a graph, with f32 weights. Weights are row-major: Dense `[out, in]`
/// (`y = x·Wᵀ + b`), Conv2d `[M, C, KH, KW]`, Gather `[classes, D]`.
#[derive(Clone, Debug, PartialEq)]
pub enum OpSpec {
    /// Fully connected layer.
    Dense {
        /// Input (any shape; its element count is `in`).
        input: TensorId,
        /// Outputs.
        out_features: usize,
        /// `[out_features, in]`.
        weight: Vec<f32>,
        /// `[out_features]`.
        bias: Option<Vec<f32>>,
        /// Fused activation.
        activation: FusedActivation,
    },
    /// 2-D convolution on a `[C, H, W]` input.
    Conv2d {
        /// Input.
        input: TensorId,
        /// Geometry.
        spec: Conv2dSpec,
        /// `[M, C, KH, KW]`.
        weight: Vec<f32>,
        /// `[M]`.
        bias: Option<Vec<f32>>,
        /// Fused activation.
        activation: FusedActivation,
    },
    /// Nearest upsampling of a `[C, H, W]` input by integer factors.
    Upsample {
        /// Input.
        input: TensorId,
        /// `[fh, fw]`.
        factor: [usize; 2],
    },
    /// `max(0, x)`.
    Relu {
        /// Input.
        input: TensorId,
    },
    /// `x` or `alpha·x`.
    LeakyRelu {
        /// Input.
        input: TensorId,
        /// Slope for negatives.
        alpha: f32,
    },
    /// `tanh(x)`.
    Tanh {
        /// Input.
        input: TensorId,
    },
    /// `1 / (1 + e^−x)`.
    Sigmoid {
        /// Input.
        input: TensorId,
    },
    /// Concat along the first axis (channels, or features).
    Concat {
        /// Inputs (1 to 4), equal past the first axis.
        inputs: Vec<TensorId>,
    },
    /// Row `label` of a class table (the label is the model's condition).
    Gather {
        /// `[classes, dim]`.
        table: Vec<f32>,
        /// Row length.
        dim: usize,
    },
    /// `a + b`.
    Add {
        /// First operand.
        a: TensorId,
        /// Second operand.
        b: TensorId,
    },
    /// `a − b`.
    Sub {
        /// First operand.
        a: TensorId,
        /// Second operand.
        b: TensorId,
    },
    /// `a · b`.
    Mul {
        /// First operand.
        a: TensorId,
        /// Second operand.
        b: TensorId,
    },
    /// Same elements, new shape.
    Reshape {
        /// Input.
        input: TensorId,
        /// New shape (1 to 4 dims).
        shape: Vec<usize>,
    },
}

impl OpSpec {
    /// The op's name, as in error messages.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    fn kind(&self) -> OpKind {
        match self {
            OpSpec::Dense { .. } => OpKind::Dense,
            OpSpec::Conv2d { .. } => OpKind::Conv2d,
            OpSpec::Upsample { .. } => OpKind::Upsample,
            OpSpec::Relu { .. } => OpKind::Relu,
            OpSpec::LeakyRelu { .. } => OpKind::LeakyRelu,
            OpSpec::Tanh { .. } => OpKind::Tanh,
            OpSpec::Sigmoid { .. } => OpKind::Sigmoid,
            OpSpec::Concat { .. } => OpKind::Concat,
            OpSpec::Gather { .. } => OpKind::Gather,
            OpSpec::Add { .. } => OpKind::Add,
            OpSpec::Sub { .. } => OpKind::Sub,
            OpSpec::Mul { .. } => OpKind::Mul,
            OpSpec::Reshape { .. } => OpKind::Reshape,
        }
    }

    /// The tensors the op reads.
    pub fn inputs(&self) -> Vec<TensorId> {
        match self {
            OpSpec::Dense { input, .. }
            | OpSpec::Conv2d { input, .. }
            | OpSpec::Upsample { input, .. }
            | OpSpec::Relu { input }
            | OpSpec::LeakyRelu { input, .. }
            | OpSpec::Tanh { input }
            | OpSpec::Sigmoid { input }
            | OpSpec::Reshape { input, .. } => vec![*input],
            OpSpec::Concat { inputs } => inputs.clone(),
            OpSpec::Gather { .. } => vec![],
            OpSpec::Add { a, b } | OpSpec::Sub { a, b } | OpSpec::Mul { a, b } => vec![*a, *b],
        }
    }
}

/// A tensor of a graph: its shape, and its values if it is a constant.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Shape without batch (1 to 4 dims).
    pub shape: Vec<usize>,
    /// Values of a constant; `None` for activations and inputs.
    pub constant: Option<Vec<f32>>,
}

impl TensorSpec {
    /// Element count.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A finished, shape-checked generator graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Length of the noise input.
    pub noise_dim: usize,
    /// The condition.
    pub condition: ConditionKind,
    /// All tensors; index = [`TensorId`].
    pub tensors: Vec<TensorSpec>,
    /// Ops in execution order with their output tensors.
    pub ops: Vec<(OpSpec, TensorId)>,
    /// The noise input `[noise_dim]`.
    pub noise: TensorId,
    /// The mask input `[C, H, W]` (mask models).
    pub mask: Option<TensorId>,
    /// The masked-object input `[C, H, W]` (mask models).
    pub masked: Option<TensorId>,
    /// The generated object.
    pub output: TensorId,
    /// The range the output is trained to, e.g. `(-1, 1)`.
    pub value_range: (f32, f32),
}

/// Builds a [`Graph`] op by op, checking shapes as it goes.
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    graph: Graph,
}

fn op_err(op: usize, kind: OpKind, message: impl Into<String>) -> BuildError {
    BuildError::Op {
        op,
        kind: kind.name(),
        message: message.into(),
    }
}

impl GraphBuilder {
    /// A graph with a noise input of `noise_dim` and, for mask conditions, mask and masked
    /// inputs of the condition's shape.
    pub fn new(noise_dim: usize, condition: ConditionKind) -> Self {
        let mut tensors = vec![TensorSpec {
            shape: vec![noise_dim],
            constant: None,
        }];
        let (mut mask, mut masked) = (None, None);
        if let ConditionKind::Mask {
            channels,
            height,
            width,
        } = condition
        {
            let shape = vec![channels as usize, height as usize, width as usize];
            mask = Some(TensorId(1));
            masked = Some(TensorId(2));
            tensors.push(TensorSpec {
                shape: shape.clone(),
                constant: None,
            });
            tensors.push(TensorSpec {
                shape,
                constant: None,
            });
        }
        GraphBuilder {
            graph: Graph {
                noise_dim,
                condition,
                tensors,
                ops: vec![],
                noise: TensorId(0),
                mask,
                masked,
                output: TensorId(0),
                value_range: (-1.0, 1.0),
            },
        }
    }

    /// The noise input `z`, `[noise_dim]`.
    pub fn noise(&self) -> TensorId {
        self.graph.noise
    }

    /// The mask input (mask-conditioned graphs).
    pub fn mask(&self) -> Option<TensorId> {
        self.graph.mask
    }

    /// The masked-object input (mask-conditioned graphs).
    pub fn masked(&self) -> Option<TensorId> {
        self.graph.masked
    }

    /// The shape of a tensor.
    pub fn shape(&self, t: TensorId) -> Option<&[usize]> {
        self.graph
            .tensors
            .get(t.index())
            .map(|s| s.shape.as_slice())
    }

    /// A constant tensor (e.g. the `1` of `1 − mask`).
    ///
    /// # Errors
    ///
    /// [`BuildError::Graph`] if `values` does not have `shape`'s element count.
    pub fn constant(&mut self, shape: &[usize], values: &[f32]) -> Result<TensorId, BuildError> {
        check_shape(shape).map_err(BuildError::Graph)?;
        if shape.iter().product::<usize>() != values.len() {
            return Err(BuildError::Graph(format!(
                "constant of shape {shape:?} given {} values",
                values.len()
            )));
        }
        Ok(self.add_tensor(shape.to_vec(), Some(values.to_vec())))
    }

    fn add_tensor(&mut self, shape: Vec<usize>, constant: Option<Vec<f32>>) -> TensorId {
        self.graph.tensors.push(TensorSpec { shape, constant });
        TensorId(self.graph.tensors.len() as u32 - 1)
    }

    /// Adds any op (the entry point for a model lowering); returns its output tensor.
    ///
    /// # Errors
    ///
    /// [`BuildError::Op`] naming the op's index if an input is unknown, a shape does not
    /// fit, or a weight array has the wrong length.
    pub fn push(&mut self, op: OpSpec) -> Result<TensorId, BuildError> {
        let index = self.graph.ops.len();
        let shape = infer_shape(&self.graph, index, &op)?;
        let out = self.add_tensor(shape, None);
        self.graph.ops.push((op, out));
        Ok(out)
    }

    /// Dense `y = x·Wᵀ + b` with `weight` as `[out_features, in]`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn dense(
        &mut self,
        x: TensorId,
        out_features: usize,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Dense {
            input: x,
            out_features,
            weight: weight.to_vec(),
            bias: bias.map(<[f32]>::to_vec),
            activation: FusedActivation::None,
        })
    }

    /// Conv2d on a `[C, H, W]` tensor with `weight` as `[M, C, KH, KW]`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn conv2d(
        &mut self,
        x: TensorId,
        spec: Conv2dSpec,
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Conv2d {
            input: x,
            spec,
            weight: weight.to_vec(),
            bias: bias.map(<[f32]>::to_vec),
            activation: FusedActivation::None,
        })
    }

    /// Nearest upsampling of a `[C, H, W]` tensor.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn upsample(
        &mut self,
        x: TensorId,
        factor_h: usize,
        factor_w: usize,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Upsample {
            input: x,
            factor: [factor_h, factor_w],
        })
    }

    /// Relu.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn relu(&mut self, x: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Relu { input: x })
    }

    /// LeakyRelu with slope `alpha`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn leaky_relu(&mut self, x: TensorId, alpha: f32) -> Result<TensorId, BuildError> {
        self.push(OpSpec::LeakyRelu { input: x, alpha })
    }

    /// Tanh.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn tanh(&mut self, x: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Tanh { input: x })
    }

    /// Sigmoid.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn sigmoid(&mut self, x: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Sigmoid { input: x })
    }

    /// Concat along the first axis.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn concat(&mut self, inputs: &[TensorId]) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Concat {
            inputs: inputs.to_vec(),
        })
    }

    /// The label's row of a `[classes, dim]` table (label-conditioned graphs).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn label_embedding(&mut self, table: &[f32], dim: usize) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Gather {
            table: table.to_vec(),
            dim,
        })
    }

    /// `a + b` (`b` may be a scalar or per-channel, and so may `a` if `b` is full size).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn add(&mut self, a: TensorId, b: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Add { a, b })
    }

    /// `a − b`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn sub(&mut self, a: TensorId, b: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Sub { a, b })
    }

    /// `a · b`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn mul(&mut self, a: TensorId, b: TensorId) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Mul { a, b })
    }

    /// Reshape to `shape` (same element count).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn reshape(&mut self, x: TensorId, shape: &[usize]) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Reshape {
            input: x,
            shape: shape.to_vec(),
        })
    }

    /// Finishes the graph with `output` as the generated object.
    ///
    /// # Errors
    ///
    /// [`BuildError::Graph`] for an unknown output, a constant output, or a value range
    /// that is not finite and increasing.
    pub fn finish(
        mut self,
        output: TensorId,
        value_range: (f32, f32),
    ) -> Result<Graph, BuildError> {
        let spec = self
            .graph
            .tensors
            .get(output.index())
            .ok_or_else(|| BuildError::Graph(format!("unknown output tensor {}", output.0)))?;
        if spec.constant.is_some() {
            return Err(BuildError::Graph("the output is a constant".into()));
        }
        if !(value_range.0.is_finite()
            && value_range.1.is_finite()
            && value_range.0 < value_range.1)
        {
            return Err(BuildError::Graph(format!(
                "value range {value_range:?} must be finite and increasing"
            )));
        }
        if self.graph.noise_dim == 0 {
            return Err(BuildError::Graph("noise_dim must be at least 1".into()));
        }
        self.graph.output = output;
        self.graph.value_range = value_range;
        Ok(self.graph)
    }
}

fn check_shape(shape: &[usize]) -> Result<(), String> {
    if shape.is_empty() || shape.len() > 4 || shape.contains(&0) {
        return Err(format!("shape {shape:?} must have 1 to 4 non-zero dims"));
    }
    if shape
        .iter()
        .try_fold(1u32, |acc, &d| {
            u32::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
        .is_none()
    {
        return Err(format!("shape {shape:?} has more than 2^32 elements"));
    }
    Ok(())
}

/// The output shape of `op`, or an error naming op `index`.
fn infer_shape(g: &Graph, index: usize, op: &OpSpec) -> Result<Vec<usize>, BuildError> {
    let kind = op.kind();
    let err = |m: String| op_err(index, kind, m);
    let shape = |t: TensorId| {
        g.tensors
            .get(t.index())
            .map(|s| s.shape.clone())
            .ok_or_else(|| err(format!("unknown tensor {}", t.0)))
    };
    let numel = |s: &[usize]| s.iter().product::<usize>();
    for t in op.inputs() {
        shape(t)?;
    }
    let out = match op {
        OpSpec::Dense {
            input,
            out_features,
            weight,
            bias,
            ..
        } => {
            let k = numel(&shape(*input)?);
            if *out_features == 0 {
                return Err(err("out_features must be at least 1".into()));
            }
            if weight.len() != k * out_features {
                return Err(err(format!(
                    "weight has {} values, expected {out_features}x{k} = {}",
                    weight.len(),
                    k * out_features
                )));
            }
            if let Some(b) = bias.as_ref().filter(|b| b.len() != *out_features) {
                return Err(err(format!(
                    "bias has {} values, expected {out_features}",
                    b.len()
                )));
            }
            vec![*out_features]
        }
        OpSpec::Conv2d {
            input,
            spec,
            weight,
            bias,
            ..
        } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            let [kh, kw] = spec.kernel;
            let [sh, sw] = spec.stride;
            let [pt, pl, pb, pr] = spec.padding;
            if kh == 0 || kw == 0 || sh == 0 || sw == 0 || spec.out_channels == 0 {
                return Err(err(
                    "kernel, stride and out_channels must be positive".into()
                ));
            }
            if pt >= kh
                || pb >= kh
                || pl >= kw
                || pr >= kw
                || kh > 0xFFFF
                || kw > 0xFFFF
                || sh > 0xFFFF
                || sw > 0xFFFF
            {
                return Err(err(
                    "padding must be smaller than the kernel; sizes below 65536".into(),
                ));
            }
            if ih + pt + pb < kh || iw + pl + pr < kw {
                return Err(err(format!(
                    "kernel {kh}x{kw} larger than padded input {s:?}"
                )));
            }
            let want = spec.out_channels * c * kh * kw;
            if weight.len() != want {
                return Err(err(format!(
                    "weight has {} values, expected {}x{c}x{kh}x{kw} = {want}",
                    weight.len(),
                    spec.out_channels
                )));
            }
            if let Some(b) = bias.as_ref().filter(|b| b.len() != spec.out_channels) {
                return Err(err(format!(
                    "bias has {} values, expected {}",
                    b.len(),
                    spec.out_channels
                )));
            }
            vec![
                spec.out_channels,
                (ih + pt + pb - kh) / sh + 1,
                (iw + pl + pr - kw) / sw + 1,
            ]
        }
        OpSpec::Upsample { input, factor } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            if factor[0] == 0 || factor[1] == 0 {
                return Err(err("factors must be positive".into()));
            }
            vec![c, ih * factor[0], iw * factor[1]]
        }
        OpSpec::Relu { input } | OpSpec::Tanh { input } | OpSpec::Sigmoid { input } => {
            shape(*input)?
        }
        OpSpec::LeakyRelu { input, alpha } => {
            if !alpha.is_finite() {
                return Err(err("alpha must be finite".into()));
            }
            shape(*input)?
        }
        OpSpec::Concat { inputs } => {
            if inputs.is_empty() || inputs.len() > format::MAX_INPUTS {
                return Err(err(format!(
                    "concat takes 1 to {} inputs, got {}",
                    format::MAX_INPUTS,
                    inputs.len()
                )));
            }
            let first = shape(inputs[0])?;
            let mut out = first.clone();
            for &t in &inputs[1..] {
                let s = shape(t)?;
                if s.len() != first.len() || s[1..] != first[1..] {
                    return Err(err(format!(
                        "input shapes {first:?} and {s:?} differ past the first axis"
                    )));
                }
                out[0] += s[0];
            }
            out
        }
        OpSpec::Gather { table, dim } => {
            let ConditionKind::Label { classes } = g.condition else {
                return Err(err(
                    "a label embedding needs a label-conditioned graph".into()
                ));
            };
            if *dim == 0 || table.len() != classes as usize * dim {
                return Err(err(format!(
                    "table has {} values, expected {classes}x{dim}",
                    table.len()
                )));
            }
            vec![*dim]
        }
        OpSpec::Add { a, b } | OpSpec::Sub { a, b } | OpSpec::Mul { a, b } => {
            let (sa, sb) = (shape(*a)?, shape(*b)?);
            let (na, nb) = (numel(&sa), numel(&sb));
            let (full, other) = if na >= nb { (sa, nb) } else { (sb, na) };
            let n = numel(&full);
            let ok = other == n || other == 1 || (full.len() >= 2 && other == full[0]);
            if !ok {
                return Err(err(format!(
                    "operands of {na} and {nb} elements: the smaller must be full size, a scalar or one per channel"
                )));
            }
            full
        }
        OpSpec::Reshape { input, shape: new } => {
            let s = shape(*input)?;
            check_shape(new).map_err(err)?;
            if numel(new) != numel(&s) {
                return Err(err(format!("cannot reshape {s:?} to {new:?}")));
            }
            new.clone()
        }
    };
    check_shape(&out).map_err(err)?;
    Ok(out)
}

/// Per-tensor activation ranges `(min, max)` for w8a8, indexed by [`TensorId`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    ranges: HashMap<TensorId, (f32, f32)>,
}

impl Calibration {
    /// An empty calibration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the range of `t`.
    pub fn set(&mut self, t: TensorId, min: f32, max: f32) {
        self.ranges.insert(t, (min, max));
    }

    /// The range of `t`.
    pub fn get(&self, t: TensorId) -> Option<(f32, f32)> {
        self.ranges.get(&t).copied()
    }

    /// Widens the range of `t` to include `values` (NaN ignored).
    pub fn observe(&mut self, t: TensorId, values: &[f32]) {
        let (mut lo, mut hi) = self.get(t).unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
        for &v in values.iter().filter(|v| !v.is_nan()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo <= hi {
            self.set(t, lo, hi);
        }
    }
}

/// How [`Graph::write`] writes a model.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOptions {
    /// The weight format.
    pub format: WeightFormat,
    /// Activation ranges (w8a8 only).
    pub calibration: Option<Calibration>,
    /// Fold a Relu that follows a Dense/Conv2d (and is that op's only reader) into it.
    pub fuse_relu: bool,
    /// Reuse arena bytes between tensors and run ops in place (the normal case). Off, every
    /// tensor keeps its own bytes, which calibration needs.
    pub reuse_memory: bool,
}

impl WriteOptions {
    /// f32 weights and activations.
    pub fn f32() -> Self {
        WriteOptions {
            format: WeightFormat::F32,
            calibration: None,
            fuse_relu: true,
            reuse_memory: true,
        }
    }

    /// int8 weights, f32 activations.
    pub fn w8a32() -> Self {
        WriteOptions {
            format: WeightFormat::W8A32,
            ..Self::f32()
        }
    }

    /// int8 everything, with activation ranges.
    pub fn w8a8(calibration: Calibration) -> Self {
        WriteOptions {
            format: WeightFormat::W8A8,
            calibration: Some(calibration),
            ..Self::f32()
        }
    }
}

/// Quantisation parameters of an int8 tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QParams {
    scale: f32,
    zero_point: i32,
}

impl QParams {
    /// Asymmetric int8 over `[min, max]` widened to include 0 (TFLite's rule).
    fn from_range(min: f32, max: f32) -> QParams {
        let (lo, hi) = (f64::from(min.min(0.0)), f64::from(max.max(0.0)));
        let span = if hi - lo > 1e-12 { hi - lo } else { 1e-6 };
        let scale = (span / 255.0) as f32;
        let zp = (-128.0 - lo / f64::from(scale))
            .round()
            .clamp(-128.0, 127.0) as i32;
        QParams {
            scale,
            zero_point: zp,
        }
    }
}

/// A runtime tensor being written.
#[derive(Clone, Debug)]
struct LTensor {
    dtype: DType,
    shape: Vec<usize>,
    q: Option<QParams>,
    constant: Option<Vec<u8>>,
}

/// A runtime op being written: the record minus tensor indices and weight offsets, which
/// are filled at serialisation.
#[derive(Clone, Debug)]
struct LOp {
    kind: OpKind,
    format: OpFormat,
    activation: u8,
    inputs: Vec<usize>,
    output: usize,
    params: [u32; 10],
    /// (param slot, bytes) of weight arrays, placed into the blob and their slot set to
    /// the offset.
    weights: Vec<(usize, Vec<u8>)>,
}

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i8(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

/// Symmetric per-row int8: `(q, scale)` with `scale = max|w_row| / 127`.
fn quantize_rows(w: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / rows.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(rows);
    for row in w.chunks(per.max(1)) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(row.iter().map(|&v| quantize_i8(v, s, 0).max(-127)));
    }
    (q, scales)
}

struct Lowering<'g> {
    g: &'g Graph,
    opts: &'g WriteOptions,
    tensors: Vec<LTensor>,
    ops: Vec<LOp>,
    /// Graph tensor -> runtime tensor.
    map: Vec<Option<usize>>,
    /// Graph tensor -> quantisation (w8a8).
    qparams: Vec<Option<QParams>>,
    /// Runtime tensors of the f32 inputs: noise, then mask and masked.
    role_rt: Vec<usize>,
    /// Runtime tensor of the f32 output.
    output_rt: usize,
}

impl Graph {
    /// Writes the graph as `.egm` bytes.
    ///
    /// # Errors
    ///
    /// [`BuildError::MissingCalibration`] when w8a8 lacks a range,
    /// [`BuildError::Quantisation`] when a bias or multiplier does not fit int32/Q31,
    /// [`BuildError::TooLarge`] past the format's limits, [`BuildError::Runtime`] if the
    /// written model fails the runtime's own validation (a writer bug).
    pub fn write(&self, opts: &WriteOptions) -> Result<Vec<u8>, BuildError> {
        self.write_mapped(opts).map(|(bytes, _)| bytes)
    }

    /// Writes the graph and returns, for each graph tensor, its runtime tensor index.
    fn write_mapped(
        &self,
        opts: &WriteOptions,
    ) -> Result<(Vec<u8>, Vec<Option<usize>>), BuildError> {
        let mut l = Lowering {
            g: self,
            opts,
            tensors: vec![],
            ops: vec![],
            map: vec![None; self.tensors.len()],
            qparams: vec![],
            role_rt: vec![],
            output_rt: 0,
        };
        l.lower()?;
        let bytes = l.serialise()?;
        // The runtime's validation is the writer's last check.
        DeviceModel::from_bytes(AlignedBytes::new(&bytes).as_slice())?;
        Ok((bytes, l.map))
    }

    /// Activation ranges from running the f32 model through this runtime on `samples`
    /// (seed and condition pairs): every tensor's min and max over all of them.
    ///
    /// # Errors
    ///
    /// [`BuildError::Runtime`] if a condition does not fit the model.
    pub fn calibrate<'c>(
        &self,
        samples: impl IntoIterator<Item = (u64, Condition<'c>)>,
    ) -> Result<Calibration, BuildError> {
        let opts = WriteOptions {
            format: WeightFormat::F32,
            calibration: None,
            fuse_relu: false,
            reuse_memory: false,
        };
        let (bytes, map) = self.write_mapped(&opts)?;
        let bytes = AlignedBytes::new(&bytes);
        let model = DeviceModel::from_bytes(bytes.as_slice())?;
        let mut arena = vec![0u8; model.arena_bytes() + 16];
        let mut sampler = Sampler::new(&model, &mut arena)?;
        let mut out = vec![0.0f32; model.output_len()];
        let mut cal = Calibration::new();
        for (seed, condition) in samples {
            sampler.sample(seed, condition, &mut out)?;
            for (i, rt) in map.iter().enumerate() {
                if let Some(rt) = rt {
                    cal.observe(TensorId(i as u32), sampler.tensor_f32(*rt as u32)?);
                }
            }
        }
        Ok(cal)
    }
}

impl Lowering<'_> {
    fn w8a8(&self) -> bool {
        self.opts.format == WeightFormat::W8A8
    }

    fn push_tensor(&mut self, t: LTensor) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    fn op(&self, kind: OpKind, format: OpFormat, inputs: Vec<usize>, output: usize) -> LOp {
        LOp {
            kind,
            format,
            activation: 0,
            inputs,
            output,
            params: [0; 10],
            weights: vec![],
        }
    }

    /// Union-find groups of graph tensors that must share quantisation.
    fn quant_groups(&self) -> Vec<usize> {
        let n = self.g.tensors.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let union = |p: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(p, a), find(p, b));
            if ra != rb {
                p[ra] = rb;
            }
        };
        for (op, out) in &self.g.ops {
            match op {
                OpSpec::Reshape { input, .. } | OpSpec::Upsample { input, .. } => {
                    union(&mut parent, input.index(), out.index());
                }
                OpSpec::Concat { inputs } => {
                    for i in inputs {
                        union(&mut parent, i.index(), out.index());
                    }
                }
                _ => {}
            }
        }
        (0..n).map(|i| find(&mut parent, i)).collect()
    }

    /// Quantisation of every non-constant graph tensor from the calibration.
    #[allow(clippy::needless_range_loop)] // parallel arrays indexed by tensor
    fn compute_qparams(&mut self) -> Result<(), BuildError> {
        let cal = self.opts.calibration.clone().unwrap_or_default();
        let n = self.g.tensors.len();
        let mut ranges: Vec<Option<(f32, f32)>> =
            (0..n).map(|i| cal.get(TensorId(i as u32))).collect();
        // Fixed output ranges of the saturating activations.
        for (op, out) in &self.g.ops {
            match op {
                OpSpec::Tanh { .. } => ranges[out.index()] = Some((-1.0, 1.0)),
                OpSpec::Sigmoid { .. } => ranges[out.index()] = Some((0.0, 1.0)),
                OpSpec::Gather { table, .. } => {
                    let r = table
                        .iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                            (a.min(v), b.max(v))
                        });
                    ranges[out.index()] = Some(r);
                }
                _ => {}
            }
        }
        let groups = self.quant_groups();
        let mut group_range: HashMap<usize, (f32, f32)> = HashMap::new();
        for i in 0..n {
            if self.g.tensors[i].constant.is_some() {
                continue;
            }
            let Some((lo, hi)) = ranges[i] else { continue };
            let e = group_range.entry(groups[i]).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
        self.qparams = vec![None; n];
        for i in 0..n {
            let spec = &self.g.tensors[i];
            self.qparams[i] = if let Some(c) = &spec.constant {
                let r = c
                    .iter()
                    .fold((0.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
                Some(QParams::from_range(r.0, r.1))
            } else {
                group_range
                    .get(&groups[i])
                    .map(|&(lo, hi)| QParams::from_range(lo, hi))
            };
        }
        Ok(())
    }

    fn q(&self, t: TensorId) -> Result<QParams, BuildError> {
        self.qparams
            .get(t.index())
            .copied()
            .flatten()
            .ok_or(BuildError::MissingCalibration { tensor: t.0 })
    }

    /// The runtime tensor of graph tensor `t`, creating constants on first use.
    fn rt(&mut self, t: TensorId) -> Result<usize, BuildError> {
        if let Some(r) = self.map[t.index()] {
            return Ok(r);
        }
        let spec = &self.g.tensors[t.index()];
        let Some(values) = spec.constant.clone() else {
            return Err(BuildError::Graph(format!(
                "tensor {} is read before it is written",
                t.0
            )));
        };
        let lt = if self.w8a8() {
            let q = self.q(t)?;
            let data: Vec<i8> = values
                .iter()
                .map(|&v| quantize_i8(v, q.scale, q.zero_point))
                .collect();
            LTensor {
                dtype: DType::I8,
                shape: spec.shape.clone(),
                q: Some(q),
                constant: Some(bytes_i8(&data)),
            }
        } else {
            LTensor {
                dtype: DType::F32,
                shape: spec.shape.clone(),
                q: None,
                constant: Some(bytes_f32(&values)),
            }
        };
        let r = self.push_tensor(lt);
        self.map[t.index()] = Some(r);
        Ok(r)
    }

    /// A new activation tensor for graph tensor `t`.
    fn activation(&mut self, t: TensorId) -> Result<usize, BuildError> {
        let shape = self.g.tensors[t.index()].shape.clone();
        let lt = if self.w8a8() {
            LTensor {
                dtype: DType::I8,
                shape,
                q: Some(self.q(t)?),
                constant: None,
            }
        } else {
            LTensor {
                dtype: DType::F32,
                shape,
                q: None,
                constant: None,
            }
        };
        let r = self.push_tensor(lt);
        self.map[t.index()] = Some(r);
        Ok(r)
    }

    fn lower(&mut self) -> Result<(), BuildError> {
        let g = self.g;
        if self.w8a8() {
            self.compute_qparams()?;
        }
        // Inputs: f32 tensors written by the sampler; in w8a8 each is quantised by a first op.
        let mut roles = vec![g.noise];
        roles.extend(g.mask);
        roles.extend(g.masked);
        for &t in &roles {
            let shape = g.tensors[t.index()].shape.clone();
            let f = self.push_tensor(LTensor {
                dtype: DType::F32,
                shape,
                q: None,
                constant: None,
            });
            self.map[t.index()] = Some(f);
            self.role_rt.push(f);
            if self.w8a8() {
                let q = self.activation(t)?;
                let op = self.op(OpKind::Quantize, OpFormat::W8A8, vec![f], q);
                self.ops.push(op);
            }
        }
        // Relu fusion: Dense/Conv2d whose only reader is a Relu.
        let readers = |t: TensorId| {
            g.ops
                .iter()
                .filter(|(op, _)| op.inputs().contains(&t))
                .count()
                + usize::from(t == g.output)
        };
        let mut fused_into: HashMap<usize, usize> = HashMap::new(); // relu op -> producer op
        if self.opts.fuse_relu {
            for (i, (op, out)) in g.ops.iter().enumerate() {
                if !matches!(op, OpSpec::Dense { .. } | OpSpec::Conv2d { .. }) || readers(*out) != 1
                {
                    continue;
                }
                if let Some(j) = g
                    .ops
                    .iter()
                    .position(|(o, _)| matches!(o, OpSpec::Relu { input } if input == out))
                {
                    fused_into.insert(j, i);
                }
            }
        }
        let fused_producers: HashMap<usize, usize> =
            fused_into.iter().map(|(&r, &p)| (p, r)).collect();
        for (i, (op, out)) in g.ops.iter().enumerate() {
            if fused_into.contains_key(&i) {
                continue; // folded into its producer
            }
            // A fused producer writes the relu's output tensor directly.
            let (out, activation) = match fused_producers.get(&i) {
                Some(&r) => (g.ops[r].1, FusedActivation::Relu),
                None => (*out, FusedActivation::None),
            };
            self.lower_op(i, op, out, activation)?;
        }
        // Output: f32 (dequantised in w8a8).
        let out_rt = self.rt(g.output)?;
        self.output_rt = out_rt;
        if self.w8a8() {
            let f = self.push_tensor(LTensor {
                dtype: DType::F32,
                shape: g.tensors[g.output.index()].shape.clone(),
                q: None,
                constant: None,
            });
            let op = self.op(OpKind::Dequantize, OpFormat::W8A8, vec![out_rt], f);
            self.ops.push(op);
            self.output_rt = f;
        }
        Ok(())
    }

    fn lower_op(
        &mut self,
        index: usize,
        op: &OpSpec,
        out: TensorId,
        act: FusedActivation,
    ) -> Result<(), BuildError> {
        let kind = op.kind();
        let w8a8 = self.w8a8();
        let fmt = if w8a8 { OpFormat::W8A8 } else { OpFormat::F32 };
        let inputs: Vec<usize> = op
            .inputs()
            .iter()
            .map(|&t| self.rt(t))
            .collect::<Result<_, _>>()?;
        let y = self.activation(out)?;
        let mut lop = self.op(kind, fmt, inputs.clone(), y);
        lop.activation = u8::from(act == FusedActivation::Relu);
        let qerr = |m: String| BuildError::Quantisation {
            op: index,
            kind: kind.name(),
            message: m,
        };
        let mut p = lop.params;
        match op {
            OpSpec::Dense {
                input,
                out_features,
                weight,
                bias,
                ..
            } => {
                let n = *out_features;
                let k = weight.len() / n;
                p[param::DENSE_K] = k as u32;
                p[param::DENSE_N] = n as u32;
                match self.opts.format {
                    WeightFormat::F32 => {
                        lop.weights.push((param::DENSE_WEIGHTS, bytes_f32(weight)));
                        if let Some(b) = bias {
                            lop.weights.push((param::DENSE_BIAS, bytes_f32(b)));
                        }
                    }
                    WeightFormat::W8A32 => {
                        lop.format = OpFormat::W8A32;
                        let (q, s) = quantize_rows(weight, n);
                        lop.weights.push((param::DENSE_WEIGHTS, bytes_i8(&q)));
                        lop.weights.push((param::DENSE_SCALES, bytes_f32(&s)));
                        if let Some(b) = bias {
                            lop.weights.push((param::DENSE_BIAS, bytes_f32(b)));
                        }
                    }
                    WeightFormat::W8A8 => {
                        let (qx, qy) = (self.q(*input)?, self.q(out)?);
                        if k > format::MAX_ACC_TERMS {
                            return Err(qerr(format!(
                                "{k} inputs exceed the int32 accumulator limit {}",
                                format::MAX_ACC_TERMS
                            )));
                        }
                        let (q, s) = quantize_rows(weight, n);
                        let mut b32 = Vec::with_capacity(n);
                        let (mut mult, mut shift) = (Vec::with_capacity(n), Vec::with_capacity(n));
                        for (row, (qrow, &sw)) in q.chunks(k).zip(&s).enumerate() {
                            let acc_scale = f64::from(qx.scale) * f64::from(sw);
                            let b = bias.as_ref().map_or(0.0, |b| f64::from(b[row]));
                            let bq = (b / acc_scale).round();
                            let wsum: i64 = row_sum(qrow);
                            let folded = bq as i64 - i64::from(qx.zero_point) * wsum;
                            if bq.abs() > f64::from(1u32 << 30) || folded.unsigned_abs() > 1 << 30 {
                                return Err(qerr(format!(
                                    "bias of output {row} does not fit int32 at scale {acc_scale:e}"
                                )));
                            }
                            b32.push(folded as i32);
                            let (m, sh) = quantize_multiplier(acc_scale / f64::from(qy.scale))
                                .ok_or_else(|| qerr("bad multiplier".into()))?;
                            mult.push(m);
                            shift.push(sh);
                        }
                        lop.weights.push((param::DENSE_WEIGHTS, bytes_i8(&q)));
                        lop.weights.push((param::DENSE_BIAS, bytes_i32(&b32)));
                        lop.weights.push((param::DENSE_SCALES, bytes_i32(&mult)));
                        lop.weights.push((param::DENSE_SHIFTS, bytes_i32(&shift)));
                    }
                }
            }
            OpSpec::Conv2d {
                input,
                spec,
                weight,
                bias,
                ..
            } => {
                let m = spec.out_channels;
                p[param::CONV_KH] = spec.kernel[0] as u32;
                p[param::CONV_KW] = spec.kernel[1] as u32;
                p[param::CONV_STRIDE] = spec.stride[0] as u32 | (spec.stride[1] as u32) << 16;
                p[param::CONV_PAD_TL] = spec.padding[0] as u32 | (spec.padding[1] as u32) << 16;
                p[param::CONV_PAD_BR] = spec.padding[2] as u32 | (spec.padding[3] as u32) << 16;
                match self.opts.format {
                    WeightFormat::F32 => {
                        lop.weights.push((param::CONV_WEIGHTS, bytes_f32(weight)));
                        if let Some(b) = bias {
                            lop.weights.push((param::CONV_BIAS, bytes_f32(b)));
                        }
                    }
                    WeightFormat::W8A32 => {
                        lop.format = OpFormat::W8A32;
                        let (q, s) = quantize_rows(weight, m);
                        lop.weights.push((param::CONV_WEIGHTS, bytes_i8(&q)));
                        lop.weights.push((param::CONV_SCALES, bytes_f32(&s)));
                        if let Some(b) = bias {
                            lop.weights.push((param::CONV_BIAS, bytes_f32(b)));
                        }
                    }
                    WeightFormat::W8A8 => {
                        let (qx, qy) = (self.q(*input)?, self.q(out)?);
                        let taps = weight.len() / m;
                        if taps > format::MAX_ACC_TERMS {
                            return Err(qerr(format!(
                                "{taps} taps exceed the int32 accumulator limit {}",
                                format::MAX_ACC_TERMS
                            )));
                        }
                        let (q, s) = quantize_rows(weight, m);
                        let (mut b32, mut mult, mut shift) = (vec![], vec![], vec![]);
                        for (ch, &sw) in s.iter().enumerate() {
                            let acc_scale = f64::from(qx.scale) * f64::from(sw);
                            let b = bias.as_ref().map_or(0.0, |b| f64::from(b[ch]));
                            let bq = (b / acc_scale).round();
                            if bq.abs() > f64::from(1u32 << 30) {
                                return Err(qerr(format!(
                                    "bias of channel {ch} does not fit int32 at scale {acc_scale:e}"
                                )));
                            }
                            b32.push(bq as i32);
                            let (mm, sh) = quantize_multiplier(acc_scale / f64::from(qy.scale))
                                .ok_or_else(|| qerr("bad multiplier".into()))?;
                            mult.push(mm);
                            shift.push(sh);
                        }
                        lop.weights.push((param::CONV_WEIGHTS, bytes_i8(&q)));
                        lop.weights.push((param::CONV_BIAS, bytes_i32(&b32)));
                        lop.weights.push((param::CONV_SCALES, bytes_i32(&mult)));
                        lop.weights.push((param::CONV_SHIFTS, bytes_i32(&shift)));
                    }
                }
            }
            OpSpec::Upsample { factor, .. } => {
                p[param::UP_FH] = factor[0] as u32;
                p[param::UP_FW] = factor[1] as u32;
            }
            OpSpec::Relu { input }
            | OpSpec::LeakyRelu { input, .. }
            | OpSpec::Tanh { input }
            | OpSpec::Sigmoid { input } => {
                let alpha = if let OpSpec::LeakyRelu { alpha, .. } = op {
                    *alpha
                } else {
                    0.0
                };
                if matches!(op, OpSpec::LeakyRelu { .. }) {
                    p[param::LEAKY_ALPHA] = alpha.to_bits();
                }
                if w8a8 {
                    let (qx, qy) = (self.q(*input)?, self.q(out)?);
                    let f = |x: f64| -> f64 {
                        match op {
                            OpSpec::Relu { .. } => x.max(0.0),
                            OpSpec::LeakyRelu { .. } => {
                                if x < 0.0 {
                                    x * f64::from(alpha)
                                } else {
                                    x
                                }
                            }
                            OpSpec::Tanh { .. } => libm::tanh(x),
                            _ => 1.0 / (1.0 + libm::exp(-x)),
                        }
                    };
                    let table: Vec<i8> = (0..256)
                        .map(|i| {
                            let x = f64::from(i - 128 - qx.zero_point) * f64::from(qx.scale);
                            let yq =
                                libm::round(f(x) / f64::from(qy.scale)) + f64::from(qy.zero_point);
                            yq.clamp(-128.0, 127.0) as i8
                        })
                        .collect();
                    lop.weights.push((param::UNARY_LUT, bytes_i8(&table)));
                }
            }
            OpSpec::Concat { .. } | OpSpec::Reshape { .. } => {}
            OpSpec::Gather { table, dim } => {
                let ConditionKind::Label { classes } = self.g.condition else {
                    return Err(BuildError::Graph("gather without label".into()));
                };
                p[param::GATHER_CLASSES] = classes;
                p[param::GATHER_ROW] = *dim as u32;
                if w8a8 {
                    let qy = self.q(out)?;
                    let t: Vec<i8> = table
                        .iter()
                        .map(|&v| quantize_i8(v, qy.scale, qy.zero_point))
                        .collect();
                    lop.weights.push((param::GATHER_TABLE, bytes_i8(&t)));
                } else {
                    lop.weights.push((param::GATHER_TABLE, bytes_f32(table)));
                }
            }
            OpSpec::Add { a, b } | OpSpec::Sub { a, b } | OpSpec::Mul { a, b } => {
                let out_shape = &self.g.tensors[out.index()].shape;
                let n: usize = out_shape.iter().product();
                let mode = |t: &TensorId| {
                    let k = self.g.tensors[t.index()].numel();
                    if k == n {
                        0
                    } else if k == 1 {
                        1
                    } else {
                        2
                    }
                };
                p[param::BIN_BCAST_A] = mode(a);
                p[param::BIN_BCAST_B] = mode(b);
                if w8a8 {
                    let (qa, qb, qy) = (self.q(*a)?, self.q(*b)?, self.q(out)?);
                    let qm = |r: f64| {
                        quantize_multiplier(r)
                            .ok_or_else(|| qerr(format!("multiplier {r:e} out of range")))
                    };
                    if matches!(op, OpSpec::Mul { .. }) {
                        let (m, s) =
                            qm(f64::from(qa.scale) * f64::from(qb.scale) / f64::from(qy.scale))?;
                        p[param::MUL_MULT_OUT] = m as u32;
                        p[param::MUL_SHIFT_OUT] = s as u32;
                    } else {
                        let twice_max = 2.0 * f64::from(qa.scale.max(qb.scale));
                        let (ma, sa) = qm(f64::from(qa.scale) / twice_max)?;
                        let (mb, sb) = qm(f64::from(qb.scale) / twice_max)?;
                        let (mo, so) =
                            qm(twice_max
                                / (f64::from(1u32 << ADD_LEFT_SHIFT) * f64::from(qy.scale)))?;
                        p[param::ADD_MULT_A] = ma as u32;
                        p[param::ADD_SHIFT_A] = sa as u32;
                        p[param::ADD_MULT_B] = mb as u32;
                        p[param::ADD_SHIFT_B] = sb as u32;
                        p[param::ADD_MULT_OUT] = mo as u32;
                        p[param::ADD_SHIFT_OUT] = so as u32;
                    }
                }
            }
        }
        lop.params = p;
        self.ops.push(lop);
        Ok(())
    }

    /// Serialises: memory plan, blob, tables, header, checksum.
    #[allow(clippy::needless_range_loop)] // parallel arrays indexed by tensor
    fn serialise(&mut self) -> Result<Vec<u8>, BuildError> {
        let g = self.g;
        let nt = self.tensors.len();
        if nt > format::MAX_TENSORS || self.ops.len() > format::MAX_OPS {
            return Err(BuildError::TooLarge(format!(
                "{nt} tensors, {} ops",
                self.ops.len()
            )));
        }
        // Roles: noise, then mask and masked (f32 tensors written by the sampler).
        let roles = self.role_rt.clone();
        let noise_rt = roles[0];
        let (mask_rt, masked_rt) = (roles.get(1).copied(), roles.get(2).copied());
        let output_rt = self.output_rt;

        // Lifetimes over steps: inputs at step 0, op j at step j + 1, the output read at the end.
        let steps = self.ops.len() + 1;
        let mut first = vec![usize::MAX; nt];
        let mut last = vec![0usize; nt];
        for &r in &roles {
            first[r] = 0;
        }
        for (j, op) in self.ops.iter().enumerate() {
            first[op.output] = first[op.output].min(j + 1);
            last[op.output] = last[op.output].max(j + 1);
            for &i in &op.inputs {
                last[i] = last[i].max(j + 1);
            }
        }
        last[output_rt] = steps;
        if !self.opts.reuse_memory {
            // Every tensor keeps its bytes to the end (calibration reads them all).
            last.iter_mut().for_each(|l| *l = steps);
        }
        // Buffers: a tensor shares its input's buffer when the op can run in place and the
        // input dies there.
        let mut buffer_of: Vec<usize> = (0..nt).collect();
        if self.opts.reuse_memory {
            for (j, op) in self.ops.iter().enumerate() {
                let step = j + 1;
                let candidates: Vec<usize> = match op.kind {
                    OpKind::Relu
                    | OpKind::LeakyRelu
                    | OpKind::Tanh
                    | OpKind::Sigmoid
                    | OpKind::Reshape => vec![op.inputs[0]],
                    OpKind::Add | OpKind::Sub | OpKind::Mul => op.inputs.clone(),
                    _ => vec![],
                };
                for x in candidates {
                    let xt = &self.tensors[x];
                    let yt = &self.tensors[op.output];
                    let bytes = |t: &LTensor| t.shape.iter().product::<usize>() * t.dtype.size();
                    if xt.constant.is_some() || bytes(xt) != bytes(yt) || xt.dtype != yt.dtype {
                        continue;
                    }
                    let bx = buffer_of[x];
                    // Every tensor in x's buffer must be dead after this op, and the other
                    // operand must live elsewhere.
                    let group_last = (0..nt)
                        .filter(|&t| buffer_of[t] == bx)
                        .map(|t| last[t])
                        .max()
                        .unwrap_or(0);
                    let others_apart = op
                        .inputs
                        .iter()
                        .filter(|&&i| i != x)
                        .all(|&i| self.tensors[i].constant.is_some() || buffer_of[i] != bx);
                    let reshape_reads_once = op.inputs.iter().filter(|&&i| i == x).count() == 1;
                    if group_last == step
                        && others_apart
                        && reshape_reads_once
                        && !roles.contains(&op.output)
                    {
                        buffer_of[op.output] = bx;
                        break;
                    }
                }
            }
        }
        let mut requests: Vec<BufferRequest> = vec![];
        let mut req_of_buffer: HashMap<usize, usize> = HashMap::new();
        for t in 0..nt {
            if self.tensors[t].constant.is_some() || first[t] == usize::MAX {
                continue;
            }
            let size =
                self.tensors[t].shape.iter().product::<usize>() * self.tensors[t].dtype.size();
            let b = buffer_of[t];
            match req_of_buffer.get(&b) {
                Some(&ri) => {
                    let r: &mut BufferRequest = &mut requests[ri];
                    r.first_use = r.first_use.min(first[t]);
                    r.last_use = r.last_use.max(last[t]);
                    r.size = r.size.max(size);
                }
                None => {
                    req_of_buffer.insert(b, requests.len());
                    requests.push(BufferRequest {
                        size,
                        first_use: first[t],
                        last_use: last[t].max(first[t]),
                    });
                }
            }
        }
        let plan = plan_greedy(&requests, format::DATA_ALIGN);

        // Blob: constants, then each op's weight arrays, 4-byte aligned.
        let mut blob: Vec<u8> = vec![];
        let mut push_blob = |bytes: &[u8]| -> Result<u32, BuildError> {
            while !blob.len().is_multiple_of(format::DATA_ALIGN) {
                blob.push(0);
            }
            let off = u32::try_from(blob.len())
                .map_err(|_| BuildError::TooLarge("weights past 4 GiB".into()))?;
            blob.extend_from_slice(bytes);
            Ok(off)
        };
        let mut records = Vec::with_capacity(nt);
        for t in 0..nt {
            let lt = &self.tensors[t];
            let (storage, offset) = match &lt.constant {
                Some(bytes) => (Storage::Const, push_blob(bytes)?),
                None => {
                    let off = req_of_buffer
                        .get(&buffer_of[t])
                        .map_or(0, |&ri| plan.offsets[ri]);
                    (Storage::Arena, off as u32)
                }
            };
            let mut dims = [1u32; 4];
            for (d, &s) in dims.iter_mut().zip(&lt.shape) {
                *d = s as u32;
            }
            let q = lt.q.unwrap_or(QParams {
                scale: 0.0,
                zero_point: 0,
            });
            records.push(TensorInfo {
                dtype: lt.dtype,
                storage,
                rank: lt.shape.len() as u8,
                dims,
                offset,
                numel: lt.shape.iter().product::<usize>() as u32,
                scale: if lt.dtype == DType::I8 { q.scale } else { 0.0 },
                zero_point: if lt.dtype == DType::I8 {
                    q.zero_point
                } else {
                    0
                },
            });
        }
        let mut op_records = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let mut params = op.params;
            // Weight slots hold a blob offset, or NONE when the array is absent.
            let weight_slots: &[usize] = match op.kind {
                OpKind::Dense => &[
                    param::DENSE_WEIGHTS,
                    param::DENSE_BIAS,
                    param::DENSE_SCALES,
                    param::DENSE_SHIFTS,
                ],
                OpKind::Conv2d => &[
                    param::CONV_WEIGHTS,
                    param::CONV_BIAS,
                    param::CONV_SCALES,
                    param::CONV_SHIFTS,
                ],
                OpKind::Gather => &[param::GATHER_TABLE],
                OpKind::Relu | OpKind::LeakyRelu | OpKind::Tanh | OpKind::Sigmoid => {
                    &[param::UNARY_LUT]
                }
                _ => &[],
            };
            for &slot in weight_slots {
                params[slot] = NONE;
            }
            for (slot, bytes) in &op.weights {
                params[*slot] = push_blob(bytes)?;
            }
            let mut inputs = [NONE; 4];
            for (s, &i) in inputs.iter_mut().zip(&op.inputs) {
                *s = i as u32;
            }
            op_records.push(OpRecord {
                kind: op.kind,
                format: op.format,
                activation: op.activation,
                n_inputs: op.inputs.len() as u8,
                inputs,
                output: op.output as u32,
                params,
            });
        }

        // Layout: header | tensor table | op table | blob, each 16-aligned.
        let align16 = |v: usize| v.div_ceil(SECTION_ALIGN) * SECTION_ALIGN;
        let t_off = HEADER_LEN;
        let o_off = align16(t_off + nt * TENSOR_RECORD_LEN);
        let b_off = align16(o_off + op_records.len() * OP_RECORD_LEN);
        let file_len = b_off + blob.len();
        let file_len32 =
            u32::try_from(file_len).map_err(|_| BuildError::TooLarge("model past 4 GiB".into()))?;
        let mut out = vec![0u8; file_len];
        let put = |out: &mut Vec<u8>, off: usize, v: u32| {
            out[off..off + 4].copy_from_slice(&v.to_le_bytes());
        };
        out[h::MAGIC..h::MAGIC + 4].copy_from_slice(&MAGIC);
        out[h::VERSION..h::VERSION + 2].copy_from_slice(&VERSION.to_le_bytes());
        out[h::HEADER_LEN..h::HEADER_LEN + 2].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        put(&mut out, h::FILE_LEN, file_len32);
        out[h::WEIGHT_FORMAT] = match self.opts.format {
            WeightFormat::F32 => 0,
            WeightFormat::W8A32 => 1,
            WeightFormat::W8A8 => 2,
        };
        let out_shape = &g.tensors[g.output.index()].shape;
        out[h::OUTPUT_RANK] = out_shape.len() as u8;
        put(&mut out, h::NOISE_DIM, g.noise_dim as u32);
        match g.condition {
            ConditionKind::None => out[h::CONDITION_KIND] = 0,
            ConditionKind::Label { classes } => {
                out[h::CONDITION_KIND] = 1;
                put(&mut out, h::CLASSES, classes);
            }
            ConditionKind::Mask {
                channels,
                height,
                width,
            } => {
                out[h::CONDITION_KIND] = 2;
                put(&mut out, h::MASK_SHAPE, channels);
                put(&mut out, h::MASK_SHAPE + 4, height);
                put(&mut out, h::MASK_SHAPE + 8, width);
            }
        }
        for i in 0..4 {
            put(
                &mut out,
                h::OUTPUT_DIMS + 4 * i,
                out_shape.get(i).map_or(1, |&d| d as u32),
            );
        }
        put(&mut out, h::VALUE_MIN, g.value_range.0.to_bits());
        put(&mut out, h::VALUE_MAX, g.value_range.1.to_bits());
        put(&mut out, h::ARENA_BYTES, plan.arena_bytes as u32);
        put(&mut out, h::TENSOR_COUNT, nt as u32);
        put(&mut out, h::OP_COUNT, op_records.len() as u32);
        put(&mut out, h::NOISE_TENSOR, noise_rt as u32);
        put(&mut out, h::MASK_TENSOR, mask_rt.map_or(NONE, |r| r as u32));
        put(
            &mut out,
            h::MASKED_TENSOR,
            masked_rt.map_or(NONE, |r| r as u32),
        );
        put(&mut out, h::OUTPUT_TENSOR, output_rt as u32);
        put(&mut out, h::TENSOR_TABLE, t_off as u32);
        put(&mut out, h::OP_TABLE, o_off as u32);
        put(&mut out, h::BLOB_OFFSET, b_off as u32);
        put(&mut out, h::BLOB_LEN, blob.len() as u32);
        for (i, r) in records.iter().enumerate() {
            let o = t_off + i * TENSOR_RECORD_LEN;
            out[o..o + TENSOR_RECORD_LEN].copy_from_slice(&r.encode());
        }
        for (i, r) in op_records.iter().enumerate() {
            let o = o_off + i * OP_RECORD_LEN;
            out[o..o + OP_RECORD_LEN].copy_from_slice(&r.encode());
        }
        out[b_off..].copy_from_slice(&blob);
        seal(&mut out);
        Ok(out)
    }
}

fn row_sum(row: &[i8]) -> i64 {
    row.iter().map(|&v| i64::from(v)).sum()
}

/// Recomputes the header checksum of `.egm` bytes in place (for tools and tests that edit
/// a model).
pub fn seal(bytes: &mut [u8]) {
    if bytes.len() >= PREAMBLE_LEN {
        let crc = crate::crc32(&bytes[PREAMBLE_LEN..]);
        bytes[h::CRC32..h::CRC32 + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Owned bytes whose first byte is 16-byte aligned (a `Vec<u8>` guarantees no alignment),
/// for loading `.egm` files on a host.
///
/// # Examples
///
/// ```
/// use edgegan_runtime::builder::AlignedBytes;
/// let b = AlignedBytes::new(&[1, 2, 3]);
/// assert_eq!(b.as_slice(), &[1, 2, 3]);
/// assert_eq!(b.as_slice().as_ptr() as usize % 16, 0);
/// ```
#[derive(Clone, Debug)]
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    /// Reads a file.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        Ok(Self::new(&std::fs::read(path)?))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// A tiny unconditional model for doc examples: `z[4] → Dense(4→6) → Tanh`, f32.
#[doc(hidden)]
pub fn doc_model() -> AlignedBytes {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let w: Vec<f32> = (0..24).map(|i| (i as f32 - 12.0) / 24.0).collect();
    let h = g.dense(z, 6, &w, None).expect("doc model");
    let y = g.tanh(h).expect("doc model");
    let graph = g.finish(y, (-1.0, 1.0)).expect("doc model");
    AlignedBytes::new(&graph.write(&WriteOptions::f32()).expect("doc model"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_weight_length_error_names_the_op() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let h = g.dense(z, 2, &[0.0; 8], None).unwrap();
        let err = g.dense(h, 3, &[0.0; 5], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "op 1 (Dense): weight has 5 values, expected 3x2 = 6"
        );
    }

    #[test]
    fn conv_on_a_vector_is_an_op_error() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let err = g
            .conv2d(z, Conv2dSpec::same(1, 3), &[0.0; 9], None)
            .unwrap_err();
        assert!(
            matches!(
                err,
                BuildError::Op {
                    op: 0,
                    kind: "Conv2d",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn gather_needs_a_label_condition() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        assert!(matches!(
            g.label_embedding(&[0.0; 4], 2),
            Err(BuildError::Op {
                op: 0,
                kind: "Gather",
                ..
            })
        ));
    }

    #[test]
    fn broadcast_must_be_scalar_or_per_channel() {
        let mut g = GraphBuilder::new(6, ConditionKind::None);
        let z = g.noise();
        let x = g.reshape(z, &[2, 3]).unwrap();
        let per_channel = g.constant(&[2], &[1.0, 2.0]).unwrap();
        assert!(g.mul(x, per_channel).is_ok());
        let odd = g.constant(&[4], &[1.0; 4]).unwrap();
        assert!(matches!(
            g.add(x, odd),
            Err(BuildError::Op {
                op: 2,
                kind: "Add",
                ..
            })
        ));
    }

    #[test]
    fn unknown_tensor_is_an_op_error() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        assert!(matches!(
            g.relu(TensorId(99)),
            Err(BuildError::Op {
                op: 0,
                kind: "Relu",
                ..
            })
        ));
    }

    #[test]
    fn w8a8_without_calibration_names_the_tensor() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let y = g.dense(z, 2, &[0.5; 8], None).unwrap();
        let graph = g.finish(y, (-1.0, 1.0)).unwrap();
        let err = graph
            .write(&WriteOptions::w8a8(Calibration::new()))
            .unwrap_err();
        assert!(
            matches!(err, BuildError::MissingCalibration { tensor: 0 }),
            "{err}"
        );
    }

    #[test]
    fn relu_is_fused_into_dense() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let h = g.dense(z, 3, &[-0.5; 12], None).unwrap();
        let y = g.relu(h).unwrap();
        let graph = g.finish(y, (0.0, 1.0)).unwrap();
        let bytes = AlignedBytes::new(&graph.write(&WriteOptions::f32()).unwrap());
        let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
        assert_eq!(model.op_count(), 1);
        assert_eq!(model.op(0).unwrap().activation, 1);
        let mut arena = vec![0u8; model.arena_bytes()];
        let mut out = [1.0f32; 3];
        model
            .sample(1, Condition::None, &mut arena, &mut out)
            .unwrap();
        assert!(out.iter().all(|&v| v >= 0.0));
    }

    #[test]
    fn in_place_activation_shares_its_input_bytes() {
        let mut g = GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let h = g.dense(z, 8, &[0.1; 32], None).unwrap();
        let y = g.tanh(h).unwrap();
        let graph = g.finish(y, (-1.0, 1.0)).unwrap();
        let bytes = AlignedBytes::new(&graph.write(&WriteOptions::f32()).unwrap());
        let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
        // noise (16 B) and the dense output (32 B) live together; tanh runs in place.
        assert_eq!(model.arena_bytes(), 48);
    }

    #[test]
    fn quant_params_cover_zero_and_the_range() {
        let q = QParams::from_range(-1.0, 1.0);
        assert!((q.scale - 2.0 / 255.0).abs() < 1e-9);
        let q = QParams::from_range(0.5, 2.0); // widened to include 0
        assert_eq!(q.zero_point, -128);
        assert!((q.scale - 2.0 / 255.0).abs() < 1e-9);
    }
}
