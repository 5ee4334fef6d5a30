//! int8 quantisation parameters: activation scales and zero points (with the groups that
//! must share them), per-channel weights, and the requantisation of int32 accumulators.

use std::collections::HashMap;

use edgegan_runtime::format;
use edgegan_runtime::kernels::add::ADD_LEFT_SHIFT;
use edgegan_runtime::quant::{quantize_i8, quantize_multiplier};

use super::lowering::Lowering;
use super::{BuildError, OpSpec, TensorId};

/// Quantisation parameters of an int8 tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct QParams {
    pub(super) scale: f32,
    pub(super) zero_point: i32,
}

impl QParams {
    /// Asymmetric int8 over `[min, max]` widened to include 0 (TFLite's rule).
    pub(super) fn from_range(min: f32, max: f32) -> QParams {
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

/// Symmetric per-row int8: `(q, scale)` with `scale = max|w_row| / 127`.
pub(super) fn quantize_rows(w: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
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

fn row_sum(row: &[i8]) -> i64 {
    row.iter().map(|&v| i64::from(v)).sum()
}

impl Lowering<'_> {
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
                OpSpec::Elementwise { input, op, .. } if op.shares_quant => {
                    union(&mut parent, input.index(), out.index());
                }
                OpSpec::Reshape { input, .. }
                | OpSpec::Upsample { input, .. }
                | OpSpec::Transpose { input, .. }
                | OpSpec::Pad { input, .. } => {
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
    pub(super) fn compute_qparams(&mut self) -> Result<(), BuildError> {
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

    pub(super) fn q(&self, t: TensorId) -> Result<QParams, BuildError> {
        self.qparams
            .get(t.index())
            .copied()
            .flatten()
            .ok_or(BuildError::MissingCalibration { tensor: t.0 })
    }
}

/// Which linear op a [`quantize_linear_i8`] call is for: they differ only in where the
/// input zero point goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinearKind {
    /// Dense: `Σ (x − zp)·w = Σ x·w − zp·Σ w`, so `zp·Σ w` is folded into the bias and
    /// the kernel multiplies raw int8 inputs.
    Dense,
    /// Conv2d: the kernel subtracts the input zero point itself (a padded tap reads
    /// exactly the zero point, so folding per row would be wrong at the borders).
    Conv2d,
}

/// A Dense or Conv2d quantised for w8a8: int8 weights per output channel, int32 biases at
/// `input_scale · weight_scale`, and the Q31 multiplier and shift that requantise each
/// channel's accumulator to the output scale.
pub(super) struct LinearI8 {
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub mult: Vec<i32>,
    pub shift: Vec<i32>,
}

/// Quantises a linear op's `weight` (`channels` rows) and `bias` for w8a8; `Err` is the
/// message of a [`BuildError::Quantisation`].
pub(super) fn quantize_linear_i8(
    weight: &[f32],
    bias: Option<&[f32]>,
    channels: usize,
    qx: QParams,
    qy: QParams,
    kind: LinearKind,
) -> Result<LinearI8, String> {
    let per = weight.len() / channels.max(1);
    if per > format::MAX_ACC_TERMS {
        let unit = match kind {
            LinearKind::Dense => "inputs",
            LinearKind::Conv2d => "taps",
        };
        return Err(format!(
            "{per} {unit} exceed the int32 accumulator limit {}",
            format::MAX_ACC_TERMS
        ));
    }
    let (q, s) = quantize_rows(weight, channels);
    let mut out = LinearI8 {
        weights: vec![],
        bias: Vec::with_capacity(bias.map_or(channels, <[f32]>::len)),
        mult: Vec::with_capacity(channels),
        shift: Vec::with_capacity(channels),
    };
    let acc_scales: Vec<f64> = s
        .iter()
        .map(|&sw| f64::from(qx.scale) * f64::from(sw))
        .collect();
    for &acc_scale in &acc_scales {
        let (m, sh) = quantize_multiplier(acc_scale / f64::from(qy.scale))
            .ok_or_else(|| "bad multiplier".to_string())?;
        out.mult.push(m);
        out.shift.push(sh);
    }
    // one bias row, or a label-indexed table of rows (a Dense's `[classes, N]`)
    let zeros = vec![0.0; channels];
    let bias = bias.unwrap_or(&zeros);
    for bias_row in bias.chunks(channels.max(1)) {
        let rows = q.chunks(per.max(1)).zip(&acc_scales).zip(bias_row);
        for (row, ((qrow, &acc_scale), &b)) in rows.enumerate() {
            let bq = (f64::from(b) / acc_scale).round();
            let folded = match kind {
                LinearKind::Dense => bq as i64 - i64::from(qx.zero_point) * row_sum(qrow),
                LinearKind::Conv2d => bq as i64,
            };
            if bq.abs() > f64::from(1u32 << 30) || folded.unsigned_abs() > 1 << 30 {
                let unit = match kind {
                    LinearKind::Dense => "output",
                    LinearKind::Conv2d => "channel",
                };
                return Err(format!(
                    "bias of {unit} {row} does not fit int32 at scale {acc_scale:e}"
                ));
            }
            out.bias.push(folded as i32);
        }
    }
    out.weights = q;
    Ok(out)
}

/// The 256-entry table of a unary op `f` from input quantisation `qx` to output `qy`:
/// entry `i` is the output for the int8 input `i − 128`.
pub(super) fn lut_i8(qx: QParams, qy: QParams, f: impl Fn(f64) -> f64) -> Vec<i8> {
    (0..256)
        .map(|i| {
            let x = f64::from(i - 128 - qx.zero_point) * f64::from(qx.scale);
            let yq = libm::round(f(x) / f64::from(qy.scale)) + f64::from(qy.zero_point);
            yq.clamp(-128.0, 127.0) as i8
        })
        .collect()
}

/// The Q31 multiplier and shift of `real`; `Err` names it.
fn multiplier(real: f64) -> Result<(i32, i32), String> {
    quantize_multiplier(real).ok_or_else(|| format!("multiplier {real:e} out of range"))
}

/// TFLite's int8 add: `a` and `b` rescaled to twice the larger scale (after a left shift
/// of [`ADD_LEFT_SHIFT`] bits), the sum rescaled to the output. Returns the (multiplier,
/// shift) of `a`, `b` and the output.
pub(super) fn add_multipliers(
    qa: QParams,
    qb: QParams,
    qy: QParams,
) -> Result<[(i32, i32); 3], String> {
    let twice_max = 2.0 * f64::from(qa.scale.max(qb.scale));
    Ok([
        multiplier(f64::from(qa.scale) / twice_max)?,
        multiplier(f64::from(qb.scale) / twice_max)?,
        multiplier(twice_max / (f64::from(1u32 << ADD_LEFT_SHIFT) * f64::from(qy.scale)))?,
    ])
}

/// TFLite's int8 mul: the product of the zero-point-corrected operands rescaled to the
/// output. Returns its (multiplier, shift).
pub(super) fn mul_multiplier(qa: QParams, qb: QParams, qy: QParams) -> Result<(i32, i32), String> {
    multiplier(f64::from(qa.scale) * f64::from(qb.scale) / f64::from(qy.scale))
}
