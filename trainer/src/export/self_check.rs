//! The export's self-check: deterministic inputs for each contract condition, Burn's own
//! output for them, and how far tract's output on the written file is from it.

use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Serialize;

use super::contract::{ConditionInput, ConditionKind, mask_shape};
use super::tract_check;
use crate::config::MaskKind;
use crate::data::images::masks::{apply_mask, random_masks};
use crate::error::Result;
use crate::networks::{Condition, Generator};
use crate::tensors::{self, read_vec};
use crate::training::standard_normal;

/// Largest accepted |Burn - tract| over every output element.
pub const TOLERANCE: f32 = 1e-5;

/// Batch sizes of the self-check.
pub const CHECK_BATCHES: [usize; 3] = [1, 7, 64];

/// Seed of the self-check noise (batch `b` uses `CHECK_SEED ^ b`).
pub const CHECK_SEED: u64 = 0x6578_706f_7274;

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
        ConditionKind::Label { classes } => classes as usize,
        _ => 0,
    };
    let (z, labels) = check_inputs(batch, noise_dim, classes);
    let (mut mask, mut masked) = (Vec::new(), Vec::new());
    if let Some(shape) = mask_shape(kind) {
        let mut rng = Pcg64::seed_from_u64(CHECK_SEED ^ 0x6d61_736b ^ batch as u64);
        mask = random_masks(MaskKind::Mixed, batch, shape, &mut rng);
        let dim: usize = shape.iter().product();
        // a smooth deterministic pattern in [-1, 1] stands in for an image
        let image: Vec<f32> = (0..batch * dim)
            .map(|i| ((i % dim) as f32 * 0.37 + (i / dim) as f32).sin())
            .collect();
        masked = apply_mask(&image, &mask);
    }
    CheckBatch {
        z,
        labels,
        mask,
        masked,
        kind,
    }
}

/// Deterministic self-check inputs: seeded standard-normal noise `[batch, noise_dim]`
/// and labels cycling over the classes (all 0 when `classes` is 0).
fn check_inputs(batch: usize, noise_dim: usize, classes: usize) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Pcg64::seed_from_u64(CHECK_SEED ^ batch as u64);
    let z = standard_normal(&mut rng, batch * noise_dim);
    let labels = (0..batch).map(|i| (i % classes.max(1)) as i64).collect();
    (z, labels)
}

/// Burn's generator output (network units, row-major; images as `[N, C, H, W]`) for
/// noise `z` and any condition.
pub fn burn_forward(
    generator: &Generator,
    noise_dim: usize,
    z: &[f32],
    condition: ConditionInput<'_>,
) -> Result<Vec<f32>> {
    let device = Device::flex();
    let batch = z.len() / noise_dim.max(1);
    let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [batch, noise_dim]), &device);
    let condition = match condition {
        ConditionInput::Label(l) => Condition::Label(tensors::labels(l, &device)),
        ConditionInput::None => Condition::None,
        ConditionInput::Mask { mask, masked } => Condition::Mask {
            mask: tensors::matrix(mask.to_vec(), batch, &device),
            masked: tensors::matrix(masked.to_vec(), batch, &device),
        },
    };
    read_vec(generator.forward(z, &condition))
}

/// Burn vs tract on one batch of the self-check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParityCheck {
    /// batch size
    pub batch: usize,
    /// max |Burn - tract| over all output elements (network units)
    pub max_abs_diff: f32,
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

/// Runs the written ONNX file at `path` with tract and `reference` with Burn on the
/// deterministic inputs of every batch in [`CHECK_BATCHES`], and measures how far apart
/// they are.
pub fn parity(
    reference: &Generator,
    path: &Path,
    noise_dim: usize,
    kind: ConditionKind,
) -> Result<Vec<ParityCheck>> {
    let mut parity = Vec::with_capacity(CHECK_BATCHES.len());
    for batch in CHECK_BATCHES {
        let inputs = check_batch(batch, noise_dim, kind);
        let burn = burn_forward(reference, noise_dim, &inputs.z, inputs.condition())?;
        let tract = tract_check::run_onnx(path, &inputs.z, inputs.condition())?;
        parity.push(ParityCheck {
            batch,
            max_abs_diff: max_abs_diff(&burn, &tract),
        });
    }
    Ok(parity)
}

/// The largest difference of a self-check, NaN when any is NaN.
pub fn worst(parity: &[ParityCheck]) -> f32 {
    parity.iter().map(|p| p.max_abs_diff).fold(0.0, nan_max)
}

/// Whether every batch is within `tolerance` (a NaN difference is a failure); when one is
/// not, the differences of all batches as `batch B: D, ...` for the error.
pub fn within(parity: &[ParityCheck], tolerance: f32) -> std::result::Result<(), String> {
    if parity
        .iter()
        .all(|p| !p.max_abs_diff.is_nan() && p.max_abs_diff <= tolerance)
    {
        return Ok(());
    }
    let table: Vec<String> = parity
        .iter()
        .map(|p| format!("batch {}: {:.3e}", p.batch, p.max_abs_diff))
        .collect();
    Err(table.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_diff_keeps_nan_and_length_mismatch_as_failures() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 2.0]), 0.5);
        assert!(max_abs_diff(&[f32::NAN, 2.0], &[0.0, 9.0]).is_nan());
        assert!(max_abs_diff(&[0.0, f32::NAN], &[0.0, 0.0]).is_nan());
        assert_eq!(max_abs_diff(&[0.0], &[0.0, 0.0]), f32::INFINITY);
    }
}
