//! The graph IR: tensors and [`OpSpec`]s over f32, and [`GraphBuilder`], which checks
//! shapes as each op is added.

use edgegan_runtime::ConditionKind;
use edgegan_runtime::format::OpKind;
use edgegan_runtime::kernels::FusedActivation;
use edgegan_runtime::ops::ElementwiseDef;

use super::shape::infer_shape;
use super::{BuildError, TensorId};

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
        /// `[classes, out_features]`: a bias per label, added to `bias` (label-conditioned
        /// graphs; the compiler's fold of `concat(z, embedding(label))` into the Dense).
        label_bias: Option<Vec<f32>>,
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
    /// Transposed 2-D convolution on a `[C, H, W]` input (ONNX `ConvTranspose`).
    ConvTranspose2d {
        /// Input.
        input: TensorId,
        /// Geometry: `padding` crops the full output (ONNX `pads`).
        spec: Conv2dSpec,
        /// `[h, w]` extra rows/columns at the bottom/right (ONNX `output_padding`).
        output_padding: [usize; 2],
        /// `[M, C, KH, KW]` (ONNX's `[C, M, KH, KW]` transposed).
        weight: Vec<f32>,
        /// `[M]`.
        bias: Option<Vec<f32>>,
        /// Fused activation.
        activation: FusedActivation,
    },
    /// Upsampling of a `[C, H, W]` input by integer factors: nearest, or bilinear with
    /// half-pixel centres.
    Upsample {
        /// Input.
        input: TensorId,
        /// `[fh, fw]`.
        factor: [usize; 2],
        /// Bilinear (half-pixel centres) rather than nearest.
        bilinear: bool,
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
    /// A one-input elementwise op described by its runtime op module (e.g. Clip): same
    /// shape as its input, params from `args`.
    Elementwise {
        /// Input.
        input: TensorId,
        /// The op, as its runtime module describes it.
        op: &'static ElementwiseDef,
        /// Its f32 arguments (e.g. Clip's `[min, max]`).
        args: Vec<f32>,
    },
    /// Same elements, new shape.
    Reshape {
        /// Input.
        input: TensorId,
        /// New shape (1 to 4 dims).
        shape: Vec<usize>,
    },
    /// The axes permuted (a copy): output axis `i` is input axis `perm[i]`.
    Transpose {
        /// Input.
        input: TensorId,
        /// A permutation of the input's axes.
        perm: Vec<usize>,
    },
    /// A `[C, H, W]` tensor padded on H and W (a copy).
    Pad {
        /// Input.
        input: TensorId,
        /// Rows above, columns left, rows below, columns right.
        pads: [usize; 4],
        /// `edgegan_runtime::ops::pad::{CONSTANT, REFLECT, EDGE}`.
        mode: u32,
        /// The constant of [`CONSTANT`](edgegan_runtime::ops::pad::CONSTANT) padding.
        value: f32,
    },
}

impl OpSpec {
    /// The op's name, as in error messages.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub(super) fn kind(&self) -> OpKind {
        match self {
            OpSpec::Dense { .. } => OpKind::Dense,
            OpSpec::Conv2d { .. } => OpKind::Conv2d,
            OpSpec::ConvTranspose2d { .. } => OpKind::ConvTranspose2d,
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
            OpSpec::Transpose { .. } => OpKind::Transpose,
            OpSpec::Pad { .. } => OpKind::Pad,
            OpSpec::Elementwise { op, .. } => op.kind,
        }
    }

    /// The tensors the op reads.
    pub fn inputs(&self) -> Vec<TensorId> {
        match self {
            OpSpec::Dense { input, .. }
            | OpSpec::Conv2d { input, .. }
            | OpSpec::ConvTranspose2d { input, .. }
            | OpSpec::Upsample { input, .. }
            | OpSpec::Relu { input }
            | OpSpec::LeakyRelu { input, .. }
            | OpSpec::Tanh { input }
            | OpSpec::Sigmoid { input }
            | OpSpec::Reshape { input, .. }
            | OpSpec::Transpose { input, .. }
            | OpSpec::Pad { input, .. }
            | OpSpec::Elementwise { input, .. } => vec![*input],
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
    replay: Replay,
}

/// The tensors one step of a resumable caller (the ONNX lowering's explicit-stack walk)
/// made in its earlier attempts: while `next < made.len()` the step is re-running what it
/// already did, so each tensor it makes again is `made[next]`, already in the graph.
#[derive(Clone, Debug, Default)]
struct Replay {
    /// Whether a step is being recorded.
    on: bool,
    made: Vec<TensorId>,
    next: usize,
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
            replay: Replay::default(),
        }
    }

    /// Starts an attempt at a step that made the tensors `made` in its earlier attempts
    /// (empty for a first attempt): until the step has asked for as many tensors again,
    /// each op or constant it adds is not added a second time; the call returns the
    /// tensor the earlier attempt made. Then tensors are added and recorded as usual.
    pub(crate) fn start_replay(&mut self, made: Vec<TensorId>) {
        self.replay = Replay {
            on: true,
            made,
            next: 0,
        };
    }

    /// Ends the attempt [`start_replay`](Self::start_replay) began: the tensors the step
    /// has made in all its attempts so far.
    pub(crate) fn stop_replay(&mut self) -> Vec<TensorId> {
        std::mem::take(&mut self.replay).made
    }

    /// The tensor an earlier attempt made at this point of a replayed step.
    fn replayed(&mut self) -> Option<TensorId> {
        let r = &mut self.replay;
        let id = r.made.get(r.next).copied()?;
        r.next += 1;
        Some(id)
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
        if let Some(id) = self.replayed() {
            return Ok(id);
        }
        Ok(self.add_tensor(shape.to_vec(), Some(values.to_vec())))
    }

    fn add_tensor(&mut self, shape: Vec<usize>, constant: Option<Vec<f32>>) -> TensorId {
        self.graph.tensors.push(TensorSpec { shape, constant });
        let id = TensorId(self.graph.tensors.len() as u32 - 1);
        if self.replay.on {
            self.replay.made.push(id);
            self.replay.next += 1;
        }
        id
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
        if let Some(id) = self.replayed() {
            return Ok(id);
        }
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
        self.push_dense(x, out_features, weight, bias, None)
    }

    /// Dense `y = x·Wᵀ + b + t[label]` with `weight` as `[out_features, in]` and a bias
    /// table `t` of `[classes, out_features]` (label-conditioned graphs): what
    /// `concat(x, embedding(label))·Wᵀ + b` is, with the embedding's part of the product
    /// computed for every class ahead of time.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn dense_label_bias(
        &mut self,
        x: TensorId,
        out_features: usize,
        weight: &[f32],
        bias: Option<&[f32]>,
        label_bias: &[f32],
    ) -> Result<TensorId, BuildError> {
        self.push_dense(x, out_features, weight, bias, Some(label_bias))
    }

    /// The Dense op of [`dense`](Self::dense) and [`dense_label_bias`](Self::dense_label_bias).
    fn push_dense(
        &mut self,
        x: TensorId,
        out_features: usize,
        weight: &[f32],
        bias: Option<&[f32]>,
        label_bias: Option<&[f32]>,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Dense {
            input: x,
            out_features,
            weight: weight.to_vec(),
            bias: bias.map(<[f32]>::to_vec),
            label_bias: label_bias.map(<[f32]>::to_vec),
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

    /// Transposed conv on a `[C, H, W]` tensor with `weight` as `[M, C, KH, KW]`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn conv_transpose2d(
        &mut self,
        x: TensorId,
        spec: Conv2dSpec,
        output_padding: [usize; 2],
        weight: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::ConvTranspose2d {
            input: x,
            spec,
            output_padding,
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
            bilinear: false,
        })
    }

    /// Bilinear upsampling (half-pixel centres, edges clamped: ONNX `Resize` `linear` with
    /// `half_pixel`) by integer factors.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn upsample_bilinear(
        &mut self,
        x: TensorId,
        factor_h: usize,
        factor_w: usize,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Upsample {
            input: x,
            factor: [factor_h, factor_w],
            bilinear: true,
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

    /// A runtime-described elementwise op (e.g. `ops::clip::ELEMENTWISE` with
    /// `[min, max]`).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push), and the op's own check of `args`.
    pub fn elementwise(
        &mut self,
        op: &'static ElementwiseDef,
        x: TensorId,
        args: &[f32],
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Elementwise {
            input: x,
            op,
            args: args.to_vec(),
        })
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

    /// Transpose: output axis `i` is input axis `perm[i]`.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn transpose(&mut self, x: TensorId, perm: &[usize]) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Transpose {
            input: x,
            perm: perm.to_vec(),
        })
    }

    /// Pad of a `[C, H, W]` tensor: `pads` rows above, columns left, rows below, columns
    /// right, in `mode` (`edgegan_runtime::ops::pad::{CONSTANT, REFLECT, EDGE}`; `value` is
    /// the constant's).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn pad(
        &mut self,
        x: TensorId,
        pads: [usize; 4],
        mode: u32,
        value: f32,
    ) -> Result<TensorId, BuildError> {
        self.push(OpSpec::Pad {
            input: x,
            pads,
            mode,
            value,
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

pub(super) fn check_shape(shape: &[usize]) -> Result<(), String> {
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
