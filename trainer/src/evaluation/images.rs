//! Evaluation of image GANs against the fixed evaluation classifier (deterministic: same
//! checkpoint, classifier and seed give the same JSON).
//!
//! Generated samples are compared with held-out real images in the classifier's feature
//! space (Fréchet distance, precision/recall/density/coverage with k = 5), and the same
//! numbers for real training images against held-out ones are reported as the floor a
//! perfect generator would reach. Conditional models also get the label accuracy of their
//! samples (the classifier's prediction equals the requested class), beside the
//! classifier's accuracy on held-out real images. Inpainting models get L1 and PSNR on the
//! unknown region against the truth, beside a mean-fill baseline (the per-pixel mean of
//! the training images), and the label accuracy of completed images.

use std::fmt;

use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::classifier::{FEATURES, TrainedClassifier, accuracy};
use super::image_metrics::{Prdc, frechet_distance, prdc, unknown_region_error};
use crate::config::MaskKind;
use crate::data::Dataset;
use crate::data::images::masks::random_masks;
use crate::data::images::{self, ImageSet};
use crate::error::{Result, TrainError};
use crate::training::Gan;

/// k of the nearest-neighbour balls.
pub const K: usize = 5;

/// Distances of one sample set from held-out real images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureReport {
    /// Fréchet distance in classifier feature space
    pub fd: f64,
    /// precision / recall / density / coverage
    pub prdc: Prdc,
}

/// Inpainting quality on the unknown region.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InpaintReport {
    /// L1 of the model's completions ([0, 1] pixel units)
    pub l1: f64,
    /// L1 of the mean-fill baseline
    pub l1_mean_fill: f64,
    /// 1 - l1 / l1_mean_fill
    pub l1_improvement: f64,
    /// PSNR (dB) of the completions
    pub psnr: f64,
    /// PSNR of the mean fill
    pub psnr_mean_fill: f64,
    /// label accuracy of completed images (true labels)
    pub label_accuracy: f64,
    /// label accuracy of the mean-filled images
    pub label_accuracy_mean_fill: f64,
}

/// Everything the image evaluation reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEvalReport {
    /// training step of the evaluated weights
    pub step: usize,
    /// generated (or completed) samples compared
    pub samples: usize,
    /// held-out real images they are compared with (all of them)
    #[serde(default)]
    pub held_out: usize,
    /// evaluation seed
    pub seed: u64,
    /// the classifier's held-out accuracy (the floor for label accuracy)
    pub classifier_accuracy: f64,
    /// label accuracy of conditional samples
    pub label_accuracy: Option<f64>,
    /// generated vs held-out real
    pub generated: FeatureReport,
    /// real training images vs held-out real (the floor)
    pub real: FeatureReport,
    /// inpainting models
    pub inpainting: Option<InpaintReport>,
}

impl fmt::Display for ImageEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "image evaluation at step {} ({} samples, seed {}), classifier features ({FEATURES}-d):",
            self.step, self.samples, self.seed
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, r: &FeatureReport| {
            writeln!(
                f,
                "  {name:<22} FD {:>8.3}  precision {:.3}  recall {:.3}  density {:.3}  coverage {:.3}",
                r.fd, r.prdc.precision, r.prdc.recall, r.prdc.density, r.prdc.coverage
            )
        };
        row(f, "generated vs held-out", &self.generated)?;
        row(f, "real vs held-out (floor)", &self.real)?;
        if let Some(warning) = self.small_held_out_warning() {
            writeln!(f, "  note: {warning}")?;
        }
        if let Some(acc) = self.label_accuracy {
            writeln!(
                f,
                "  label accuracy {acc:.4} (held-out real images: {:.4})",
                self.classifier_accuracy
            )?;
        }
        if let Some(p) = &self.inpainting {
            writeln!(
                f,
                "  unknown region: L1 {:.4} vs mean fill {:.4} ({:.1} % better), PSNR {:.2} dB vs {:.2} dB",
                p.l1,
                p.l1_mean_fill,
                100.0 * p.l1_improvement,
                p.psnr,
                p.psnr_mean_fill
            )?;
            writeln!(
                f,
                "  label accuracy of completed images {:.4} (mean fill {:.4}, real {:.4})",
                p.label_accuracy, p.label_accuracy_mean_fill, self.classifier_accuracy
            )?;
        }
        Ok(())
    }
}

/// Fewest held-out images for a stable Fréchet distance: twice the feature dimension
/// (below it the held-out covariance is poorly estimated, and near `FEATURES` singular).
pub const STABLE_FD_IMAGES: usize = 2 * FEATURES;

impl ImageEvalReport {
    /// Why the FD of this report moves with noise, when the held-out set is small.
    pub fn small_held_out_warning(&self) -> Option<String> {
        (self.held_out > 0 && self.held_out < STABLE_FD_IMAGES).then(|| {
            format!(
                "only {} held-out images (fewer than {STABLE_FD_IMAGES}, twice the {FEATURES} \
                 features): FD and precision/recall are unstable; add pictures (every 10th \
                 is held out) before comparing runs by FD",
                self.held_out
            )
        })
    }
}

/// Whether `classifier` reads `set`'s images: the same `[c, h, w]` and class names.
pub fn classifier_fits(classifier: &super::classifier::ClassifierCard, set: &ImageSet) -> bool {
    classifier.shape == set.shape && classifier.class_names == set.class_names
}

/// Rows `0..n` of `x` (`rows` rows of `dim` values), cycling when `n > rows`.
fn cycled<T: Copy>(x: &[T], dim: usize, n: usize) -> Vec<T> {
    let rows = x.len() / dim.max(1);
    (0..n)
        .flat_map(|i| &x[(i % rows.max(1)) * dim..(i % rows.max(1) + 1) * dim])
        .copied()
        .collect()
}

fn image_set(gan: &Gan) -> Result<&ImageSet> {
    match &gan.dataset {
        Dataset::Images(set) => Ok(set),
        _ => Err(TrainError::Config(
            "the image evaluation needs an image dataset".into(),
        )),
    }
}

/// The default number of generated samples for an image run: as many as held-out images,
/// at least 1,000 (a small picture folder still gets a usable sample) and at most 10,000.
pub fn default_samples(set: &ImageSet) -> usize {
    set.held_out().len().clamp(1_000, 10_000)
}

/// Evaluates an image GAN on `n` generated samples against all held-out images.
pub fn evaluate_images(
    gan: &Gan,
    classifier: &TrainedClassifier,
    n: usize,
    seed: u64,
) -> Result<ImageEvalReport> {
    let set = image_set(gan)?;
    if !classifier_fits(&classifier.card, set) {
        return Err(TrainError::Config(format!(
            "the classifier reads {:?} images of the classes [{}]; this run's data are {:?} \
             with the classes [{}]: train one for it with `edgegan-train classifier --like RUN`",
            classifier.card.shape,
            classifier.card.class_names.join(", "),
            set.shape,
            set.class_names.join(", ")
        )));
    }
    let dim = set.dim();
    let held = set.held_out();
    let n = n.max(1);
    let (all_held_x, all_held_labels) = held.head_unit(held.len(), dim);
    let held_c = classifier.classify(&all_held_x)?;
    let classifier_accuracy = accuracy(&held_c.predictions, &all_held_labels);
    // the conditions (and inpainting's images) of the n samples: the held-out images in
    // order, cycled when more samples are asked for than there are held-out images
    let held_x = cycled(&all_held_x, dim, n);
    let held_labels = cycled(&all_held_labels, 1, n);

    // the floor: n training images (the last ones, disjoint from nothing the generator
    // sees specially) against the held-out images
    let mut rng = Pcg64::seed_from_u64(seed);
    let (real_x, _) = set.sample(&mut rng, n);
    let real_c = classifier.classify(&real_x)?;
    let real = FeatureReport {
        fd: frechet_distance(&real_c.features, &held_c.features, FEATURES),
        prdc: prdc(&held_c.features, &real_c.features, FEATURES, K),
    };

    let mut label_accuracy = None;
    let mut inpainting = None;
    let generated_x = if gan.inpainting() {
        let kind = gan.config.data.masks.unwrap_or(MaskKind::Mixed);
        let masks = random_masks(kind, n, set.shape, &mut rng);
        let completed = gan.complete(&mut rng, &held_x, &masks)?;
        let (l1, psnr) = unknown_region_error(&completed, &held_x, &masks);
        let mean = mean_image(set);
        let mean_filled: Vec<f32> = held_x
            .iter()
            .zip(&masks)
            .enumerate()
            .map(|(i, (&x, &m))| if m == 0.0 { mean[i % dim] } else { x })
            .collect();
        let (l1_mean, psnr_mean) = unknown_region_error(&mean_filled, &held_x, &masks);
        let mean_c = classifier.classify(&mean_filled)?;
        let completed_c = classifier.classify(&completed)?;
        inpainting = Some(InpaintReport {
            l1,
            l1_mean_fill: l1_mean,
            l1_improvement: if l1_mean > 0.0 {
                1.0 - l1 / l1_mean
            } else {
                0.0
            },
            psnr,
            psnr_mean_fill: psnr_mean,
            label_accuracy: accuracy(&completed_c.predictions, &held_labels),
            label_accuracy_mean_fill: accuracy(&mean_c.predictions, &held_labels),
        });
        completed
    } else {
        // conditional: the held-out label distribution; otherwise labels are ignored
        let x = gan.generate(&mut rng, &held_labels)?;
        if gan.conditional() {
            let c = classifier.classify(&x)?;
            label_accuracy = Some(accuracy(&c.predictions, &held_labels));
        }
        x
    };
    let gen_c = classifier.classify(&generated_x)?;
    let generated = FeatureReport {
        fd: frechet_distance(&gen_c.features, &held_c.features, FEATURES),
        prdc: prdc(&held_c.features, &gen_c.features, FEATURES, K),
    };
    Ok(ImageEvalReport {
        step: gan.step,
        samples: n,
        held_out: held.len(),
        seed,
        classifier_accuracy,
        label_accuracy,
        generated,
        real,
        inpainting,
    })
}

/// Scores images made elsewhere (e.g. by the device runtime): `x` row-major in [-1, 1],
/// `labels` the requested classes when the samples are label-conditioned. Same numbers
/// as [`evaluate_images`] (generated vs held-out, the real floor, label accuracy).
pub fn score_images(
    set: &ImageSet,
    classifier: &TrainedClassifier,
    x: &[f32],
    labels: Option<&[i64]>,
    seed: u64,
) -> Result<ImageEvalReport> {
    let dim = set.dim();
    let n = x.len() / dim.max(1);
    if n == 0 || x.len() != n * dim {
        return Err(TrainError::Config(format!(
            "{} values do not form images of {dim} values",
            x.len()
        )));
    }
    // A k-NN ball needs k other points: with fewer every ball holds the whole set, and
    // precision and coverage read 1.000 whatever the images are.
    if n <= K {
        return Err(TrainError::Config(format!(
            "{n} samples: precision, recall, density and coverage (k = {K} nearest              neighbours) need at least {} samples",
            K + 1
        )));
    }
    let held = set.held_out();
    if held.len() <= K {
        return Err(TrainError::data(
            &set.source,
            format!(
                "{} held-out images: the metrics need at least {}",
                held.len(),
                K + 1
            ),
        ));
    }
    let (held_x, held_labels) = held.head_unit(n.min(held.len()), dim);
    let held_c = classifier.classify(&held_x)?;
    let mut rng = Pcg64::seed_from_u64(seed);
    let (real_x, _) = set.sample(&mut rng, held_labels.len());
    let real_c = classifier.classify(&real_x)?;
    let gen_c = classifier.classify(x)?;
    Ok(ImageEvalReport {
        step: 0,
        samples: n,
        held_out: held_labels.len(),
        seed,
        classifier_accuracy: accuracy(&held_c.predictions, &held_labels),
        label_accuracy: labels.map(|l| accuracy(&gen_c.predictions, l)),
        generated: FeatureReport {
            fd: frechet_distance(&gen_c.features, &held_c.features, FEATURES),
            prdc: prdc(&held_c.features, &gen_c.features, FEATURES, K),
        },
        real: FeatureReport {
            fd: frechet_distance(&real_c.features, &held_c.features, FEATURES),
            prdc: prdc(&held_c.features, &real_c.features, FEATURES, K),
        },
        inpainting: None,
    })
}

/// Per-pixel mean of the training images, in [-1, 1].
pub fn mean_image(set: &ImageSet) -> Vec<f32> {
    let dim = set.dim();
    let mut sum = vec![0.0f64; dim];
    for img in set.train.pixels.chunks(dim) {
        for (s, &p) in sum.iter_mut().zip(img) {
            *s += f64::from(images::to_unit(p));
        }
    }
    let n = set.train.len().max(1) as f64;
    sum.into_iter().map(|s| (s / n) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring_fewer_than_k_plus_1_images_is_an_error() {
        let set = crate::test_support::tiny_images();
        let classifier_dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/classifier");
        // Any classifier: the count is checked before anything is classified.
        let classifier = TrainedClassifier::load(&classifier_dir).unwrap();
        let noise: Vec<f32> = (0..3 * set.dim()).map(|i| (i % 7) as f32 / 7.0).collect();
        let err = score_images(&set, &classifier, &noise, None, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("3 samples") && err.contains("need at least 6 samples"),
            "{err}"
        );
    }
}
