//! The case list: for every model, a fixed set of (seed, condition, batch) cases derived
//! only from the model's ONNX metadata, so every engine runs the same inputs and a new
//! model folder needs no code change.
//!
//! Inputs are generated from a seed with PCG64 and a standard normal; the golden files
//! store them too, so a change of the generator code cannot silently change what the
//! golden outputs mean (a test regenerates the inputs and compares them bit for bit).

use edgegan_runtime::contract;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use crate::array::Array;
use crate::model::{ConditionKind, ModelInfo};

/// Batch sizes every model is run at: 1 and 64 as the issue asks, 7 because an odd batch
/// catches kernels that assume a multiple of their vector width.
pub const BATCHES: [usize; 3] = [1, 7, 64];

/// The condition inputs of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// unconditional model
    None,
    /// `label` int64 `[N]`
    Label(Array<i64>),
    /// `mask` (1 = known) and `masked`, both float32 `[N, C, H, W]`
    Mask {
        /// 1 where the object is known, 0 where the generator fills in
        mask: Array<f32>,
        /// the object with the unknown part zeroed
        masked: Array<f32>,
    },
}

/// One named input tensor, as the contract names it.
#[derive(Debug, Clone, Copy)]
pub enum NamedTensor<'a> {
    /// a float32 input
    F32(&'static str, &'a Array<f32>),
    /// an int64 input
    I64(&'static str, &'a Array<i64>),
}

impl NamedTensor<'_> {
    /// the contract's input name
    pub fn name(&self) -> &'static str {
        match self {
            NamedTensor::F32(n, _) | NamedTensor::I64(n, _) => n,
        }
    }

    /// the tensor's shape
    pub fn shape(&self) -> &[usize] {
        match self {
            NamedTensor::F32(_, a) => a.shape(),
            NamedTensor::I64(_, a) => a.shape(),
        }
    }

    /// `float32` or `int64`
    pub fn dtype(&self) -> &'static str {
        match self {
            NamedTensor::F32(..) => "float32",
            NamedTensor::I64(..) => "int64",
        }
    }
}

/// The inputs of one case: a name (also its golden folder), `z` and the condition.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseInputs {
    /// unique within a model, e.g. `b064-s3-label-cycle`
    pub name: String,
    /// noise, float32 `[N, Z]`
    pub z: Array<f32>,
    /// the condition inputs
    pub condition: Condition,
}

impl CaseInputs {
    /// N, the leading dimension of `z`
    pub fn batch(&self) -> usize {
        self.z.batch().unwrap_or(0)
    }

    /// Every input tensor with its contract name, `z` first.
    pub fn tensors(&self) -> Vec<NamedTensor<'_>> {
        let mut out = vec![NamedTensor::F32(contract::Z, &self.z)];
        match &self.condition {
            Condition::None => {}
            Condition::Label(l) => out.push(NamedTensor::I64(contract::LABEL, l)),
            Condition::Mask { mask, masked } => {
                out.push(NamedTensor::F32(contract::MASK, mask));
                out.push(NamedTensor::F32(contract::MASKED, masked));
            }
        }
        out
    }
}

/// How a case picks its condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionSpec {
    /// unconditional
    None,
    /// label `i % classes` for row `i` (every class once per `classes` rows)
    LabelCycle,
    /// labels drawn uniformly from the seed
    LabelRandom,
    /// the centre half-by-half square unknown, the rest known
    MaskCenter,
    /// each pixel known with probability 1/2 (the same across channels)
    MaskRandom,
}

impl ConditionSpec {
    /// the name used in case names and the golden manifest
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionSpec::None => "none",
            ConditionSpec::LabelCycle => "label-cycle",
            ConditionSpec::LabelRandom => "label-random",
            ConditionSpec::MaskCenter => "mask-center",
            ConditionSpec::MaskRandom => "mask-random",
        }
    }
}

/// One entry of the case list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseSpec {
    /// N
    pub batch: usize,
    /// seed of the noise (and of random labels or masks)
    pub seed: u64,
    /// the condition
    pub condition: ConditionSpec,
}

impl CaseSpec {
    /// e.g. `b064-s3-label-cycle`; zero-padded so a listing sorts by batch
    pub fn name(&self) -> String {
        format!(
            "b{:03}-s{}-{}",
            self.batch,
            self.seed,
            self.condition.as_str()
        )
    }

    /// The case's inputs for the model described by `info`.
    pub fn inputs(&self, info: &ModelInfo) -> CaseInputs {
        let n = self.batch;
        let mut rng = Pcg64::seed_from_u64(self.seed);
        let z: Vec<f32> = (0..n * info.noise_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let condition = match (&info.condition, self.condition) {
            (ConditionKind::Label { class_names }, spec) => {
                let k = class_names.len();
                let labels = (0..n)
                    .map(|i| match spec {
                        ConditionSpec::LabelRandom => rng.random_range(0..k),
                        _ => i % k,
                    })
                    // a class index is far below i64::MAX
                    .map(|l| l as i64)
                    .collect();
                Condition::Label(array(vec![n], labels))
            }
            (ConditionKind::Mask, spec) => mask_condition(&info.output_shape, n, spec, &mut rng),
            (ConditionKind::None, _) => Condition::None,
        };
        CaseInputs {
            name: self.name(),
            z: array(vec![n, info.noise_dim], z),
            condition,
        }
    }
}

/// Builds an array whose shape and length agree by construction.
fn array<T>(shape: Vec<usize>, data: Vec<T>) -> Array<T> {
    match Array::new(shape, data) {
        Ok(a) => a,
        // the callers size `data` from `shape`; reaching this is a bug in this module
        Err(e) => unreachable!("case generator built an inconsistent array: {e}"),
    }
}

/// A mask and a masked object for `n` samples of shape `[C, H, W]` (checked by
/// [`ModelInfo::from_onnx`]). The object is uniform in [-1, 1], the generator's range.
fn mask_condition(sample: &[usize], n: usize, spec: ConditionSpec, rng: &mut Pcg64) -> Condition {
    let (c, h, w) = match sample {
        [c, h, w] => (*c, *h, *w),
        _ => (1, 1, sample.iter().product()),
    };
    let mut mask = Vec::with_capacity(n * c * h * w);
    for _ in 0..n {
        let plane: Vec<f32> = (0..h * w)
            .map(|p| {
                let (y, x) = (p / w, p % w);
                let known = match spec {
                    ConditionSpec::MaskRandom => rng.random_bool(0.5),
                    _ => !(y >= h / 4 && y < h / 4 + h / 2 && x >= w / 4 && x < w / 4 + w / 2),
                };
                if known { 1.0 } else { 0.0 }
            })
            .collect();
        for _ in 0..c {
            mask.extend_from_slice(&plane);
        }
    }
    let masked = mask
        .iter()
        .map(|&m| m * rng.random_range(-1.0f32..=1.0))
        .collect();
    let shape = vec![n, c, h, w];
    Condition::Mask {
        mask: array(shape.clone(), mask),
        masked: array(shape, masked),
    }
}

/// The case list of a model: batch 1 twice (two conditions), 7 once, 64 twice, each with
/// its own seed, alternating the two condition variants of the model's condition kind.
pub fn case_specs(info: &ModelInfo) -> Vec<CaseSpec> {
    let (a, b) = match info.condition {
        ConditionKind::None => (ConditionSpec::None, ConditionSpec::None),
        ConditionKind::Label { .. } => (ConditionSpec::LabelCycle, ConditionSpec::LabelRandom),
        ConditionKind::Mask => (ConditionSpec::MaskCenter, ConditionSpec::MaskRandom),
    };
    let [b1, b7, b64] = BATCHES;
    [(b1, a), (b1, b), (b7, b), (b64, a), (b64, b)]
        .into_iter()
        .zip(0u64..)
        .map(|((batch, condition), seed)| CaseSpec {
            batch,
            seed,
            condition,
        })
        .collect()
}
