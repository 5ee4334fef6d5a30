//! The evaluation classifier: a small CNN trained once on the real training images. Its
//! weights are the fixed yardstick of the image metrics (label accuracy, and the
//! penultimate-layer features behind the Fréchet distance and precision/recall), so
//! numbers are comparable across runs as long as the same classifier file is used.
//!
//! A classifier folder holds `classifier.bpk` (Burn weights) and `classifier.json`
//! ([`ClassifierCard`]: what it was trained on and its held-out accuracy).

use std::path::Path;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::data::images::ImageSet;
use crate::error::{Result, TrainError};
use crate::files::{save_module_atomic, write_atomic};
use crate::tensors::{read_scalar, read_vec};

/// Width of the feature layer (the metric space of FD and precision/recall).
pub const FEATURES: usize = 64;
const WEIGHTS: &str = "classifier.bpk";
const CARD: &str = "classifier.json";
/// Images per training batch.
pub const BATCH: usize = 128;
/// Rows per forward pass when classifying many images.
const CHUNK: usize = 500;

/// conv 3x3/2 (16) -> conv 3x3/2 (32) -> dense 64 (features) -> dense classes.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    features: Linear,
    output: Linear,
    #[module(skip)]
    shape: [usize; 3],
}

/// What a classifier is and how good it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierCard {
    /// `[c, h, w]` it reads
    pub shape: [usize; 3],
    /// class names, index = label
    pub class_names: Vec<String>,
    /// dataset it was trained on (file or folder)
    pub dataset: String,
    /// epochs over the training split
    pub epochs: usize,
    /// seed of weights and batch order
    pub seed: u64,
    /// accuracy on the held-out split
    pub test_accuracy: f64,
    /// held-out images
    pub test_images: usize,
}

impl Classifier {
    /// A fresh classifier for `shape` and `classes`.
    pub fn new(shape: [usize; 3], classes: usize, device: &Device) -> Self {
        let [c, h, w] = shape;
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let (h2, w2) = (h.div_ceil(2).div_ceil(2), w.div_ceil(2).div_ceil(2));
        Self {
            conv1: conv(c, 16),
            conv2: conv(16, 32),
            features: LinearConfig::new(32 * h2 * w2, FEATURES).init(device),
            output: LinearConfig::new(FEATURES, classes).init(device),
            shape,
        }
    }

    /// Penultimate-layer features `[batch, FEATURES]` of flattened images in [-1, 1].
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let [c, h, w] = self.shape;
        let y = relu(self.conv1.forward(x.reshape([b, c, h, w])));
        let y = relu(self.conv2.forward(y));
        relu(self.features.forward(y.flatten(1, 3)))
    }

    /// Class logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }

    /// `[c, h, w]` it reads.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

/// A trained classifier, off autodiff, with its card.
pub struct TrainedClassifier {
    /// the network
    pub model: Classifier,
    /// its card
    pub card: ClassifierCard,
}

/// Features and predicted classes of many images.
pub struct Classified {
    /// row-major `[n, FEATURES]`
    pub features: Vec<f32>,
    /// argmax class per image
    pub predictions: Vec<i64>,
}

impl TrainedClassifier {
    /// Reads only `dir/classifier.json` (to decide whether it fits a dataset).
    pub fn load_card(dir: &Path) -> Result<ClassifierCard> {
        let card_path = dir.join(CARD);
        let text = std::fs::read_to_string(&card_path).map_err(TrainError::io(&card_path))?;
        serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
            path: card_path.clone(),
            message: format!("not a classifier card: {e}"),
        })
    }

    /// Loads `dir/classifier.json` and `dir/classifier.bpk`.
    pub fn load(dir: &Path) -> Result<Self> {
        let card = Self::load_card(dir)?;
        let weights = dir.join(WEIGHTS);
        if !weights.is_file() {
            return Err(TrainError::Checkpoint {
                path: weights,
                message: "missing".into(),
            });
        }
        let model = Classifier::new(card.shape, card.class_names.len(), &Device::flex())
            .try_load_file(&weights)
            .map_err(|e| TrainError::Checkpoint {
                path: weights.clone(),
                message: format!("{e}"),
            })?;
        Ok(Self { model, card })
    }

    /// Features and predictions of flattened images in [-1, 1] (row-major `[n, dim]`).
    pub fn classify(&self, x: &[f32]) -> Result<Classified> {
        let dim: usize = self.card.shape.iter().product();
        let device = Device::flex();
        let mut out = Classified {
            features: Vec::with_capacity(x.len() / dim.max(1) * FEATURES),
            predictions: Vec::with_capacity(x.len() / dim.max(1)),
        };
        for chunk in x.chunks(CHUNK * dim) {
            let n = chunk.len() / dim;
            let t = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, dim]), &device);
            let f = self.model.features(t);
            let logits = self.model.output.forward(f.clone());
            out.features.extend(read_vec(f)?);
            let l = read_vec(logits)?;
            let classes = self.card.class_names.len();
            out.predictions.extend(l.chunks(classes).map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 { (i, v) } else { best }
                    })
                    .0 as i64
            }));
        }
        Ok(out)
    }
}

/// Fraction of `predictions` equal to `labels`.
pub fn accuracy(predictions: &[i64], labels: &[i64]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(a, b)| a == b)
        .count();
    right as f64 / labels.len() as f64
}

/// Trains a classifier on `set`'s training split (Adam 1e-3, batch 128, shuffled each
/// epoch), reports held-out accuracy, and writes it to `out` (created; files written
/// atomically).
pub fn train_classifier(
    set: &ImageSet,
    epochs: usize,
    seed: u64,
    out: &Path,
    mut progress: impl FnMut(usize, f64),
) -> Result<TrainedClassifier> {
    // Checked before training: an accuracy over no images would read as 0.0000.
    for (split, images) in [("training", &set.train), ("held-out (test)", &set.test)] {
        if images.is_empty() {
            return Err(TrainError::data(
                &set.source,
                format!(
                    "no {split} images: the classifier is trained on the training split and                      its accuracy measured on the held-out one"
                ),
            ));
        }
    }
    let device = Device::flex().autodiff();
    device.seed(seed);
    let classes = set.class_names.len();
    let mut model = Classifier::new(set.shape, classes, &device);
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = Pcg64::seed_from_u64(seed);
    let dim = set.dim();
    let batch = BATCH;
    let mut order: Vec<usize> = (0..set.train.len()).collect();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        let mut batches = 0;
        for idx in order.chunks(batch) {
            let mut x = Vec::with_capacity(idx.len() * dim);
            for &i in idx {
                set.train.push_unit(i, dim, &mut x);
            }
            let labels: Vec<i64> = idx.iter().map(|&i| set.train.labels[i]).collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [idx.len(), dim]), &device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), &device);
            let loss = loss_fn.forward(model.forward(x), y);
            total += f64::from(read_scalar(loss.clone())?);
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-3, model, grads);
        }
        progress(epoch + 1, total / f64::from(batches.max(1)));
    }
    let model = model.valid();
    let card = ClassifierCard {
        shape: set.shape,
        class_names: set.class_names.clone(),
        dataset: set.source.display().to_string(),
        epochs,
        seed,
        test_accuracy: 0.0,
        test_images: set.test.len(),
    };
    let mut trained = TrainedClassifier { model, card };
    let (x, labels) = set.test.head_unit(set.test.len(), dim);
    let classified = trained.classify(&x)?;
    trained.card.test_accuracy = accuracy(&classified.predictions, &labels);
    std::fs::create_dir_all(out).map_err(TrainError::io(out))?;
    // Burn writes the weights file itself: write it in a temporary folder, then rename
    save_module_atomic(trained.model.clone(), out, ".tmp-classifier", WEIGHTS)?;
    let json = serde_json::to_vec_pretty(&trained.card).map_err(|e| TrainError::Checkpoint {
        path: out.join(CARD),
        message: e.to_string(),
    })?;
    write_atomic(&out.join(CARD), &json)?;
    Ok(trained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::images::Images;

    /// Two classes that differ in brightness: any classifier must separate them.
    fn toy_set() -> ImageSet {
        let mut rng = Pcg64::seed_from_u64(5);
        let mut make = |n: usize| {
            let mut img = Images::default();
            for i in 0..n {
                let class = (i % 2) as i64;
                for _ in 0..64 {
                    let base: u8 = if class == 0 { 40 } else { 200 };
                    img.pixels
                        .push(base.saturating_add(rand::Rng::random_range(&mut rng, 0..40)));
                }
                img.labels.push(class);
            }
            img
        };
        let (train, test) = (make(256), make(64));
        ImageSet::new(
            std::path::PathBuf::from("toy"),
            [1, 8, 8],
            train,
            test,
            vec!["dark".into(), "bright".into()],
        )
        .unwrap()
    }

    #[test]
    fn no_held_out_images_is_an_error_before_training() {
        let mut set = toy_set();
        set.test = Images::default();
        let dir = tempfile::tempdir().unwrap();
        let err = train_classifier(&set, 3, 1, &dir.path().join("c"), |_, _| {})
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("toy") && err.contains("no held-out (test) images"),
            "{err}"
        );
        assert!(!dir.path().join("c").exists(), "nothing is written");
    }

    #[test]
    fn trains_saves_and_loads_the_same_classifier() {
        let set = toy_set();
        let dir = tempfile::tempdir().unwrap();
        let trained = train_classifier(&set, 3, 1, dir.path(), |_, _| {}).unwrap();
        assert!(trained.card.test_accuracy > 0.95, "{:?}", trained.card);
        let loaded = TrainedClassifier::load(dir.path()).unwrap();
        assert_eq!(loaded.card, trained.card);
        let (x, _) = set.test.head_unit(10, 64);
        let a = trained.classify(&x).unwrap();
        let b = loaded.classify(&x).unwrap();
        assert_eq!(a.predictions, b.predictions);
        assert_eq!(a.features, b.features);
        assert_eq!(a.features.len(), 10 * FEATURES);
        let err = TrainedClassifier::load(&dir.path().join("none"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("classifier.json"), "{err}");
    }

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]), 0.75);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }
}
