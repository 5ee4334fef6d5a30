//! Image datasets (Fashion-MNIST and other IDX files, a user's picture folder), the
//! inpainting masks, and sample grids as PNG.
//!
//! Pixels are kept as bytes; the networks see them as `p / 127.5 - 1`, in [-1, 1], the
//! ONNX contract's value range, so image datasets need no other normalisation.

pub mod folder;
pub mod grid;
pub mod idx;
pub mod masks;

use std::path::{Path, PathBuf};

use rand::Rng;
use rand_pcg::Pcg64;

use crate::config::{DataConfig, DatasetKind};
use crate::error::{Result, TrainError};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's class names (Xiao et al. 2017), index = label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Byte pixel -> network units.
pub fn to_unit(p: u8) -> f32 {
    f32::from(p) / 127.5 - 1.0
}

/// Network units -> byte pixel (clamped, rounded).
pub fn to_byte(v: f32) -> u8 {
    if v.is_nan() {
        return 0;
    }
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Labelled images as bytes, `[n, c, h, w]`.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// pixels
    pub pixels: Vec<u8>,
    /// one label per image
    pub labels: Vec<i64>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` in network units, appended to `out`.
    pub fn push_unit(&self, i: usize, dim: usize, out: &mut Vec<f32>) {
        out.extend(
            self.pixels[i * dim..(i + 1) * dim]
                .iter()
                .map(|&p| to_unit(p)),
        );
    }

    /// The first `n` images (all when fewer) in network units, row-major, and labels.
    pub fn head_unit(&self, n: usize, dim: usize) -> (Vec<f32>, Vec<i64>) {
        let n = n.min(self.len());
        let mut x = Vec::with_capacity(n * dim);
        for i in 0..n {
            self.push_unit(i, dim, &mut x);
        }
        (x, self.labels[..n].to_vec())
    }
}

/// An image dataset: a training split, a held-out split (the floor of every metric)
/// and the class names.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// the file or folder it came from
    pub source: PathBuf,
    /// `[channels, height, width]`
    pub shape: [usize; 3],
    /// training images
    pub train: Images,
    /// held-out images
    pub test: Images,
    /// class names, index = label
    pub class_names: Vec<String>,
    /// training-image indices of each class (for drawing a real image of a given class)
    by_class: Vec<Vec<usize>>,
}

impl ImageSet {
    /// Builds a set; checks labels against the class count.
    pub fn new(
        source: PathBuf,
        shape: [usize; 3],
        train: Images,
        test: Images,
        class_names: Vec<String>,
    ) -> Result<Self> {
        let classes = class_names.len();
        for (split, images) in [("training", &train), ("held-out", &test)] {
            if let Some((i, &l)) = images
                .labels
                .iter()
                .enumerate()
                .find(|&(_, &l)| l < 0 || l as usize >= classes)
            {
                return Err(TrainError::Data {
                    path: source.clone(),
                    message: format!(
                        "{split} image {i} has label {l}, outside the {classes} classes"
                    ),
                });
            }
        }
        if train.is_empty() {
            return Err(TrainError::Data {
                path: source,
                message: "no training images".into(),
            });
        }
        let mut by_class = vec![Vec::new(); classes];
        for (i, &l) in train.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        Ok(Self {
            source,
            shape,
            train,
            test,
            class_names,
            by_class,
        })
    }

    /// Values per image.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// Loads the dataset a config names.
    pub fn from_config(config: &DataConfig) -> Result<Self> {
        let mut set = match config.kind {
            DatasetKind::FashionMnist | DatasetKind::Idx => {
                let dir = config
                    .dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(FASHION_MNIST_DIR));
                let names = (config.kind == DatasetKind::FashionMnist).then_some(
                    FASHION_MNIST_CLASSES
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                );
                read_idx_dir(&dir, names)?
            }
            DatasetKind::ImageFolder => {
                let dir = config.dir.as_deref().ok_or_else(|| {
                    TrainError::Config("data.dir is required for image_folder".into())
                })?;
                let f = folder::read_folder(dir, config.channels, config.image_size)?;
                let [h, w] = config.image_size;
                let dim = config.channels * h * w;
                // every 10th picture of the sorted list is held out
                let mut train = Images::default();
                let mut test = Images::default();
                for (i, &l) in f.labels.iter().enumerate() {
                    let split = if i % 10 == 9 { &mut test } else { &mut train };
                    split
                        .pixels
                        .extend_from_slice(&f.pixels[i * dim..(i + 1) * dim]);
                    split.labels.push(l);
                }
                Self::new(
                    dir.to_path_buf(),
                    [config.channels, h, w],
                    train,
                    test,
                    f.class_names,
                )?
            }
            other => {
                return Err(TrainError::Config(format!(
                    "{other:?} is not an image dataset"
                )));
            }
        };
        if let Some(limit) = config.limit {
            set.truncate(limit);
        }
        Ok(set)
    }

    /// The held-out split, or the training split when nothing is held out (a tiny
    /// picture folder): the images every metric and grid compares against.
    pub fn held_out(&self) -> &Images {
        if self.test.is_empty() {
            &self.train
        } else {
            &self.test
        }
    }

    /// Keeps only the first `n` training and held-out images (quick runs and tests).
    pub fn truncate(&mut self, n: usize) {
        let dim = self.dim();
        for images in [&mut self.train, &mut self.test] {
            let n = n.min(images.len());
            images.labels.truncate(n);
            images.pixels.truncate(n * dim);
        }
        for ix in &mut self.by_class {
            ix.retain(|&i| i < n);
        }
    }

    /// `n` random training images (network units) with their labels.
    pub fn sample(&self, rng: &mut Pcg64, n: usize) -> (Vec<f32>, Vec<i64>) {
        let dim = self.dim();
        let mut x = Vec::with_capacity(n * dim);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let i = rng.random_range(0..self.train.len());
            self.train.push_unit(i, dim, &mut x);
            labels.push(self.train.labels[i]);
        }
        (x, labels)
    }

    /// One random training image of each given class (network units). A class with no
    /// training image gets a blank (all -1) image.
    pub fn sample_given(&self, rng: &mut Pcg64, labels: &[i64]) -> Vec<f32> {
        let dim = self.dim();
        let mut x = Vec::with_capacity(labels.len() * dim);
        for &l in labels {
            match self.by_class.get(l as usize).filter(|ix| !ix.is_empty()) {
                Some(ix) => self
                    .train
                    .push_unit(ix[rng.random_range(0..ix.len())], dim, &mut x),
                None => x.extend(std::iter::repeat_n(-1.0, dim)),
            }
        }
        x
    }

    /// Labels drawn from the training label frequencies.
    pub fn sample_labels(&self, rng: &mut Pcg64, n: usize) -> Vec<i64> {
        (0..n)
            .map(|_| self.train.labels[rng.random_range(0..self.train.len())])
            .collect()
    }
}

/// Reads `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the `t10k-`
/// pair from `dir`. Class names default to the label values.
pub fn read_idx_dir(dir: &Path, class_names: Option<Vec<String>>) -> Result<ImageSet> {
    let find = |stem: &str| -> Result<PathBuf> {
        for name in [format!("{stem}.gz"), stem.to_string()] {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(TrainError::Data {
            path: dir.join(stem),
            message: format!(
                "missing: neither {stem} nor {stem}.gz is in {} (for Fashion-MNIST run \
                 scripts/setup.sh, which installs Debian's dataset-fashion-mnist)",
                dir.display()
            ),
        })
    };
    let train = idx::read_images_and_labels(
        &find("train-images-idx3-ubyte")?,
        &find("train-labels-idx1-ubyte")?,
    )?;
    let test = idx::read_images_and_labels(
        &find("t10k-images-idx3-ubyte")?,
        &find("t10k-labels-idx1-ubyte")?,
    )?;
    let (h, w) = (train.rows, train.cols);
    if (test.rows, test.cols) != (h, w) {
        return Err(TrainError::Data {
            path: dir.to_path_buf(),
            message: format!(
                "training images are {h}x{w}, held-out images {}x{}",
                test.rows, test.cols
            ),
        });
    }
    let max_label = train
        .labels
        .iter()
        .chain(&test.labels)
        .copied()
        .max()
        .unwrap_or(0);
    let names = class_names.unwrap_or_else(|| (0..=max_label).map(|l| l.to_string()).collect());
    ImageSet::new(
        dir.to_path_buf(),
        [1, h, w],
        Images {
            pixels: train.pixels,
            labels: train.labels.into_iter().map(i64::from).collect(),
        },
        Images {
            pixels: test.pixels,
            labels: test.labels.into_iter().map(i64::from).collect(),
        },
        names,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pixel_mapping_round_trips() {
        for p in [0u8, 1, 127, 128, 254, 255] {
            assert_eq!(to_byte(to_unit(p)), p);
        }
        assert_eq!(to_unit(0), -1.0);
        assert_eq!(to_unit(255), 1.0);
        assert_eq!(to_byte(f32::NAN), 0);
        assert_eq!(to_byte(3.0), 255);
    }

    #[test]
    fn idx_directory_reads_both_splits_and_names_a_missing_file() {
        use idx::tests::{gzip, idx_bytes};
        let dir = tempfile::tempdir().unwrap();
        let w = |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        w(
            "train-images-idx3-ubyte.gz",
            gzip(&idx_bytes(&[2, 2, 2], &[0, 255, 0, 255, 9, 9, 9, 9])),
        );
        w("train-labels-idx1-ubyte", idx_bytes(&[2], &[1, 0]));
        w(
            "t10k-images-idx3-ubyte",
            idx_bytes(&[1, 2, 2], &[1, 2, 3, 4]),
        );
        let err = read_idx_dir(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("t10k-labels-idx1-ubyte") && err.contains("setup.sh"),
            "{err}"
        );
        w("t10k-labels-idx1-ubyte", idx_bytes(&[1], &[1]));
        let set = read_idx_dir(dir.path(), None).unwrap();
        assert_eq!(set.shape, [1, 2, 2]);
        assert_eq!(set.train.len(), 2);
        assert_eq!(set.test.len(), 1);
        assert_eq!(set.class_names, vec!["0", "1"]);
        let mut rng = Pcg64::seed_from_u64(0);
        assert_eq!(set.sample_given(&mut rng, &[1]), vec![-1.0, 1.0, -1.0, 1.0]);
        // a label beyond the named classes is an error naming the index
        let err = read_idx_dir(dir.path(), Some(vec!["only".into()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("image 0 has label 1"), "{err}");
    }
}
