//! Batches on std hosts (feature `std`): [`BatchSampler`] runs `B` samples op by op in
//! one arena of `B ×` [`DeviceModel::arena_bytes`], so that each op is prepared once per
//! batch instead of once per sample, and the ops with a batched kernel run once per batch.
//!
//! The layout keeps the model's memory plan: every arena offset is scaled by `B`, and
//! sample `s` of a tensor at offset `o` of `n` bytes lives at `o·B + s·n`. Scaling keeps
//! every two tensors of the plan apart, overlapping or equal exactly as they were, and
//! each tensor is one contiguous `[B, n]` block. Three kinds of step:
//!
//! - **int8 Dense** runs once on the whole blocks (an int8 GEMM whose weights are packed,
//!   widened to 16 bits, and its buffers made once, when the sampler is made:
//!   [`PackedDense`](crate::kernels::host::dense::PackedDense); without AVX2,
//!   [`dense_i8_batch_host`](crate::kernels::host::dense::dense_i8_batch_host)), and **int8
//!   Conv2d** too ([`PackedConv2d`](crate::kernels::host::conv2d::PackedConv2d));
//! - **elementwise ops** whose operands all lie in the arena at the output's size
//!   (activations, Quantize, Dequantize, Clip, Reshape, Add/Sub/Mul without broadcast)
//!   run once on the whole blocks, as one op on `B` times as many elements;
//! - **every other op** runs its own eval on each sample's slices, prepared once.
//!
//! Noise and conditions are per sample, as [`Sampler`](crate::Sampler) makes them, so
//! row `s` of a batch is bit for bit what `Sampler::sample_seeds` makes for the same seed
//! and condition (tested in `tests/`, on the shipped models). The ops are prepared once,
//! when the sampler is made, into memory of its own: hosts only.

use std::vec;
use std::vec::Vec;

use crate::format::{Storage, TensorInfo};
use crate::model::PreparedOp;
use crate::ops::{Eval, Io, Prepared, f32s, f32s_mut};
use crate::sampler::output_prefix;
use crate::{Condition, DeviceModel, Error};

/// Where a batch's noise comes from.
#[derive(Clone, Copy, Debug)]
pub enum Noise<'a> {
    /// One seed per sample, drawn as [`noise::fill`](crate::noise::fill) draws it.
    Seeds(&'a [u64]),
    /// The noise itself: `rows × noise_dim` values, one sample's `z` after another.
    Given(&'a [f32]),
}

/// How a step runs over the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Once, on the whole blocks.
    Block,
    /// Dense or Conv2d: its batched kernel where the format has one, else each sample.
    Rows,
    /// Once per sample, on the sample's slices.
    PerSample,
}

/// Weights packed once for a host kernel, with its buffers.
#[derive(Debug)]
enum Packed {
    Conv2d(crate::ops::conv2d::Packed),
    Dense(crate::ops::dense::Packed),
}

/// One op, prepared once: its tensors (as in a single sample's arena) and how it runs.
#[derive(Debug)]
struct Step<'m> {
    op: Prepared<'m>,
    /// A Conv2d's or Dense's weights packed once for the host kernel, with its buffers.
    packed: Option<Packed>,
    inputs: [TensorInfo; 4],
    n_inputs: usize,
    output: TensorInfo,
    mode: Mode,
}

/// A model, its ops prepared once, and an arena for up to `capacity` samples per run.
///
/// ```
/// # fn demo(model: &edgegan_runtime::DeviceModel<'_>) -> Result<(), edgegan_runtime::Error> {
/// use edgegan_runtime::{BatchSampler, Condition};
/// let mut batch = BatchSampler::new(model, 64)?;
/// let seeds: Vec<u64> = (0..100).collect(); // two runs: 64 and 36 samples
/// let mut out = vec![0.0; seeds.len() * model.output_len()];
/// batch.sample_seeds(&seeds, Condition::None, &mut out)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BatchSampler<'m> {
    model: DeviceModel<'m>,
    capacity: usize,
    /// `u64` words: the arena's bytes start 8-byte aligned (the sampler needs 4)
    arena: Vec<u64>,
    steps: Vec<Step<'m>>,
    /// the label of each sample of the current run
    labels: Vec<usize>,
}

impl<'m> BatchSampler<'m> {
    /// `model` with every op prepared and an arena for `capacity` samples (at least 1).
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if `capacity ×` [`DeviceModel::arena_bytes`] does not fit
    /// the 32-bit offsets of a model's tensors; [`Error::BadOp`] never (the model was
    /// validated when it loaded).
    pub fn new(model: &DeviceModel<'m>, capacity: usize) -> Result<Self, Error> {
        let capacity = capacity.max(1);
        let bytes = (model.arena_bytes() as u64).saturating_mul(capacity as u64);
        if bytes > u64::from(u32::MAX) {
            return Err(Error::LimitExceeded {
                what: "batch arena bytes (samples × arena bytes)",
                value: bytes,
                limit: u64::from(u32::MAX),
            });
        }
        let steps = (0..model.op_count())
            .map(|i| {
                let rec = model.op(i).ok_or(Error::Internal)?;
                let full = [0, 1].map(|w| rec.params[w] == crate::ops::binary::FULL);
                model.with_prepared(i, |op| step(op, full == [true; 2], capacity))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchSampler {
            model: *model,
            capacity,
            arena: vec![0; (bytes as usize).div_ceil(8)],
            steps,
            labels: vec![0; capacity],
        })
    }

    /// The model.
    pub fn model(&self) -> &DeviceModel<'m> {
        &self.model
    }

    /// The most samples one run makes (longer batches run in parts of this size).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// One sample per seed in `seeds`, in order, in `out`: what
    /// [`Sampler::sample_seeds`](crate::Sampler::sample_seeds) writes.
    ///
    /// # Errors
    ///
    /// As [`Sampler::sample_seeds`](crate::Sampler::sample_seeds).
    pub fn sample_seeds(
        &mut self,
        seeds: &[u64],
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.sample_rows(seeds.len(), Noise::Seeds(seeds), &|_| condition, out)
    }

    /// `rows` samples in `out[..rows · output_len]`, sample `s` from its noise and
    /// `condition(s)`: what [`Sampler::sample`](crate::Sampler::sample) (seeds) or
    /// [`Sampler::sample_with_noise`](crate::Sampler::sample_with_noise) (given noise)
    /// makes for each, bit for bit.
    ///
    /// # Errors
    ///
    /// [`Error::OutputTooSmall`] for a short `out`; [`Error::ShapeMismatch`] if the noise is
    /// not `rows` seeds or `rows × noise_dim` values; the condition errors of
    /// [`Sampler::sample`](crate::Sampler::sample). Every input is checked before any
    /// sample is made.
    pub fn sample_rows<'c>(
        &mut self,
        rows: usize,
        noise: Noise<'_>,
        condition: &dyn Fn(usize) -> Condition<'c>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.model.output_len();
        let out = check_rows(&self.model, rows, noise, condition, out)?;
        for (part, out) in out.chunks_mut(self.capacity * n.max(1)).enumerate() {
            let first = part * self.capacity;
            let b = (rows - first).min(self.capacity);
            self.run(first, b, noise, condition)?;
            let t = self.model.tensor_checked(self.model.output_tensor)?;
            for (s, dst) in out.chunks_exact_mut(n.max(1)).take(b).enumerate() {
                dst.copy_from_slice(f32s(
                    self.arena_bytes()
                        .get(sample(&t, b, s).range())
                        .ok_or(Error::Internal)?,
                )?);
            }
        }
        Ok(())
    }

    fn arena_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.arena)
    }

    /// Writes the inputs of samples `first..first + b` and runs every op on them.
    fn run<'c>(
        &mut self,
        first: usize,
        b: usize,
        noise: Noise<'_>,
        condition: &dyn Fn(usize) -> Condition<'c>,
    ) -> Result<(), Error> {
        let model = self.model;
        let arena: &mut [u8] = bytemuck::cast_slice_mut(&mut self.arena);
        let z = model.tensor_checked(model.noise_tensor)?;
        let dim = model.noise_dim();
        for s in 0..b {
            let dst = f32s_mut(
                arena
                    .get_mut(sample(&z, b, s).range())
                    .ok_or(Error::Internal)?,
            )?;
            match noise {
                Noise::Seeds(seeds) => {
                    crate::noise::fill(*seeds.get(first + s).ok_or(Error::Internal)?, dst);
                }
                Noise::Given(z) => {
                    let src = z.get((first + s) * dim..(first + s + 1) * dim);
                    dst.copy_from_slice(src.ok_or(Error::Internal)?);
                }
            }
            let label = self.labels.get_mut(s).ok_or(Error::Internal)?;
            *label = 0;
            match condition(first + s) {
                Condition::None => {}
                Condition::Label(l) => *label = l as usize,
                Condition::Mask { mask, masked } => {
                    for (t, values) in [(model.mask_tensor, mask), (model.masked_tensor, masked)] {
                        let t = model.tensor_checked(t)?;
                        let dst = arena
                            .get_mut(sample(&t, b, s).range())
                            .ok_or(Error::Internal)?;
                        let dst = f32s_mut(dst)?;
                        dst.get_mut(..values.len())
                            .ok_or(Error::Internal)?
                            .copy_from_slice(values);
                    }
                }
            }
        }
        let blob = model.blob();
        let labels = self.labels.get(..b).ok_or(Error::Internal)?;
        for st in &mut self.steps {
            let ins = st.inputs.get(..st.n_inputs).ok_or(Error::Internal)?;
            let mut ran = false;
            if st.mode != Mode::PerSample {
                let inputs: [TensorInfo; 4] = core::array::from_fn(|i| block(&st.inputs[i], b));
                let output = block(&st.output, b);
                let mut cx = Eval {
                    io: Io::split(arena, &output, blob)?,
                    inputs: inputs.get(..st.n_inputs).ok_or(Error::Internal)?,
                    output: &output,
                    label: 0,
                };
                ran = match (&st.op, st.mode) {
                    (Prepared::Dense(op), Mode::Rows) => {
                        let packed = match &mut st.packed {
                            Some(Packed::Dense(p)) => Some(p),
                            _ => None,
                        };
                        op.eval_rows(&mut cx, b, labels, packed)?
                    }
                    (Prepared::Conv2d(op), Mode::Rows) => {
                        let packed = match &mut st.packed {
                            Some(Packed::Conv2d(p)) => Some(p),
                            _ => None,
                        };
                        op.eval_rows(&mut cx, b, packed)?
                    }
                    _ => {
                        st.op.eval(&mut cx)?;
                        true
                    }
                };
            }
            if !ran {
                for (s, &label) in labels.iter().enumerate() {
                    let inputs: [TensorInfo; 4] =
                        core::array::from_fn(|i| sample(&st.inputs[i], b, s));
                    let output = sample(&st.output, b, s);
                    let mut cx = Eval {
                        io: Io::split(arena, &output, blob)?,
                        inputs: inputs.get(..ins.len()).ok_or(Error::Internal)?,
                        output: &output,
                        label,
                    };
                    st.op.eval(&mut cx)?;
                }
            }
        }
        Ok(())
    }
}

/// Op `op` as a [`Step`]: its tensors copied out, and whether it can run on whole blocks
/// (`no_broadcast`: a binary op's record says both operands are full-size).
fn step<'m>(op: PreparedOp<'_, 'm>, no_broadcast: bool, capacity: usize) -> Step<'m> {
    let mut inputs = [*op.output; 4];
    for (slot, t) in inputs.iter_mut().zip(op.inputs) {
        *slot = *t;
    }
    let arena = |t: &TensorInfo| t.storage == Storage::Arena;
    let all_arena = op.inputs.iter().all(arena);
    let full_size = op.inputs.iter().all(|t| t.numel == op.output.numel);
    let mode = match op.op {
        Prepared::Dense(_) | Prepared::Conv2d(_) => Mode::Rows,
        // elementwise on slices whatever their length: B samples are one longer tensor
        Prepared::Relu(_)
        | Prepared::LeakyRelu(_)
        | Prepared::Tanh(_)
        | Prepared::Sigmoid(_)
        | Prepared::Elu(_)
        | Prepared::Softplus(_)
        | Prepared::Clip(_)
        | Prepared::Quantize(_)
        | Prepared::Dequantize(_)
        | Prepared::Reshape(_)
            if all_arena && full_size =>
        {
            Mode::Block
        }
        // (a scalar or channel operand would pair with the block's first sample only)
        Prepared::Add(_) | Prepared::Sub(_) | Prepared::Mul(_)
            if all_arena && full_size && no_broadcast =>
        {
            Mode::Block
        }
        _ => Mode::PerSample,
    };
    let packed = match op.op {
        Prepared::Conv2d(conv) => conv.packed().map(Packed::Conv2d),
        Prepared::Dense(dense) => dense.packed(capacity).map(Packed::Dense),
        _ => None,
    };
    Step {
        op: *op.op,
        packed,
        inputs,
        n_inputs: op.inputs.len(),
        output: *op.output,
        mode,
    }
}

/// Tensor `t` of a run of `b` samples as one block of `b` samples (constants as they are).
fn block(t: &TensorInfo, b: usize) -> TensorInfo {
    match t.storage {
        Storage::Const => *t,
        Storage::Arena => TensorInfo {
            offset: t.offset.wrapping_mul(b as u32),
            numel: t.numel.wrapping_mul(b as u32),
            ..*t
        },
    }
}

/// Sample `s` of tensor `t` in a run of `b` samples (constants as they are).
fn sample(t: &TensorInfo, b: usize, s: usize) -> TensorInfo {
    match t.storage {
        Storage::Const => *t,
        Storage::Arena => TensorInfo {
            offset: t
                .offset
                .wrapping_mul(b as u32)
                .wrapping_add((s * t.bytes()) as u32),
            ..*t
        },
    }
}

/// The checks every batch call makes before it samples anything: `out` holds `rows`
/// outputs (its prefix is returned), the noise is `rows` seeds or `rows × noise_dim`
/// values, and each row's condition fits the model. Shared by [`BatchSampler`] and
/// [`ParallelSampler`](crate::ParallelSampler).
pub(crate) fn check_rows<'o, 'c>(
    model: &DeviceModel<'_>,
    rows: usize,
    noise: Noise<'_>,
    condition: &dyn Fn(usize) -> Condition<'c>,
    out: &'o mut [f32],
) -> Result<&'o mut [f32], Error> {
    let out = output_prefix(out, rows.saturating_mul(model.output_len()))?;
    let (expected, found) = match noise {
        Noise::Seeds(seeds) => (rows, seeds.len()),
        Noise::Given(z) => (rows.saturating_mul(model.noise_dim()), z.len()),
    };
    if expected != found {
        return Err(Error::ShapeMismatch { expected, found });
    }
    for s in 0..rows {
        model.condition().check(&condition(s))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConditionKind, Sampler};
    use std::path::PathBuf;
    use std::string::String;

    /// Every `.egm` shipped in the repository (`models/`, `models/foreign/`): a missing
    /// folder is a failure, not a skip.
    fn shipped() -> Vec<(String, Vec<u32>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut found = Vec::new();
        for dir in [root.clone(), root.join("foreign")] {
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
            for entry in entries {
                let dir = entry.unwrap().path();
                for format in ["f32", "w8a32", "w8a8"] {
                    let path = dir.join(std::format!("model.{format}.egm"));
                    if let Ok(bytes) = std::fs::read(&path) {
                        // as u32 words: the model must start 4-byte aligned
                        let mut words = vec![0u32; bytes.len().div_ceil(4)];
                        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()]
                            .copy_from_slice(&bytes);
                        found.push((path.display().to_string(), words));
                    }
                }
            }
        }
        assert!(
            found.len() >= 12,
            "expected the shipped .egm models, found {}",
            found.len()
        );
        found
    }

    /// Per-row conditions: labels cycling over the classes, masks that differ per row.
    fn conditions(kind: ConditionKind, rows: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
        let len = kind.mask_len();
        let masks = (0..rows)
            .map(|r| {
                (0..2 * len)
                    .map(|i| {
                        if i < len {
                            ((i / 7 + r) % 2) as f32
                        } else {
                            ((i * 13 + r * 5) % 17) as f32 / 8.5 - 1.0
                        }
                    })
                    .collect()
            })
            .collect();
        let classes = match kind {
            ConditionKind::Label { classes } => classes,
            _ => 1,
        };
        ((0..rows as u32).map(|r| (r * 3) % classes).collect(), masks)
    }

    fn condition<'c>(
        kind: ConditionKind,
        labels: &[u32],
        masks: &'c [Vec<f32>],
        r: usize,
    ) -> Condition<'c> {
        match kind {
            ConditionKind::None => Condition::None,
            ConditionKind::Label { .. } => Condition::Label(labels[r]),
            ConditionKind::Mask { .. } => {
                let (mask, masked) = masks[r].split_at(kind.mask_len());
                Condition::Mask { mask, masked }
            }
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn every_row_equals_the_single_sampler_on_every_shipped_model() {
        for (name, words) in shipped() {
            let model = DeviceModel::from_bytes(bytemuck::cast_slice(&words)).unwrap();
            let (n, kind) = (model.output_len(), model.condition());
            let rows = 67; // two runs of capacity 64, and a batch of 3 after them
            let (labels, masks) = conditions(kind, rows);
            let cond = |r: usize| condition(kind, &labels, &masks, r);
            let seeds: Vec<u64> = (0..rows as u64).map(|s| s * 7919 + 11).collect();
            let z: Vec<f32> = (0..rows * model.noise_dim())
                .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
                .collect();
            let mut arena = vec![0u8; model.arena_bytes() + 3];
            let mut one = Sampler::new(&model, &mut arena).unwrap();
            let (mut want_seeds, mut want_z) = (vec![0.0; rows * n], vec![0.0; rows * n]);
            for r in 0..rows {
                let out = &mut want_seeds[r * n..(r + 1) * n];
                one.sample(seeds[r], cond(r), out).unwrap();
                let zr = &z[r * model.noise_dim()..(r + 1) * model.noise_dim()];
                one.sample_with_noise(zr, cond(r), &mut want_z[r * n..(r + 1) * n])
                    .unwrap();
            }
            for capacity in [1, 5, 64] {
                let mut batch = BatchSampler::new(&model, capacity).unwrap();
                let mut got = vec![f32::NAN; rows * n];
                batch
                    .sample_rows(rows, Noise::Seeds(&seeds), &cond, &mut got)
                    .unwrap();
                assert!(
                    bits(&got) == bits(&want_seeds),
                    "{name}: seeds, capacity {capacity}"
                );
                let mut got = vec![f32::NAN; rows * n];
                batch
                    .sample_rows(rows, Noise::Given(&z), &cond, &mut got)
                    .unwrap();
                assert!(
                    bits(&got) == bits(&want_z),
                    "{name}: given noise, capacity {capacity}"
                );
            }
        }
    }

    #[test]
    fn sample_seeds_equals_the_single_samplers() {
        for (name, words) in shipped() {
            let model = DeviceModel::from_bytes(bytemuck::cast_slice(&words)).unwrap();
            let (labels, masks) = conditions(model.condition(), 1);
            let c = condition(model.condition(), &labels, &masks, 0);
            let seeds: Vec<u64> = (100..109).collect();
            let n = model.output_len();
            let mut arena = vec![0u8; model.arena_bytes() + 3];
            let mut want = vec![0.0; seeds.len() * n];
            Sampler::new(&model, &mut arena)
                .unwrap()
                .sample_seeds(&seeds, c, &mut want)
                .unwrap();
            let mut got = vec![f32::NAN; seeds.len() * n];
            let mut batch = BatchSampler::new(&model, 4).unwrap();
            batch.sample_seeds(&seeds, c, &mut got).unwrap();
            assert!(bits(&got) == bits(&want), "{name}");
        }
    }

    #[test]
    fn bad_inputs_are_errors_before_any_sample() {
        let (name, words) = shipped()
            .into_iter()
            .find(|(p, _)| p.contains("ring8-cgan") && p.ends_with("w8a8.egm"))
            .expect("models/ring8-cgan/model.w8a8.egm");
        let model = DeviceModel::from_bytes(bytemuck::cast_slice(&words)).unwrap();
        let n = model.output_len();
        let mut batch = BatchSampler::new(&model, 8).unwrap();
        let mut out = vec![7.0; 3 * n];
        let seeds = [1u64, 2, 3];
        // a label past the classes in the last row: nothing written
        let bad = |r: usize| Condition::Label(if r == 2 { 1000 } else { 0 });
        let e = batch.sample_rows(3, Noise::Seeds(&seeds), &bad, &mut out);
        assert!(
            matches!(e, Err(Error::LabelOutOfRange { .. })),
            "{name}: {e:?}"
        );
        assert!(out.iter().all(|&v| v == 7.0));
        let ok = |_| Condition::Label(1);
        let e = batch.sample_rows(3, Noise::Seeds(&seeds[..2]), &ok, &mut out);
        assert_eq!(
            e,
            Err(Error::ShapeMismatch {
                expected: 3,
                found: 2
            })
        );
        let z = vec![0.0; 3 * model.noise_dim() - 1];
        let e = batch.sample_rows(3, Noise::Given(&z), &ok, &mut out);
        assert!(matches!(e, Err(Error::ShapeMismatch { .. })));
        let e = batch.sample_rows(3, Noise::Seeds(&seeds), &ok, &mut out[..3 * n - 1]);
        assert!(matches!(e, Err(Error::OutputTooSmall { .. })));
        assert!(out.iter().all(|&v| v == 7.0));
        let e = BatchSampler::new(&model, usize::MAX / 2).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { .. }));
    }
}
