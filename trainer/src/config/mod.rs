//! The run configuration: what the user writes in TOML (or gets from the built-in
//! default) and what the run folder records as `config.toml` / `config.json`.
//!
//! Every field has a default so a config file only names what it changes; unknown keys
//! are an error (a typo must not silently fall back to a default).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Everything that defines a training run. Two runs with equal configs produce
/// bit-identical weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seed for weight initialisation, data sampling and noise.
    pub seed: u64,
    /// Number of generator steps.
    pub steps: usize,
    /// Samples per batch (real and generated batches have this size).
    pub batch_size: usize,
    /// Log D loss, G loss, D(real), D(fake) every this many steps (`metrics.jsonl`).
    pub log_every: usize,
    /// Write a checkpoint (and refresh the plots) every this many steps; 0 = only at the end.
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk (the newest ones).
    pub keep_checkpoints: usize,
    /// Image datasets: write a sample grid (`samples/step-NNNNNNN.png`) every this many
    /// steps; 0 = only with checkpoints.
    pub grid_every: usize,
    /// Where the training steps run: `cpu` (Burn's flex backend), `gpu` (Burn's wgpu
    /// backend: Vulkan, Metal or DX12; a software device too) or `auto` (a hardware GPU
    /// when there is one, else the CPU). Sampling, evaluation and export run on the CPU.
    /// Checkpoints load on either; the same device resumes bit-identically.
    pub device: DeviceChoice,
    /// Training data.
    pub data: DataConfig,
    /// Generator network.
    pub generator: GeneratorConfig,
    /// Discriminator network.
    pub discriminator: DiscriminatorConfig,
    /// The adversarial algorithm and its options.
    pub algorithm: AlgorithmConfig,
    /// Optimiser of G.
    pub g_optimizer: AdamSettings,
    /// Optimiser of D.
    pub d_optimizer: AdamSettings,
}

impl Default for TrainConfig {
    /// The built-in default: the seed's algorithm on the conditional ring of 8 Gaussians.
    fn default() -> Self {
        Self {
            seed: 42,
            steps: 15000,
            batch_size: 256,
            log_every: 100,
            checkpoint_every: 2000,
            keep_checkpoints: 2,
            grid_every: 500,
            device: DeviceChoice::Cpu,
            data: DataConfig::default(),
            generator: GeneratorConfig::default(),
            discriminator: DiscriminatorConfig::default(),
            algorithm: AlgorithmConfig::default(),
            g_optimizer: AdamSettings::default(),
            d_optimizer: AdamSettings::default(),
        }
    }
}

/// Which dataset, and whether the model is conditioned on its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `gauss1d`, `ring8`, `grid25` or `csv`.
    pub kind: DatasetKind,
    /// Condition G and D on the class (mixture component / mode index, or the CSV label).
    pub conditional: bool,
    /// gauss1d: component means.
    pub means: Vec<f64>,
    /// gauss1d: component standard deviations (one per mean).
    pub stds: Vec<f64>,
    /// csv: path of the file (relative paths are relative to the working directory).
    pub path: Option<PathBuf>,
    /// csv: name of the integer label column, if any.
    pub label_column: Option<String>,
    /// Map the data into about [-0.9, 0.9] per column before the networks see it (needed
    /// for a tanh generator). With `false` the networks work in data units (use a linear
    /// generator output then). Images are always mapped to [-1, 1].
    pub normalize: bool,
    /// fashion_mnist / idx: the folder with the IDX files (default: Debian's
    /// /usr/share/datasets/fashion-mnist); image_folder: the root with one sub-folder per
    /// class.
    pub dir: Option<PathBuf>,
    /// image_folder: pictures are resized to `[height, width]`.
    pub image_size: [usize; 2],
    /// image_folder: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Inpainting: condition G on a mask and the masked image, drawn from this kind of
    /// masks (`rect`, `half` or `mixed`). Excludes `conditional` (a class label).
    pub masks: Option<MaskKind>,
    /// Use only the first `limit` images of each split (quick runs, tests).
    pub limit: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            kind: DatasetKind::Ring8,
            conditional: true,
            means: vec![-2.0, 2.0],
            stds: vec![0.5, 0.5],
            path: None,
            label_column: None,
            normalize: true,
            dir: None,
            image_size: [28, 28],
            channels: 1,
            masks: None,
            limit: None,
        }
    }
}

impl DataConfig {
    /// Makes `path` (csv) and `dir` (images) absolute, relative to the working directory,
    /// so a run's `config.toml` still finds its data when `eval`, `sample` or `--resume`
    /// run from another folder.
    pub fn absolutize(&mut self) -> Result<(), TrainError> {
        for p in [&mut self.path, &mut self.dir].into_iter().flatten() {
            if p.is_relative() {
                *p = std::path::absolute(&*p).map_err(TrainError::io(p))?;
            }
        }
        Ok(())
    }
}

/// Where training runs (`device` in the config, `--device` on the command line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// the CPU (Burn's flex backend)
    #[default]
    Cpu,
    /// a GPU through wgpu (feature `gpu`), software ones included
    Gpu,
    /// a hardware GPU when wgpu finds one, else the CPU
    Auto,
}

impl std::str::FromStr for DeviceChoice {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            "auto" => Ok(Self::Auto),
            other => Err(TrainError::Config(format!(
                "unknown device `{other}` (expected cpu, gpu or auto)"
            ))),
        }
    }
}

/// The built-in datasets and the CSV reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// 1-D Gaussian mixture (the seed's figure 5 case).
    Gauss1d,
    /// 8 Gaussians on the unit circle, sigma 0.01.
    Ring8,
    /// 5x5 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05.
    Grid25,
    /// A user's CSV of numeric columns.
    Csv,
    /// Fashion-MNIST (IDX files; Debian's `dataset-fashion-mnist`), 10 named classes.
    #[serde(rename = "fashion_mnist")]
    FashionMnist,
    /// Any MNIST-format IDX file set (`train-images-idx3-ubyte[.gz]` etc.) in `data.dir`.
    Idx,
    /// A user's pictures: `data.dir/<class>/*.png|jpg`.
    #[serde(rename = "image_folder")]
    ImageFolder,
}

impl DatasetKind {
    /// Whether samples are images.
    pub fn is_image(self) -> bool {
        matches!(self, Self::FashionMnist | Self::Idx | Self::ImageFolder)
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gauss1d" => Ok(Self::Gauss1d),
            "ring8" => Ok(Self::Ring8),
            "grid25" => Ok(Self::Grid25),
            "csv" => Ok(Self::Csv),
            "fashion_mnist" => Ok(Self::FashionMnist),
            "idx" => Ok(Self::Idx),
            "image_folder" => Ok(Self::ImageFolder),
            other => Err(TrainError::Config(format!(
                "unknown dataset `{other}` (expected gauss1d, ring8, grid25, csv, fashion_mnist, idx or image_folder)"
            ))),
        }
    }
}

/// Which regions an inpainting model learns to fill (the geometry is drawn by
/// [`crate::data::images::masks::random_mask`]; the kind lives here, with the rest of the
/// config, so the config does not depend on the datasets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// a random rectangle (a quarter to a half of each side) is unknown
    Rect,
    /// a random half (top, bottom, left or right) is unknown
    Half,
    /// rectangles and halves, half the time each
    Mixed,
}

/// Hidden-layer activation. `LeakyRelu` is written as `relu(x) - a*relu(-x)` so the
/// generator still exports to ONNX (burn-onnx 0.22 does not lower LeakyRelu).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// max(x, 0) + slope * min(x, 0)
    LeakyRelu {
        /// negative slope
        slope: f64,
    },
    /// tanh(x)
    Tanh,
}

/// Output activation of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    /// tanh: output in [-1, 1], the ONNX contract's range (data are normalised into it).
    Tanh,
    /// identity (unbounded output, still in normalised data units).
    Linear,
}

/// Network family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// fully connected (images are flattened)
    Mlp,
    /// convolutional (images only): G = dense -> (nearest x2 upsample + Conv2d + BatchNorm
    /// + ReLU)... -> Conv2d + tanh; D = strided Conv2d + LeakyReLU ... -> dense
    Conv,
}

/// Generator: MLP `[z, class embedding] -> hidden... -> output`, or convolutional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// Noise dimension Z.
    pub noise_dim: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Output activation.
    pub output: OutputActivation,
    /// Width of the learned class embedding (conditional models).
    pub embedding_dim: usize,
    /// `mlp` or `conv`.
    pub arch: Arch,
    /// conv: channels per resolution, coarsest first. Label/unconditional G: a dense
    /// layer makes `channels[0]` maps at 1/2^(k) of the image size (k = len - 1), then
    /// each further entry is one x2 upsample + 3x3 conv. Inpainting G: the encoder's
    /// strided convs (finest first, reversed) and the mirrored decoder.
    pub channels: Vec<usize>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            noise_dim: 8,
            hidden: vec![128, 128],
            activation: Activation::Relu,
            output: OutputActivation::Tanh,
            embedding_dim: 8,
            arch: Arch::Mlp,
            channels: vec![64, 32, 16],
        }
    }
}

/// MLP discriminator: `[x, class embedding] -> hidden... -> 1 logit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscriminatorConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Width of the learned class embedding (conditional models).
    pub embedding_dim: usize,
    /// PacGAN packing (Lin et al. 2018): D judges `pack` samples of the same origin
    /// at once, which penalises mode collapse. 1 = the seed's single-sample D.
    pub pack: usize,
    /// `mlp` or `conv`.
    pub arch: Arch,
    /// conv: output channels of the 4x4 stride-2 convolutions, finest first.
    pub channels: Vec<usize>,
    /// conv, label-conditioned: add the projection term <embed(y), features> to the
    /// logit (Miyato & Koyama 2018) besides the label channels tiled onto the image.
    pub projection: bool,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        Self {
            hidden: vec![128, 128],
            activation: Activation::LeakyRelu { slope: 0.2 },
            embedding_dim: 8,
            pack: 1,
            arch: Arch::Mlp,
            channels: vec![32, 64],
            projection: true,
        }
    }
}

/// The adversarial loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// The seed's: binary cross-entropy on logits; G uses the non-saturating target 1.
    Bce,
    /// Least squares (Mao et al. 2017): D regresses real to 1 and fake to 0, G pushes fake to 1.
    LeastSquares,
    /// Hinge (Lim & Ye 2017; SAGAN): D max(0, 1-D(x)) + max(0, 1+D(G(z))), G -D(G(z)).
    Hinge,
}

/// How the discriminator consumes its fake and real batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DUpdate {
    /// The seed's: one gradient step on the fake batch (label 0), then one on the real
    /// batch (label 1); the logged D loss is the mean of the two.
    Separate,
    /// One step on the mean of both losses (the PyTorch DCGAN habit).
    Joint,
}

/// Algorithm options. The defaults are the seed's algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmConfig {
    /// Adversarial loss.
    pub loss: LossKind,
    /// Separate (seed) or joint discriminator update.
    pub d_update: DUpdate,
    /// Discriminator steps per generator step (k in Goodfellow et al. 2014, Algorithm 1).
    pub d_steps: usize,
    /// One-sided label smoothing: the real target becomes `1 - label_smoothing`.
    pub label_smoothing: f64,
    /// Exponential moving average of G's weights (e.g. 0.999); used for sampling and
    /// evaluation when set.
    pub ema_decay: Option<f64>,
    /// Inpainting: weight of the L1 loss on the unknown region added to G's adversarial
    /// loss (pix2pix uses 100).
    pub l1_weight: f64,
}

impl Default for AlgorithmConfig {
    fn default() -> Self {
        Self {
            loss: LossKind::Bce,
            d_update: DUpdate::Separate,
            d_steps: 1,
            label_smoothing: 0.0,
            ema_decay: None,
            l1_weight: 100.0,
        }
    }
}

/// Adam hyperparameters of one network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamSettings {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
}

impl Default for AdamSettings {
    /// DCGAN's settings (Radford et al. 2015): lr 2e-4, beta1 0.5.
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
        }
    }
}

pub mod limits;
pub mod memory;
mod validate;

pub use validate::check_max;

/// The examples `edgegan-train config --example NAME` prints: `(name, commented TOML)`.
pub const EXAMPLES: [(&str, &str); 5] = [
    (
        "image_folder",
        include_str!("../config_examples/image_folder.toml"),
    ),
    (
        "image_folder_rgb",
        include_str!("../config_examples/image_folder_rgb.toml"),
    ),
    ("csv", include_str!("../config_examples/csv.toml")),
    (
        "fashion_mnist",
        include_str!("../config_examples/fashion_mnist.toml"),
    ),
    ("ring8", include_str!("../config_examples/ring8.toml")),
];

/// The commented example config `name` (see [`EXAMPLES`]).
pub fn example_config(name: &str) -> Result<&'static str, TrainError> {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| {
            let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
            TrainError::Config(format!(
                "no example `{name}`: choose one of {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses_back_as_a_valid_config() {
        for (name, text) in EXAMPLES {
            let c: TrainConfig =
                toml::from_str(text).unwrap_or_else(|e| panic!("example {name}: {e}"));
            c.validate()
                .unwrap_or_else(|e| panic!("example {name}: {e}"));
            assert!(
                text.starts_with("# "),
                "example {name} starts with a comment"
            );
        }
        let ring8: TrainConfig = toml::from_str(example_config("ring8").unwrap()).unwrap();
        assert_eq!(
            ring8,
            TrainConfig::default(),
            "the ring8 example is the default"
        );
        let err = example_config("cifar").unwrap_err().to_string();
        assert!(
            err.contains("cifar") && err.contains("image_folder"),
            "{err}"
        );
    }

    #[test]
    fn resolved_config_omits_what_does_not_apply_and_reads_back_equal() {
        let mut c = TrainConfig::default();
        c.data.kind = DatasetKind::ImageFolder;
        c.data.dir = Some("pics".into());
        c.generator.arch = Arch::Conv;
        c.discriminator.arch = Arch::Conv;
        let text = c.to_toml().unwrap();
        for key in [
            "means",
            "stds",
            "normalize",
            "hidden",
            "activation",
            "l1_weight",
        ] {
            assert!(!text.contains(key), "{key} in\n{text}");
        }
        for key in ["image_size", "channels", "dir", "grid_every"] {
            assert!(text.contains(key), "{key} missing in\n{text}");
        }
        let back: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c.without_unused());
        let ring = TrainConfig::default().to_toml().unwrap();
        for key in [
            "means",
            "image_size",
            "grid_every",
            "channels",
            "projection",
        ] {
            assert!(!ring.contains(key), "{key} in\n{ring}");
        }
        let json = String::from_utf8(c.to_json().unwrap()).unwrap();
        assert!(!json.contains("means"), "{json}");
        // the struct's key order and f32 numbers as written
        assert!(text.starts_with("seed = "), "{text}");
        assert!(text.contains("beta2 = 0.999\n"), "{text}");
        assert!(
            json.contains("0.999") && !json.contains("0.99900"),
            "{json}"
        );
    }

    #[test]
    fn relative_data_paths_become_absolute() {
        let mut d = DataConfig {
            dir: Some("pics".into()),
            path: Some("/abs/data.csv".into()),
            ..Default::default()
        };
        d.absolutize().unwrap();
        let dir = d.dir.unwrap();
        assert!(dir.is_absolute() && dir.ends_with("pics"), "{dir:?}");
        assert_eq!(d.path.unwrap(), PathBuf::from("/abs/data.csv"));
    }

    #[test]
    fn default_config_is_the_seeds_algorithm_on_conditional_ring8() {
        let c = TrainConfig::default();
        assert_eq!(c.algorithm.loss, LossKind::Bce);
        assert_eq!(c.algorithm.d_update, DUpdate::Separate);
        assert_eq!(c.algorithm.d_steps, 1);
        assert_eq!(c.algorithm.label_smoothing, 0.0);
        assert_eq!(c.algorithm.ema_decay, None);
        assert_eq!(c.data.kind, DatasetKind::Ring8);
        assert!(c.data.conditional);
        c.validate().unwrap();
    }

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let mut c = TrainConfig::default();
        c.algorithm.ema_decay = Some(0.999);
        c.generator.activation = Activation::LeakyRelu { slope: 0.1 };
        let text = c.to_toml().unwrap();
        let back: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn partial_toml_fills_defaults() {
        let c: TrainConfig = toml::from_str("steps = 10\n[data]\nkind = \"grid25\"\n").unwrap();
        assert_eq!(c.steps, 10);
        assert_eq!(c.data.kind, DatasetKind::Grid25);
        assert_eq!(c.batch_size, TrainConfig::default().batch_size);
    }

    #[test]
    fn unknown_key_is_error() {
        let err = toml::from_str::<TrainConfig>("stepz = 10\n").unwrap_err();
        assert!(err.to_string().contains("stepz"), "{err}");
    }

    #[test]
    fn unknown_dataset_is_error_naming_it() {
        let err = toml::from_str::<TrainConfig>("[data]\nkind = \"mnist9\"\n").unwrap_err();
        assert!(err.to_string().contains("mnist9"), "{err}");
        let err = "mnist9".parse::<DatasetKind>().unwrap_err();
        assert!(err.to_string().contains("mnist9"));
    }

    #[test]
    fn malformed_config_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "steps = \"many\"\n").unwrap();
        let err = TrainConfig::from_toml_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        let missing = dir.path().join("missing.toml");
        let err = TrainConfig::from_toml_file(&missing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn numbers_above_their_bounds_are_rejected_naming_key_and_bound() {
        let mut c = TrainConfig::default();
        c.algorithm.d_steps = 1_000_000_000;
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("algorithm.d_steps") && err.contains("100"),
            "{err}"
        );
        let mut c = TrainConfig::default();
        c.discriminator.hidden = vec![4; 50_000];
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("discriminator.hidden") && err.contains("64"),
            "{err}"
        );
        let mut c = TrainConfig::default();
        c.generator.embedding_dim = limits::MAX_EMBEDDING_DIM + 1;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("generator.embedding_dim")
        );
        // the limits leave the default and every example alone
        TrainConfig::default().validate().unwrap();
    }

    #[test]
    fn invalid_values_are_rejected() {
        let c = TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        };
        assert!(c.validate().is_err());
        let mut c = TrainConfig::default();
        c.g_optimizer.lr = f64::NAN;
        assert!(c.validate().is_err());
        let mut c = TrainConfig::default();
        c.algorithm.label_smoothing = 0.7;
        assert!(c.validate().is_err());
        let mut c = TrainConfig::default();
        c.data.kind = DatasetKind::Csv;
        assert!(c.validate().is_err());
    }
}
