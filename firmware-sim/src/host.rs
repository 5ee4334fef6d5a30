//! Host sampling with the device runtime: the same no_std code the firmware runs, with an
//! arena of exactly [`DeviceModel::arena_bytes`] bytes.

use std::path::{Path, PathBuf};

use edgegan_compiler::builder::AlignedBytes;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Limits, ParallelSampler, Sampler};

use crate::inputs::InputShape;
use crate::{Error, Result, maskgen, picture};

/// Largest `.egm` file the host reads (the shipped models are under 1 MiB).
pub const MAX_MODEL_FILE_BYTES: u64 = 256 << 20;

/// Largest set of samples one command holds in memory (`n` × output values × 4 bytes).
pub const MAX_SAMPLES_BYTES: u64 = 1 << 30;

/// A model file read into aligned memory.
pub struct ModelFile {
    /// Where it came from.
    pub path: PathBuf,
    bytes: AlignedBytes,
    limits: Limits,
}

impl ModelFile {
    /// Reads and validates `path` under the host's default [`Limits::HOST`].
    ///
    /// # Errors
    ///
    /// As [`read_with_limits`](Self::read_with_limits).
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_with_limits(path, Limits::HOST)
    }

    /// Reads and validates `path`, and checks it against `limits` (arena, MACs, op outputs).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read, [`Error::ModelLimit`] if the file is larger than
    /// [`MAX_MODEL_FILE_BYTES`] or the model asks for more than `limits`,
    /// [`Error::BadModel`] if the runtime rejects it.
    pub fn read_with_limits(path: &Path, limits: Limits) -> Result<Self> {
        let len = std::fs::metadata(path)
            .map_err(crate::io("reading model", path))?
            .len();
        if len > MAX_MODEL_FILE_BYTES {
            return Err(Error::ModelLimit {
                path: path.to_path_buf(),
                reason: format!("the file has {len} bytes, the limit is {MAX_MODEL_FILE_BYTES}"),
            });
        }
        let bytes = AlignedBytes::read(path).map_err(crate::io("reading model", path))?;
        let file = ModelFile {
            path: path.to_path_buf(),
            bytes,
            limits,
        };
        file.model()?;
        Ok(file)
    }

    /// The parsed model.
    ///
    /// # Errors
    ///
    /// [`Error::BadModel`] or [`Error::ModelLimit`] (only possible if
    /// [`read`](Self::read) was bypassed).
    pub fn model(&self) -> Result<DeviceModel<'_>> {
        DeviceModel::from_bytes_with_limits(self.bytes.as_slice(), &self.limits).map_err(|source| {
            match source {
                edgegan_runtime::Error::LimitExceeded { .. } => Error::ModelLimit {
                    path: self.path.clone(),
                    reason: source.to_string(),
                },
                _ => Error::BadModel {
                    path: self.path.clone(),
                    source,
                },
            }
        })
    }
}

/// Checks that `n` samples of `model` fit in [`MAX_SAMPLES_BYTES`] before they are made.
///
/// # Errors
///
/// [`Error::Output`] naming the size and the limit.
pub fn check_samples_fit(model: &DeviceModel<'_>, n: usize) -> Result<()> {
    let bytes = (n as u64).saturating_mul(model.output_len() as u64 * 4);
    if bytes > MAX_SAMPLES_BYTES {
        return Err(Error::Output(format!(
            "{n} samples of {} values need {bytes} bytes, over the limit of {MAX_SAMPLES_BYTES}: ask for fewer samples",
            model.output_len()
        )));
    }
    Ok(())
}

/// Where the mask of one sample comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskSource {
    /// Drawn by [`maskgen::fill`] from `(kind, seed)` over the batch's picture: the firmware
    /// draws the same mask from the same pair.
    Generated {
        /// [`maskgen::RECT`], [`maskgen::HALF`] or [`maskgen::MIXED`].
        kind: u32,
        /// The mask seed.
        seed: u64,
    },
    /// Item `i` of the batch's given masks (from files).
    Given(usize),
}

/// One sample request: a seed and the condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The noise seed.
    pub seed: u64,
    /// The class label, for label-conditioned models.
    pub label: Option<u32>,
    /// The mask, for mask-conditioned models.
    pub mask: Option<MaskSource>,
}

impl Pair {
    /// The condition in words, for messages: `class 3`, `rect mask seed 7`, `-`.
    pub fn condition_text(&self) -> String {
        match (self.label, self.mask) {
            (Some(l), _) => format!("class {l}"),
            (None, Some(MaskSource::Generated { kind, seed })) => {
                format!("{} mask seed {seed}", mask_kind_name(kind))
            }
            (None, Some(MaskSource::Given(i))) => format!("given mask {i}"),
            (None, None) => "-".to_string(),
        }
    }
}

/// `rect`, `half` or `mixed`.
pub fn mask_kind_name(kind: u32) -> &'static str {
    match kind {
        maskgen::RECT => "rect",
        maskgen::HALF => "half",
        _ => "mixed",
    }
}

/// A mask and its masked object, each [`ConditionKind::mask_len`] values.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskInput {
    /// 1 = known, 0 = to fill.
    pub mask: Vec<f32>,
    /// `picture · mask`.
    pub masked: Vec<f32>,
}

/// Where a mask-conditioned model's inputs come from.
#[derive(Clone, Debug, PartialEq)]
pub enum MaskPlan {
    /// Masks drawn from seeds over one picture: sample `i` gets mask seed
    /// `first_mask_seed + i`.
    Generated {
        /// The picture, `[C, H, W]` in the model's value range.
        picture: Vec<f32>,
        /// [`maskgen::RECT`], [`maskgen::HALF`] or [`maskgen::MIXED`].
        kind: u32,
        /// The first mask seed.
        first_mask_seed: u64,
    },
    /// Masks and masked objects given (from files): sample `i` gets item `i mod len`.
    Given(Vec<MaskInput>),
}

/// The samples to make and the inputs they need.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// One per sample.
    pub pairs: Vec<Pair>,
    /// The picture generated masks apply to (empty unless mask-conditioned).
    pub picture: Vec<f32>,
    /// The given masks that [`MaskSource::Given`] indexes.
    pub given: Vec<MaskInput>,
    /// Given noise (`sample --z`): empty, each pair's `z` is drawn from its seed;
    /// otherwise one row of [`DeviceModel::noise_dim`] values per pair, in order.
    pub noise: Vec<Vec<f32>>,
}

impl Batch {
    /// The mask and masked object of `pair` (`None` for models without masks).
    pub fn mask_input(&self, model: &DeviceModel<'_>, pair: &Pair) -> Option<MaskInput> {
        let shape = mask_shape(model)?;
        match pair.mask? {
            MaskSource::Given(i) => self.given.get(i).cloned(),
            MaskSource::Generated { kind, seed } => {
                let mut m = MaskInput {
                    mask: vec![0.0; shape.len()],
                    masked: vec![0.0; shape.len()],
                };
                maskgen::fill(
                    kind,
                    seed,
                    shape.channels,
                    shape.height,
                    shape.width,
                    &self.picture,
                    &mut m.mask,
                    &mut m.masked,
                );
                Some(m)
            }
        }
    }
}

/// The mask input shape of `model`, if it is mask-conditioned.
pub fn mask_shape(model: &DeviceModel<'_>) -> Option<InputShape> {
    match model.condition() {
        ConditionKind::Mask {
            channels,
            height,
            width,
        } => Some(InputShape {
            channels: channels as usize,
            height: height as usize,
            width: width as usize,
            range: model.value_range(),
        }),
        _ => None,
    }
}

/// The samples for `n` seeds from `first_seed` on: seeds count up; the label is `class`
/// when given, otherwise (label models) sample `i` gets class `i % classes`; mask models
/// take their inputs from `masks` (default: the built-in test picture under mixed masks,
/// mask seeds equal to the noise seeds).
///
/// # Errors
///
/// [`Error::Condition`] for a class out of range, a class for a model without labels,
/// mask inputs for a model without masks, or mask inputs of the wrong size.
pub fn batch(
    model: &DeviceModel<'_>,
    first_seed: u64,
    n: usize,
    class: Option<u32>,
    masks: Option<MaskPlan>,
) -> Result<Batch> {
    check_samples_fit(model, n)?;
    let kind = model.condition();
    let seed_of = |i: usize| first_seed.wrapping_add(i as u64);
    let mut out = Batch {
        pairs: Vec::with_capacity(n),
        picture: vec![],
        given: vec![],
        noise: vec![],
    };
    let Some(shape) = mask_shape(model) else {
        if masks.is_some() {
            return Err(Error::Condition(format!(
                "mask inputs (--mask, --masked, --image) given, but the model takes {kind}"
            )));
        }
        for i in 0..n {
            let label = match (kind, class) {
                (ConditionKind::Label { classes }, Some(c)) if c >= classes => {
                    return Err(Error::Condition(format!(
                        "class {c} out of range: the model has {classes} classes (0 to {})",
                        classes - 1
                    )));
                }
                (ConditionKind::Label { .. }, Some(c)) => Some(c),
                (ConditionKind::Label { classes }, None) => Some((i % classes as usize) as u32),
                (_, Some(c)) => {
                    return Err(Error::Condition(format!(
                        "--class {c} given, but the model takes no class label"
                    )));
                }
                (_, None) => None,
            };
            out.pairs.push(Pair {
                seed: seed_of(i),
                label,
                mask: None,
            });
        }
        return Ok(out);
    };
    if let Some(c) = class {
        return Err(Error::Condition(format!(
            "--class {c} given, but the model is conditioned on {kind}, not a class label"
        )));
    }
    let plan = masks.unwrap_or_else(|| MaskPlan::Generated {
        picture: picture::test_picture(shape.channels, shape.height, shape.width, shape.range),
        kind: maskgen::MIXED,
        first_mask_seed: first_seed,
    });
    match plan {
        MaskPlan::Generated {
            picture,
            kind,
            first_mask_seed,
        } => {
            if picture.len() != shape.len() {
                return Err(Error::Condition(format!(
                    "the picture has {} values, the model's mask input {}",
                    picture.len(),
                    shape.len()
                )));
            }
            out.picture = picture;
            out.pairs = (0..n)
                .map(|i| Pair {
                    seed: seed_of(i),
                    label: None,
                    mask: Some(MaskSource::Generated {
                        kind,
                        seed: first_mask_seed.wrapping_add(i as u64),
                    }),
                })
                .collect();
        }
        MaskPlan::Given(given) => {
            let fits = |g: &MaskInput| g.mask.len() == shape.len() && g.masked.len() == shape.len();
            if given.is_empty() || !given.iter().all(fits) {
                return Err(Error::Condition(format!(
                    "the given masks and masked objects must each hold {} values",
                    shape.len()
                )));
            }
            out.pairs = (0..n)
                .map(|i| Pair {
                    seed: seed_of(i),
                    label: None,
                    mask: Some(MaskSource::Given(i % given.len())),
                })
                .collect();
            out.given = given;
        }
    }
    Ok(out)
}

/// The samples of the given noise (`sample --z FILE`): one per row of `noise`, with
/// `labels[i]` (one per row) or `class` or class `i mod classes` for label models, and
/// the mask inputs of `masks` (as many as rows, or one for every row) for mask models.
/// Pair `i` gets seed `i` (the row; its CSV `seed` column), unused for the noise.
///
/// # Errors
///
/// [`Error::Condition`] for a row count that does not match the labels or masks, labels
/// for a model without labels, a row of the wrong length, and the errors of [`batch`].
pub fn batch_with_noise(
    model: &DeviceModel<'_>,
    noise: Vec<Vec<f32>>,
    labels: Option<Vec<u32>>,
    class: Option<u32>,
    masks: Option<MaskPlan>,
) -> Result<Batch> {
    let n = noise.len();
    let z = model.noise_dim();
    if let Some(i) = noise.iter().position(|row| row.len() != z) {
        return Err(Error::Condition(format!(
            "noise row {i} has {} values, the model's noise {z}",
            noise[i].len()
        )));
    }
    if let Some(MaskPlan::Given(given)) = &masks
        && given.len() != 1
        && given.len() != n
    {
        return Err(Error::Condition(format!(
            "{} given masks for {n} noise rows: give as many masks as rows, or one",
            given.len()
        )));
    }
    let mut out = batch(model, 0, n, class, masks)?;
    if let Some(labels) = labels {
        let ConditionKind::Label { classes } = model.condition() else {
            return Err(Error::Condition(format!(
                "labels given, but the model takes {}",
                model.condition()
            )));
        };
        if labels.len() != n {
            return Err(Error::Condition(format!(
                "{} labels for {n} noise rows: give one label per row",
                labels.len()
            )));
        }
        for (pair, label) in out.pairs.iter_mut().zip(labels) {
            if label >= classes {
                return Err(Error::Condition(format!(
                    "class {label} out of range: the model has {classes} classes"
                )));
            }
            pair.label = Some(label);
        }
    }
    out.noise = noise;
    Ok(out)
}

/// Where one sample's noise comes from.
#[derive(Clone, Copy, Debug)]
enum Noise<'a> {
    /// Drawn from the seed, as the firmware does.
    Seed(u64),
    /// Given (`sample --z`).
    Given(&'a [f32]),
}

/// Samples every pair with the runtime; `out[i]` has [`DeviceModel::output_len`] values.
///
/// # Errors
///
/// [`Error::Sample`] if the runtime rejects an input.
pub fn sample(model: &DeviceModel<'_>, batch: &Batch) -> Result<Vec<Vec<f32>>> {
    sample_each(model, batch, |sampler, noise, c, out| match noise {
        Noise::Seed(seed) => sampler.sample(seed, c, out),
        Noise::Given(z) => sampler.sample_with_noise(z, c, out),
    })
}

/// Samples every pair as `u8` pixels (the model's value range mapped to `0..=255`).
///
/// # Errors
///
/// As [`sample`].
pub fn sample_u8(model: &DeviceModel<'_>, batch: &Batch) -> Result<Vec<Vec<u8>>> {
    let range = model.value_range();
    sample_each(model, batch, |sampler, noise, c, out| match noise {
        Noise::Seed(seed) => sampler.sample_u8(seed, c, out),
        Noise::Given(z) => {
            // a row's f32 values, then its pixels (the rows run on rayon's threads)
            let mut values = vec![0.0f32; out.len()];
            sampler.sample_with_noise(z, c, &mut values)?;
            for (dst, &v) in out.iter_mut().zip(&values) {
                *dst = crate::output::to_pixel(v, range);
            }
            Ok(())
        }
    })
}

/// Runs `one` for every pair, the pairs split over rayon's threads (the runtime's
/// `ParallelSampler`: one arena per thread; row `i` is what one sampler makes for pair `i`).
fn sample_each<T: Clone + Default + Send>(
    model: &DeviceModel<'_>,
    batch: &Batch,
    one: impl Fn(
        &mut Sampler<'_, '_>,
        Noise<'_>,
        Condition<'_>,
        &mut [T],
    ) -> core::result::Result<(), edgegan_runtime::Error>
    + Sync,
) -> Result<Vec<Vec<T>>> {
    let n = model.output_len();
    let mut par = ParallelSampler::new(model, 0);
    let mut rows = Vec::with_capacity(batch.pairs.len());
    // a chunk at a time, so the staging buffer stays small next to the samples
    let mut flat = vec![T::default(); CHUNK_ROWS.min(batch.pairs.len()) * n];
    for first in (0..batch.pairs.len()).step_by(CHUNK_ROWS) {
        let count = CHUNK_ROWS.min(batch.pairs.len() - first);
        let chunk = &mut flat[..count * n];
        par.for_each_row(chunk, n, |i, sampler, out| {
            let p = batch
                .pairs
                .get(first + i)
                .ok_or(edgegan_runtime::Error::Internal)?;
            let inputs = batch.mask_input(model, p);
            let condition = match (&inputs, p.label) {
                (Some(m), _) => Condition::Mask {
                    mask: &m.mask,
                    masked: &m.masked,
                },
                (None, Some(l)) => Condition::Label(l),
                (None, None) => Condition::None,
            };
            let noise = match batch.noise.get(first + i) {
                Some(z) => Noise::Given(z),
                None => Noise::Seed(p.seed),
            };
            one(sampler, noise, condition, out)
        })?;
        if n == 0 {
            rows.extend((0..count).map(|_| Vec::new()));
        } else {
            rows.extend(chunk.chunks_exact(n).map(<[T]>::to_vec));
        }
    }
    Ok(rows)
}

/// Samples per parallel chunk of [`sample_each`].
const CHUNK_ROWS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_samples_are_refused_before_allocation() {
        // z[4] -> Dense(4 -> 4096): 16 KiB of output per sample.
        let mut g = edgegan_compiler::builder::GraphBuilder::new(4, ConditionKind::None);
        let z = g.noise();
        let y = g.dense(z, 4096, &vec![0.01; 4 * 4096], None).unwrap();
        let graph = g.finish(y, (-1.0, 1.0)).unwrap();
        let bytes = graph
            .write(&edgegan_compiler::builder::WriteOptions::f32())
            .unwrap();
        let aligned = AlignedBytes::new(&bytes);
        let model = DeviceModel::from_bytes(aligned.as_slice()).unwrap();
        assert!(batch(&model, 0, 1000, None, None).is_ok());
        let err = batch(&model, 0, 100_000, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "100000 samples of 4096 values need 1638400000 bytes, over the limit of 1073741824"
            ),
            "{err}"
        );
    }

    #[test]
    fn generated_masks_follow_the_trainer_geometry() {
        for seed in 0..200u64 {
            let (r0, r1, c0, c1) = maskgen::unknown_region(maskgen::RECT, seed, 28, 28);
            assert!((7..=14).contains(&(r1 - r0)) && (7..=14).contains(&(c1 - c0)));
            assert!(r1 <= 28 && c1 <= 28);
            let half = maskgen::unknown_region(maskgen::HALF, seed, 28, 28);
            assert!(
                [
                    (0, 14, 0, 28),
                    (14, 28, 0, 28),
                    (0, 28, 0, 14),
                    (0, 28, 14, 28)
                ]
                .contains(&half)
            );
        }
        let kinds: std::collections::BTreeSet<_> = (0..64u64)
            .map(|s| {
                let (r0, r1, c0, c1) = maskgen::unknown_region(maskgen::MIXED, s, 28, 28);
                (r1 - r0 == 14 || c1 - c0 == 14) && (r1 - r0 == 28 || c1 - c0 == 28)
            })
            .collect();
        assert_eq!(kinds.len(), 2, "mixed draws both rectangles and halves");
    }

    #[test]
    fn fill_writes_mask_and_masked_on_every_channel() {
        let picture: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32 - 10.0).collect();
        let (mut mask, mut masked) = (vec![9.0; 32], vec![9.0; 32]);
        maskgen::fill(maskgen::HALF, 3, 2, 4, 4, &picture, &mut mask, &mut masked);
        assert_eq!(mask[..16], mask[16..]);
        assert_eq!(mask.iter().filter(|&&m| m == 0.0).count(), 16);
        for i in 0..32 {
            assert_eq!(masked[i], picture[i] * mask[i]);
        }
    }
}
