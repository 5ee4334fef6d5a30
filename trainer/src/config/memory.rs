//! The memory a run will need, estimated from its config and its data's shape before any
//! network is built, and the limit it is held to (`--max-memory`, by default 3/4 of the
//! machine's memory): a config that cannot fit is refused with both figures instead of
//! aborting on a failed allocation of gigabytes (issue 12).
//!
//! The estimate counts the parameters of G and D exactly (the same arithmetic as the
//! networks' constructors; tests hold it to Burn's own count), Adam's state (gradients and
//! two moments per parameter), the EMA copy of G, the activations a step keeps for its
//! backward pass (every intermediate of G on a batch and of D on two), the data set held in
//! memory and a fixed allowance for the process itself (a 3-step run of the smallest config
//! peaks at 19.5 MiB). The peak resident memory (`VmHWM`) of 3-step ring8 MLP runs was 1.10
//! times the estimate (hidden [1024, 1024], batch 256: 79.5 MiB for 72.6 MiB), 0.81 (hidden
//! [8]: 19.5 for 24.0) and 0.86 (hidden [2048, 2048], batch 2048: 352.6 for 409.4); the test
//! holds it within a factor of 2 (`trainer/tests/reliability.rs`).

use std::path::Path;

use super::{Activation, Arch, TrainConfig};
use crate::data::Dataset;
use crate::error::TrainError;

/// What the process takes before any network exists (the binary, Burn's and the thread
/// pool's buffers): about what a run of the smallest config peaks at.
pub const PROCESS_BYTES: u64 = 24 << 20;

/// Noise maps at the inpainting generator's bottleneck (`networks::conv::NOISE_MAPS`).
const INPAINT_NOISE_MAPS: u128 = 8;

/// The parts of an estimate, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// what it is for ("a training step", "sampling 10000 samples")
    pub what: &'static str,
    /// scalar parameters of G and D
    pub params: u64,
    /// the weights (G, D and the EMA copy of G), f32
    pub weights: u64,
    /// the optimisers' state: gradients and Adam's two moments
    pub optimiser: u64,
    /// the activations of one step or one sampling chunk
    pub activations: u64,
    /// the data set in memory, and the samples an evaluation or `sample` collects
    pub data: u64,
}

impl MemoryEstimate {
    /// Everything, with [`PROCESS_BYTES`] for the process itself.
    pub fn total(&self) -> u64 {
        PROCESS_BYTES
            .saturating_add(self.weights)
            .saturating_add(self.optimiser)
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }

    /// `Err` naming both figures and the parts when the total is above `limit`.
    ///
    /// # Errors
    ///
    /// [`TrainError::Memory`] when it does not fit.
    pub fn check(&self, limit: &MemoryLimit) -> Result<(), TrainError> {
        if self.total() <= limit.bytes {
            return Ok(());
        }
        Err(TrainError::Memory(format!(
            "{} needs about {} (weights {}, optimiser state {}, activations {}, data {}, \
             process {}), above the limit of {} ({}); use a smaller batch_size or network, \
             or raise --max-memory",
            self.what,
            human(self.total()),
            human(self.weights),
            human(self.optimiser),
            human(self.activations),
            human(self.data),
            human(PROCESS_BYTES),
            human(limit.bytes),
            limit.source
        )))
    }
}

/// A memory limit and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    /// bytes
    pub bytes: u64,
    /// "--max-memory", "3/4 of the machine's 23.5 GiB", ...
    pub source: String,
}

impl MemoryLimit {
    /// `--max-memory` when given, else [`MemoryLimit::machine_default`].
    pub fn from_flag(flag: Option<u64>) -> Self {
        match flag {
            Some(bytes) => Self {
                bytes,
                source: "--max-memory".into(),
            },
            None => Self::machine_default(),
        }
    }

    /// 3/4 of the machine's memory (`MemTotal` in `/proc/meminfo`, or the cgroup's
    /// `memory.max` when that is lower); 8 GiB where neither can be read.
    pub fn machine_default() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| mem_total(&t));
        let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        let (total, what) = match (meminfo, cgroup) {
            (Some(m), Some(c)) if c < m => (c, "the cgroup's memory.max"),
            (Some(m), _) => (m, "the machine's memory"),
            (None, Some(c)) => (c, "the cgroup's memory.max"),
            (None, None) => {
                return Self {
                    bytes: 8 << 30,
                    source: "the default when the machine's memory cannot be read \
                             (/proc/meminfo); set --max-memory"
                        .into(),
                };
            }
        };
        Self {
            bytes: total / 4 * 3,
            source: format!("3/4 of {what}, {}; set --max-memory", human(total)),
        }
    }
}

/// The `KEY:    N kB` field of `/proc/meminfo` or `/proc/self/status` text, in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// `MemTotal` of `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemTotal:")
}

/// The peak resident memory of this process so far (`VmHWM` of `/proc/self/status`), in
/// bytes; `None` where that cannot be read.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc/self/status")).ok()?;
    kib_field(&status, "VmHWM:")
}

/// A byte count as `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Reads `--max-memory`: bytes, or a number with a `K`, `M`, `G` or `T` suffix (powers
/// of 1024; `KiB`, `MB`, ... read the same).
///
/// # Errors
///
/// A message naming the text when it is not a size, is 0 or is above 2^64 bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => {
            return Err(format!(
                "`{text}` is not a size (e.g. 512M, 8G or 1073741824)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 512M, 8G or 1073741824)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "`{text}`: a size must be at least 1 byte and below 16 EiB"
        ));
    }
    Ok(bytes as u64)
}

/// What the networks' sizes depend on besides the config: the data's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    /// values per sample
    pub dim: usize,
    /// `[c, h, w]` of image data
    pub image: Option<[usize; 3]>,
    /// classes of a conditional model
    pub classes: Option<usize>,
}

impl DataShape {
    /// The shape of `dataset` under `config` (classes only for a conditional model).
    pub fn of(config: &TrainConfig, dataset: &Dataset) -> Self {
        Self {
            dim: dataset.dim(),
            image: dataset.image_shape(),
            classes: config.data.conditional.then(|| dataset.classes()),
        }
    }
}

/// Parameters and per-sample activations (f32 values) of one network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkSize {
    /// scalar parameters
    pub params: u128,
    /// values of every intermediate of a forward pass, per sample
    pub activations: u128,
}

impl NetworkSize {
    fn linear(&mut self, input: u128, output: u128) {
        self.params += input * output + output;
        self.activations += output;
    }

    /// A 3x3 (or 4x4) convolution from `cin` maps to `cout` maps of `hw` pixels; Burn's
    /// CPU kernel copies its input to NHWC first.
    fn conv(&mut self, cin: u128, cout: u128, kernel: u128, in_hw: u128, out_hw: u128) {
        self.params += cin * cout * kernel * kernel + cout;
        self.activations += cin * in_hw + cout * out_hw;
    }

    /// BatchNorm of `c` maps of `hw` pixels (the centred, scaled and shifted values) and
    /// the ReLU after it; Burn counts its running mean and variance with its scale and
    /// shift.
    fn norm_relu(&mut self, c: u128, hw: u128) {
        self.params += 4 * c;
        self.activations += 4 * c * hw;
    }
}

/// Intermediate tensors a hidden activation keeps per value (ReLU one, tanh one, the
/// export-friendly leaky ReLU `relu(x) - a * relu(-x)` two: measured, Burn frees the
/// others).
fn activation_values(activation: Activation) -> u128 {
    match activation {
        Activation::Relu | Activation::Tanh => 1,
        Activation::LeakyRelu { .. } => 2,
    }
}

fn mlp(size: &mut NetworkSize, input: u128, hidden: &[usize], activation: Activation) -> u128 {
    let mut width = input;
    for &h in hidden {
        let h = h as u128;
        size.linear(width, h);
        size.activations += activation_values(activation) * h;
        width = h;
    }
    width
}

/// The generator's size for `config` on data of `shape` (`None` where the constructor
/// would refuse the config: the error comes from there).
pub fn generator_size(config: &TrainConfig, shape: &DataShape) -> Option<NetworkSize> {
    let g = &config.generator;
    let mut size = NetworkSize::default();
    let emb = shape.classes.map_or(0, |_| g.embedding_dim as u128);
    if let Some(c) = shape.classes {
        size.params += c as u128 * emb;
    }
    let input = g.noise_dim as u128 + emb;
    size.activations += input;
    match (g.arch, shape.image) {
        (Arch::Mlp, _) => {
            let width = mlp(&mut size, input, &g.hidden, g.activation);
            size.linear(width, shape.dim as u128);
            size.activations += shape.dim as u128;
        }
        (Arch::Conv, Some([c, h, w])) if config.data.masks.is_some() => {
            // the inpainting U-Net (networks::conv::InpaintGenerator)
            let levels = g.channels.len();
            let f = 1usize.checked_shl(levels as u32)?;
            if levels == 0 || h % f != 0 || w % f != 0 {
                return None;
            }
            let (c, h, w) = (c as u128, h as u128, w as u128);
            size.activations += 2 * c * h * w;
            let mut width = 2 * c;
            let mut hw = h * w;
            for &ch in &g.channels {
                let ch = ch as u128;
                size.conv(width, ch, 3, hw, hw / 4);
                hw /= 4;
                size.norm_relu(ch, hw);
                width = ch;
            }
            let f = f as u128;
            let noise = INPAINT_NOISE_MAPS * (h / f) * (w / f);
            size.linear(g.noise_dim as u128, noise);
            size.activations += 2 * noise;
            let mut input = width + INPAINT_NOISE_MAPS;
            for level in (0..levels).rev() {
                let out = if level == 0 {
                    g.channels[0].div_ceil(2).max(4) as u128
                } else {
                    g.channels[level - 1] as u128
                };
                size.activations += input * hw * 4;
                hw *= 4;
                size.conv(input, out, 3, hw, hw);
                size.norm_relu(out, hw);
                let skip = if level > 0 {
                    g.channels[level - 1] as u128
                } else {
                    0
                };
                size.activations += (out + skip) * hw;
                input = out + skip;
            }
            size.activations += (input + 2 * c) * hw;
            size.conv(input + 2 * c, c, 3, hw, hw);
            // tanh and the composite with the known pixels
            size.activations += 5 * c * hw;
        }
        (Arch::Conv, Some([c, h, w])) => {
            // networks::conv::ConvGenerator
            let k = crate::networks::conv::upsample_steps(&g.channels, [c, h, w])?;
            let (bh, bw) = ((h >> k) as u128, (w >> k) as u128);
            let c0 = *g.channels.first()? as u128;
            size.linear(input, c0 * bh * bw);
            size.norm_relu(c0, bh * bw);
            let mut hw = bh * bw;
            for pair in g.channels.windows(2) {
                let (cin, cout) = (pair[0] as u128, pair[1] as u128);
                // nearest x2 upsample, conv, BatchNorm, ReLU
                size.activations += cin * hw * 4;
                hw *= 4;
                size.conv(cin, cout, 3, hw, hw);
                size.norm_relu(cout, hw);
            }
            let last = *g.channels.last()? as u128;
            size.conv(last, c as u128, 3, hw, hw);
            size.activations += c as u128 * hw;
        }
        (Arch::Conv, None) => return None,
    }
    Some(size)
}

/// The discriminator's size, per sample it judges (`None` where the constructor would
/// refuse the config).
pub fn discriminator_size(config: &TrainConfig, shape: &DataShape) -> Option<NetworkSize> {
    let d = &config.discriminator;
    let mut size = NetworkSize::default();
    let emb = shape.classes.map_or(0, |_| d.embedding_dim as u128);
    if let Some(c) = shape.classes {
        size.params += c as u128 * emb;
    }
    let masks = config.data.masks.is_some();
    match (d.arch, shape.image) {
        (Arch::Mlp, _) => {
            let dim = shape.dim as u128 * if masks { 2 } else { 1 };
            let pack = d.pack.max(1) as u128;
            let input = (dim + emb) * pack;
            size.activations += dim + emb;
            // `pack` samples make one row: per sample, 1/pack of each row
            let mut rows = NetworkSize::default();
            let width = mlp(&mut rows, input, &d.hidden, d.activation);
            rows.linear(width, 1);
            size.params += rows.params;
            size.activations += rows.activations.div_ceil(pack);
        }
        (Arch::Conv, Some(image)) => {
            if d.channels.len() > crate::networks::max_conv_depth(image) {
                return None;
            }
            let [c, mut h, mut w] = image;
            let extra = if masks { c } else { 0 } as u128;
            let mut width = c as u128 + extra + emb;
            size.activations += width * (h * w) as u128;
            for &ch in &d.channels {
                let ch = ch as u128;
                let in_hw = (h * w) as u128;
                h /= 2;
                w /= 2;
                let out_hw = (h * w) as u128;
                size.conv(width, ch, 4, in_hw, out_hw);
                // leaky ReLU
                size.activations += ch * out_hw;
                width = ch;
            }
            let features = width * (h * w) as u128;
            if let Some(classes) = shape.classes.filter(|_| d.projection) {
                size.params += classes as u128 * features;
                size.activations += 2 * features;
            }
            size.linear(features, 1);
        }
        (Arch::Conv, None) => return None,
    }
    Some(size)
}

fn bytes(values: u128) -> u64 {
    u64::try_from(values.saturating_mul(4)).unwrap_or(u64::MAX)
}

/// Bytes of `dataset` in memory (pixels are bytes, points f32, labels i64).
pub fn dataset_bytes(dataset: &Dataset) -> u64 {
    let b = match dataset {
        Dataset::Csv(c) => c.values.len() * 4 + c.labels.as_ref().map_or(0, |l| l.len() * 8),
        Dataset::Images(set) => {
            set.train.pixels.len()
                + set.test.pixels.len()
                + 16 * (set.train.labels.len() + set.test.labels.len())
        }
        _ => 0,
    };
    b as u64
}

/// G's and D's sizes, or a config error the constructors would give.
fn sizes(config: &TrainConfig, shape: &DataShape) -> Option<(NetworkSize, NetworkSize)> {
    Some((
        generator_size(config, shape)?,
        discriminator_size(config, shape)?,
    ))
}

/// The memory a training step of `config` on `dataset` needs. `None` when the networks
/// cannot be built for this data (their constructors say why).
pub fn training_estimate(config: &TrainConfig, dataset: &Dataset) -> Option<MemoryEstimate> {
    let shape = DataShape::of(config, dataset);
    let (g, d) = sizes(config, &shape)?;
    let ema = config.algorithm.ema_decay.map_or(0, |_| g.params);
    let batch = config.batch_size as u128;
    // the D step keeps G's batch and D's real and fake batches for backward, the G step
    // G's and D's: at most G + 2 D (their gradients reuse what the forward pass frees:
    // measured, see the module's doc)
    let activations = batch * (g.activations + 2 * d.activations);
    Some(MemoryEstimate {
        what: "a training step",
        params: u64::try_from(g.params + d.params).unwrap_or(u64::MAX),
        weights: bytes(g.params + d.params + ema),
        optimiser: bytes(3 * (g.params + d.params)),
        activations: bytes(activations),
        data: dataset_bytes(dataset),
    })
}

/// The memory sampling `n` samples of `config`'s generator needs (evaluation, `sample`):
/// a run loaded with its optimiser state, one chunk of samples through G without
/// gradients (`Gan::generate`'s 256 images or 4,096 points), and the `n` samples
/// collected (`bytes_per_value` each: 4 for f32, more when they are also printed as text).
pub fn sampling_estimate(
    config: &TrainConfig,
    dataset: &Dataset,
    n: usize,
    bytes_per_value: u64,
) -> Option<MemoryEstimate> {
    let shape = DataShape::of(config, dataset);
    let chunk_rows = if shape.image.is_some() { 256 } else { 4096 };
    let (g, d) = sizes(config, &shape)?;
    let ema = config.algorithm.ema_decay.map_or(0, |_| g.params);
    let samples = (n as u64)
        .saturating_mul(shape.dim as u64)
        .saturating_mul(bytes_per_value);
    Some(MemoryEstimate {
        what: "sampling",
        params: u64::try_from(g.params + d.params).unwrap_or(u64::MAX),
        weights: bytes(g.params + d.params + ema),
        // the checkpoint's Adam moments are loaded with the run
        optimiser: bytes(2 * (g.params + d.params)),
        activations: bytes(chunk_rows.min(n.max(1)) as u128 * g.activations),
        data: dataset_bytes(dataset).saturating_add(samples),
    })
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::config::{DatasetKind, MaskKind};
    use crate::networks::{Discriminator, Generator, ModelSize};

    /// The estimate's parameter counts against Burn's for one config and data shape.
    fn assert_counts_match(config: &TrainConfig, shape: DataShape) {
        let device = Device::flex();
        let g = Generator::from_config(config, shape.dim, shape.image, shape.classes, &device)
            .expect("G builds");
        let d = Discriminator::from_config(config, shape.dim, shape.image, shape.classes, &device)
            .expect("D builds");
        let est_g = generator_size(config, &shape).expect("G estimated");
        let est_d = discriminator_size(config, &shape).expect("D estimated");
        assert_eq!(
            est_g.params,
            ModelSize::of(&g).params as u128,
            "G of {:?}",
            config.generator
        );
        assert_eq!(
            est_d.params,
            ModelSize::of(&d).params as u128,
            "D of {:?}",
            config.discriminator
        );
        assert!(est_g.activations > 0 && est_d.activations > 0);
    }

    #[test]
    fn parameter_counts_equal_the_built_networks() {
        let points = DataShape {
            dim: 2,
            image: None,
            classes: Some(8),
        };
        let mut config = TrainConfig::default();
        assert_counts_match(&config, points);
        config.discriminator.pack = 4;
        config.generator.hidden = vec![7, 5, 3];
        config.generator.activation = Activation::LeakyRelu { slope: 0.2 };
        assert_counts_match(
            &config,
            DataShape {
                classes: None,
                ..points
            },
        );

        let image = DataShape {
            dim: 3 * 16 * 8,
            image: Some([3, 16, 8]),
            classes: Some(5),
        };
        let mut config = TrainConfig::default();
        config.data.kind = DatasetKind::ImageFolder;
        config.generator.arch = Arch::Conv;
        config.generator.channels = vec![8, 6, 4];
        config.discriminator.arch = Arch::Conv;
        config.discriminator.channels = vec![4, 8, 6];
        for projection in [true, false] {
            config.discriminator.projection = projection;
            assert_counts_match(&config, image);
        }
        assert_counts_match(
            &config,
            DataShape {
                classes: None,
                ..image
            },
        );
        // an MLP D on images, and the inpainting U-Net with a mask-conditioned D
        config.discriminator.arch = Arch::Mlp;
        assert_counts_match(&config, image);
        config.data.masks = Some(MaskKind::Mixed);
        config.data.conditional = false;
        config.generator.channels = vec![5, 7];
        let no_classes = DataShape {
            classes: None,
            ..image
        };
        assert_counts_match(&config, no_classes);
        config.discriminator.arch = Arch::Conv;
        config.discriminator.channels = vec![4, 4];
        assert_counts_match(&config, no_classes);
    }

    #[test]
    fn an_estimate_above_the_limit_names_both_figures() {
        let mut config = TrainConfig::default();
        config.generator.hidden = vec![4096; 4];
        config.batch_size = 4096;
        let data = Dataset::from_config(&config.data).unwrap();
        let est = training_estimate(&config, &data).unwrap();
        // 3 x 4096^2 weights per network: 50M parameters, 4 bytes, 4 copies, and more
        assert!(est.total() > 800 << 20, "{}", human(est.total()));
        let limit = MemoryLimit {
            bytes: 256 << 20,
            source: "--max-memory".into(),
        };
        let err = est.check(&limit).unwrap_err().to_string();
        assert!(
            err.contains(&human(est.total()))
                && err.contains("256.0 MiB")
                && err.contains("--max-memory"),
            "{err}"
        );
        assert!(TrainConfig::default().validate().is_ok());
        let small = training_estimate(&TrainConfig::default(), &data).unwrap();
        small
            .check(&limit)
            .expect("the default config fits in 256 MiB");
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("1073741824"), Ok(1 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("2 t"), Ok(2 << 40));
        for bad in ["", "12X", "-1G", "0", "G", "1e3", "99999999999T"] {
            assert!(parse_bytes(bad).is_err(), "`{bad}` was read as a size");
        }
        assert_eq!(
            mem_total("MemFree: 1 kB\nMemTotal:       24683652 kB\n"),
            Some(24683652 * 1024)
        );
        assert_eq!(human(1536), "1.5 KiB");
        let default = MemoryLimit::machine_default();
        assert!(default.bytes >= 64 << 20, "{default:?}");
    }
}
