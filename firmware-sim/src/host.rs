//! Host sampling with the device runtime: the same no_std code the firmware runs, with an
//! arena of exactly [`DeviceModel::arena_bytes`] bytes.

use std::path::{Path, PathBuf};

use edgegan_runtime::builder::AlignedBytes;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Sampler};

use crate::{Error, Result};

/// A model file read into aligned memory.
pub struct ModelFile {
    /// Where it came from.
    pub path: PathBuf,
    bytes: AlignedBytes,
}

impl ModelFile {
    /// Reads and validates `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read, [`Error::BadModel`] if the runtime rejects it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = AlignedBytes::read(path).map_err(|source| Error::Io {
            action: "reading model",
            path: path.to_path_buf(),
            source,
        })?;
        let file = ModelFile {
            path: path.to_path_buf(),
            bytes,
        };
        file.model()?;
        Ok(file)
    }

    /// The parsed model.
    ///
    /// # Errors
    ///
    /// [`Error::BadModel`] (only possible if [`read`](Self::read) was bypassed).
    pub fn model(&self) -> Result<DeviceModel<'_>> {
        DeviceModel::from_bytes(self.bytes.as_slice()).map_err(|source| Error::BadModel {
            path: self.path.clone(),
            source,
        })
    }
}

/// One sample request: a seed and a label (`None` for unconditional models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The noise seed.
    pub seed: u64,
    /// The class label, for label-conditioned models.
    pub label: Option<u32>,
}

/// The `(seed, label)` pairs for `n` samples from `first_seed` on: seeds count up; the
/// label is `class` when given, otherwise (label models) sample `i` gets class `i % classes`.
///
/// # Errors
///
/// [`Error::Condition`] for a class out of range, a class for a model without labels, or a
/// mask-conditioned model (not supported by firmware-sim yet).
pub fn pairs(
    model: &DeviceModel<'_>,
    first_seed: u64,
    n: usize,
    class: Option<u32>,
) -> Result<Vec<Pair>> {
    let label_of = |i: usize| -> Result<Option<u32>> {
        match (model.condition(), class) {
            (ConditionKind::None, None) => Ok(None),
            (ConditionKind::None, Some(c)) => Err(Error::Condition(format!(
                "--class {c} given, but the model takes no class label"
            ))),
            (ConditionKind::Label { classes }, Some(c)) if c >= classes => {
                Err(Error::Condition(format!(
                    "class {c} out of range: the model has {classes} classes (0 to {})",
                    classes - 1
                )))
            }
            (ConditionKind::Label { .. }, Some(c)) => Ok(Some(c)),
            (ConditionKind::Label { classes }, None) => Ok(Some((i % classes as usize) as u32)),
            (kind @ ConditionKind::Mask { .. }, _) => Err(Error::Condition(format!(
                "the model is conditioned on {kind}: mask inputs are not supported by \
                 firmware-sim yet"
            ))),
        }
    };
    (0..n)
        .map(|i| {
            Ok(Pair {
                seed: first_seed.wrapping_add(i as u64),
                label: label_of(i)?,
            })
        })
        .collect()
}

fn condition(pair: &Pair) -> Condition<'static> {
    pair.label.map_or(Condition::None, Condition::Label)
}

/// Samples every pair with the runtime; `out[i]` has [`DeviceModel::output_len`] values.
///
/// # Errors
///
/// [`Error::Sample`] if the runtime rejects an input.
pub fn sample(model: &DeviceModel<'_>, pairs: &[Pair]) -> Result<Vec<Vec<f32>>> {
    sample_each(model, pairs, |sampler, p, out| {
        sampler.sample(p.seed, condition(p), out)
    })
}

/// Samples every pair as `u8` pixels (the model's value range mapped to `0..=255`).
///
/// # Errors
///
/// As [`sample`].
pub fn sample_u8(model: &DeviceModel<'_>, pairs: &[Pair]) -> Result<Vec<Vec<u8>>> {
    sample_each(model, pairs, |sampler, p, out| {
        sampler.sample_u8(p.seed, condition(p), out)
    })
}

/// Runs `one` for every pair with one sampler over an arena of exactly `arena_bytes`.
// The arena is `u32` words so that it is 4-byte aligned, as the runtime needs, and exactly
// `arena_bytes` long (a multiple of 4 by the format).
fn sample_each<T: Clone + Default>(
    model: &DeviceModel<'_>,
    pairs: &[Pair],
    mut one: impl FnMut(
        &mut Sampler<'_, '_>,
        &Pair,
        &mut [T],
    ) -> core::result::Result<(), edgegan_runtime::Error>,
) -> Result<Vec<Vec<T>>> {
    let mut arena = vec![0u32; model.arena_bytes().div_ceil(4)];
    let mut sampler = Sampler::new(model, bytemuck::cast_slice_mut(&mut arena))?;
    pairs
        .iter()
        .map(|p| {
            let mut out = vec![T::default(); model.output_len()];
            one(&mut sampler, p, &mut out)?;
            Ok(out)
        })
        .collect()
}
