//! Lowering: graph ops to runtime tensors and op records in the chosen weight format.

use std::collections::HashMap;

use edgegan_runtime::format::{DType, OpFormat, OpKind, PARAM_WORDS};
use edgegan_runtime::kernels::FusedActivation;
use edgegan_runtime::ops::{
    add, binary, conv_transpose2d, conv2d, dense, gather, leaky_relu, mul, pad, transpose, unary,
    upsample,
};
use edgegan_runtime::quant::quantize_i8;
use edgegan_runtime::{ConditionKind, DeviceModel, WeightFormat};

use super::quantize::{
    LinearKind, QParams, add_multipliers, lut_i8, mul_multiplier, quantize_linear_i8, quantize_rows,
};
use super::{AlignedBytes, BuildError, Calibration, Graph, OpSpec, TensorId};

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

/// A runtime tensor being written.
#[derive(Clone, Debug)]
pub(super) struct LTensor {
    pub(super) dtype: DType,
    pub(super) shape: Vec<usize>,
    pub(super) q: Option<QParams>,
    pub(super) constant: Option<Vec<u8>>,
}

/// A runtime op being written: the record minus tensor indices and weight offsets, which
/// are filled at serialisation.
#[derive(Clone, Debug)]
pub(super) struct LOp {
    pub(super) kind: OpKind,
    pub(super) format: OpFormat,
    pub(super) activation: u8,
    pub(super) inputs: Vec<usize>,
    pub(super) output: usize,
    pub(super) params: [u32; PARAM_WORDS],
    /// (param slot, bytes) of weight arrays, placed into the blob and their slot set to
    /// the offset.
    pub(super) weights: Vec<(usize, Vec<u8>)>,
    /// A runtime-described elementwise op: it may overwrite its input.
    pub(super) in_place: bool,
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

pub(super) struct Lowering<'g> {
    pub(super) g: &'g Graph,
    pub(super) opts: &'g WriteOptions,
    pub(super) tensors: Vec<LTensor>,
    pub(super) ops: Vec<LOp>,
    /// Graph tensor -> runtime tensor.
    pub(super) map: Vec<Option<usize>>,
    /// Graph tensor -> quantisation (w8a8).
    pub(super) qparams: Vec<Option<QParams>>,
    /// Runtime tensors of the f32 inputs: noise, then mask and masked.
    pub(super) role_rt: Vec<usize>,
    /// Runtime tensor of the f32 output.
    pub(super) output_rt: usize,
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
    pub(super) fn write_mapped(
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
}

impl Lowering<'_> {
    pub(super) fn w8a8(&self) -> bool {
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
            params: [0; PARAM_WORDS],
            weights: vec![],
            in_place: false,
        }
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
                let linear = matches!(
                    op,
                    OpSpec::Dense { .. } | OpSpec::Conv2d { .. } | OpSpec::ConvTranspose2d { .. }
                );
                if !linear || readers(*out) != 1 {
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
        lop.params = match op {
            OpSpec::Dense {
                input,
                out_features,
                weight,
                bias,
                label_bias,
                ..
            } => {
                let n = *out_features;
                let k = weight.len() / n;
                let slots = [
                    dense::Params::WEIGHTS,
                    dense::Params::BIAS,
                    dense::Params::SCALES,
                    dense::Params::SHIFTS,
                ];
                let q = (*input, out);
                let mut params = dense::Params::new(k as u32, n as u32);
                // a label-indexed bias is stored as one table: row c = bias + label_bias[c]
                let table: Option<Vec<f32>> = label_bias.as_ref().map(|t| {
                    t.chunks_exact(n)
                        .flat_map(|row| {
                            row.iter()
                                .enumerate()
                                .map(|(j, &v)| v + bias.as_ref().map_or(0.0, |b| b[j]))
                        })
                        .collect()
                });
                if let Some(t) = &table {
                    params.label_rows = (t.len() / n) as u32;
                }
                let b = table.as_deref().or(bias.as_deref());
                let dense = LinearKind::Dense;
                self.lower_linear(&mut lop, q, weight, b, n, dense, slots, &qerr)?;
                params.encode()
            }
            OpSpec::Conv2d {
                input,
                spec,
                weight,
                bias,
                ..
            } => {
                let m = spec.out_channels;
                let slots = [
                    conv2d::Params::WEIGHTS,
                    conv2d::Params::BIAS,
                    conv2d::Params::SCALES,
                    conv2d::Params::SHIFTS,
                ];
                let q = (*input, out);
                let (b, conv) = (bias.as_deref(), LinearKind::Conv2d);
                self.lower_linear(&mut lop, q, weight, b, m, conv, slots, &qerr)?;
                // Shape inference keeps sizes below 65536.
                let [sh, sw] = spec.stride.map(|v| v as u16);
                let [pt, pl, pb, pr] = spec.padding.map(|v| v as u16);
                let kernel = spec.kernel.map(|v| v as u32);
                conv2d::Params::new(kernel, [sh, sw], [pt, pl, pb, pr]).encode()
            }
            OpSpec::ConvTranspose2d {
                input,
                spec,
                output_padding,
                weight,
                bias,
                ..
            } => {
                let m = spec.out_channels;
                let slots = [
                    conv_transpose2d::Params::WEIGHTS,
                    conv_transpose2d::Params::BIAS,
                    conv_transpose2d::Params::SCALES,
                    conv_transpose2d::Params::SHIFTS,
                ];
                let q = (*input, out);
                // the kernel subtracts the input zero point per tap, as Conv2d's does
                let (b, conv) = (bias.as_deref(), LinearKind::Conv2d);
                self.lower_linear(&mut lop, q, weight, b, m, conv, slots, &qerr)?;
                // Shape inference keeps sizes below 65536.
                let small = |v: usize| v as u16;
                conv_transpose2d::Params::new(
                    spec.kernel.map(small),
                    spec.stride.map(small),
                    spec.padding.map(small),
                    output_padding.map(small),
                )
                .encode()
            }
            OpSpec::Upsample {
                factor, bilinear, ..
            } => upsample::Params {
                factor_h: factor[0] as u32,
                factor_w: factor[1] as u32,
                mode: if *bilinear {
                    upsample::BILINEAR
                } else {
                    upsample::NEAREST
                },
            }
            .encode(),
            OpSpec::Relu { input }
            | OpSpec::LeakyRelu { input, .. }
            | OpSpec::Tanh { input }
            | OpSpec::Sigmoid { input } => {
                let alpha = if let OpSpec::LeakyRelu { alpha, .. } = op {
                    *alpha
                } else {
                    0.0
                };
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
                    let table = lut_i8(qx, qy, f);
                    lop.weights.push((unary::LUT, bytes_i8(&table)));
                }
                if matches!(op, OpSpec::LeakyRelu { .. }) {
                    leaky_relu::Params::new(alpha).encode()
                } else {
                    unary::LutParams::new().encode()
                }
            }
            OpSpec::Concat { .. } | OpSpec::Reshape { .. } => [0; PARAM_WORDS],
            OpSpec::Pad {
                input,
                pads,
                mode,
                value,
            } => {
                // int8: a copy, the constant quantised in the shared quantisation
                let q_value = if w8a8 {
                    let q = self.q(*input)?;
                    quantize_i8(*value, q.scale, q.zero_point)
                } else {
                    0
                };
                pad::Params {
                    // shape inference keeps sizes below 65536
                    pads: pads.map(|v| v as u32),
                    mode: *mode,
                    value: value.to_bits(),
                    q_value,
                }
                .encode()
            }
            OpSpec::Transpose { perm, .. } => {
                // shape inference checked the permutation (rank at most 4)
                let mut p = [0, 1, 2, 3];
                for (w, &a) in p.iter_mut().zip(perm) {
                    *w = a as u32;
                }
                transpose::Params { perm: p }.encode()
            }
            OpSpec::Elementwise { input, op, args } => {
                lop.in_place = true;
                let quant = if w8a8 {
                    let q = self.q(*input)?;
                    Some((q.scale, q.zero_point))
                } else {
                    None
                };
                if let (true, Some(f)) = (w8a8, op.table) {
                    // a table op: its output has its own quantisation
                    let table = lut_i8(self.q(*input)?, self.q(out)?, |x| f(x, args));
                    lop.weights.push((unary::LUT, bytes_i8(&table)));
                }
                (op.encode)(args, quant).map_err(|m| qerr(m.to_string()))?
            }
            OpSpec::Gather { table, dim } => {
                let ConditionKind::Label { classes } = self.g.condition else {
                    return Err(BuildError::Graph("gather without label".into()));
                };
                if w8a8 {
                    let qy = self.q(out)?;
                    let t: Vec<i8> = table
                        .iter()
                        .map(|&v| quantize_i8(v, qy.scale, qy.zero_point))
                        .collect();
                    lop.weights.push((gather::Params::TABLE, bytes_i8(&t)));
                } else {
                    lop.weights.push((gather::Params::TABLE, bytes_f32(table)));
                }
                gather::Params::new(classes, *dim as u32).encode()
            }
            OpSpec::Add { a, b } | OpSpec::Sub { a, b } | OpSpec::Mul { a, b } => {
                let n = self.g.tensors[out.index()].numel();
                let code =
                    |t: &TensorId| binary::broadcast_code(self.g.tensors[t.index()].numel(), n);
                let (broadcast_a, broadcast_b) = (code(a), code(b));
                let q = if w8a8 {
                    Some((self.q(*a)?, self.q(*b)?, self.q(out)?))
                } else {
                    None
                };
                if matches!(op, OpSpec::Mul { .. }) {
                    let (output_multiplier, output_shift) = match q {
                        Some((qa, qb, qy)) => mul_multiplier(qa, qb, qy).map_err(qerr)?,
                        None => (0, 0),
                    };
                    mul::Params {
                        broadcast_a,
                        broadcast_b,
                        output_multiplier,
                        output_shift,
                    }
                    .encode()
                } else {
                    let [(ma, sa), (mb, sb), (mo, so)] = match q {
                        Some((qa, qb, qy)) => add_multipliers(qa, qb, qy).map_err(qerr)?,
                        None => [(0, 0); 3],
                    };
                    add::Params {
                        broadcast_a,
                        broadcast_b,
                        a_multiplier: ma,
                        a_shift: sa,
                        b_multiplier: mb,
                        b_shift: sb,
                        output_multiplier: mo,
                        output_shift: so,
                    }
                    .encode()
                }
            }
        };
        self.ops.push(lop);
        Ok(())
    }

    /// The weight arrays of a Dense or Conv2d (`channels` output rows) in the write's
    /// format, at the op's parameter `slots` (weights, bias, scales, shifts); `q` is the
    /// (input, output) pair whose quantisation w8a8 needs.
    #[allow(clippy::too_many_arguments)] // one call per linear op kind
    fn lower_linear(
        &self,
        lop: &mut LOp,
        q: (TensorId, TensorId),
        weight: &[f32],
        bias: Option<&[f32]>,
        channels: usize,
        kind: LinearKind,
        slots: [usize; 4],
        qerr: &dyn Fn(String) -> BuildError,
    ) -> Result<(), BuildError> {
        let [w_slot, b_slot, s_slot, sh_slot] = slots;
        match self.opts.format {
            WeightFormat::F32 => lop.weights.push((w_slot, bytes_f32(weight))),
            WeightFormat::W8A32 => {
                lop.format = OpFormat::W8A32;
                let (qw, s) = quantize_rows(weight, channels);
                lop.weights.push((w_slot, bytes_i8(&qw)));
                lop.weights.push((s_slot, bytes_f32(&s)));
            }
            WeightFormat::W8A8 => {
                let (qx, qy) = (self.q(q.0)?, self.q(q.1)?);
                let l = quantize_linear_i8(weight, bias, channels, qx, qy, kind).map_err(qerr)?;
                lop.weights.push((w_slot, bytes_i8(&l.weights)));
                lop.weights.push((b_slot, bytes_i32(&l.bias)));
                lop.weights.push((s_slot, bytes_i32(&l.mult)));
                lop.weights.push((sh_slot, bytes_i32(&l.shift)));
                return Ok(());
            }
        }
        // f32 and w8a32 keep the f32 bias after the weights (and scales).
        if let Some(b) = bias {
            lop.weights.push((b_slot, bytes_f32(b)));
        }
        Ok(())
    }
}
