//! Small, fast GANs and datasets shared by the unit tests of every module (compiled only
//! for tests).

use std::path::Path;

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

use crate::config::{Arch, DatasetKind, DeviceChoice, TrainConfig};
use crate::data::Dataset;
use crate::data::images::masks::MaskKind;
use crate::data::images::{ImageSet, Images};
use crate::training::{Gan, RunDir, TrainOptions};

/// Training without a progress bar or log lines.
pub const QUIET: TrainOptions = TrainOptions { verbose: false };

/// A small, fast config for tests.
pub fn tiny_config(kind: DatasetKind, conditional: bool) -> TrainConfig {
    let mut c = TrainConfig {
        steps: 30,
        batch_size: 32,
        log_every: 5,
        checkpoint_every: 10,
        ..TrainConfig::default()
    };
    c.data.kind = kind;
    c.data.conditional = conditional;
    c.generator.hidden = vec![16];
    c.discriminator.hidden = vec![16];
    c
}

pub fn tiny_gan(conditional: bool) -> Gan {
    tiny_gan_on(conditional, DeviceChoice::Cpu)
}

/// [`tiny_gan`] training on `device`.
pub fn tiny_gan_on(conditional: bool, device: DeviceChoice) -> Gan {
    let mut config = tiny_config(DatasetKind::Ring8, conditional);
    config.device = device;
    let dataset = Dataset::from_config(&config.data).unwrap();
    new_gan(config, dataset)
}

/// Every device this build trains on: the CPU, and with the `gpu` feature a wgpu
/// device (Mesa's lavapipe, through Vulkan, in CI; a missing one fails the test that asks for it).
pub fn devices() -> Vec<DeviceChoice> {
    let mut all = vec![DeviceChoice::Cpu];
    if cfg!(feature = "gpu") {
        all.push(DeviceChoice::Gpu);
    }
    all
}

/// `Gan::new`, failing the test with the reason (a missing GPU driver names the
/// package to install).
pub fn new_gan(config: TrainConfig, dataset: Dataset) -> Gan {
    let device = config.device;
    let gan = Gan::new(config, dataset).unwrap_or_else(|e| panic!("GAN on {device:?}: {e}"));
    // a GPU test that quietly trained on the CPU would prove nothing
    assert_eq!(
        gan.device.is_cpu,
        device == DeviceChoice::Cpu,
        "asked for {device:?}, got {}",
        gan.device.description
    );
    gan
}

/// A tiny image set: 8x8 pictures of two classes (left or right half bright).
pub fn tiny_images() -> ImageSet {
    let make = |n: usize, salt: usize| {
        let mut img = Images::default();
        for i in 0..n {
            let class = i % 2;
            for p in 0..64 {
                let bright = (p % 8 < 4) == (class == 0);
                let noise = ((i * 31 + p * 7 + salt) % 40) as u8;
                img.pixels
                    .push(if bright { 200 + noise / 2 } else { noise });
            }
            img.labels.push(class as i64);
        }
        img
    };
    ImageSet::new(
        "tiny".into(),
        [1, 8, 8],
        make(64, 0),
        make(16, 3),
        vec!["left".into(), "right".into()],
    )
    .unwrap()
}

/// A tiny conv GAN on [`tiny_images`]: condition `none`, `label` or `mask`.
pub fn tiny_image_gan(condition: &str) -> Gan {
    tiny_image_gan_on(condition, DeviceChoice::Cpu)
}

/// [`tiny_image_gan`] training on `device`.
pub fn tiny_image_gan_on(condition: &str, device: DeviceChoice) -> Gan {
    let mut c = tiny_config(DatasetKind::Idx, condition == "label");
    c.device = device;
    c.batch_size = 16;
    c.grid_every = 0;
    if condition == "mask" {
        c.data.masks = Some(MaskKind::Mixed);
        c.generator.channels = vec![4, 8];
    } else {
        c.generator.channels = vec![8, 4];
    }
    c.generator.arch = Arch::Conv;
    c.generator.noise_dim = 4;
    c.generator.embedding_dim = 3;
    c.discriminator.arch = Arch::Conv;
    c.discriminator.channels = vec![4, 8];
    c.discriminator.embedding_dim = 2;
    c.g_optimizer.lr = 2e-3;
    new_gan(c, Dataset::Images(tiny_images()))
}

/// G, D and (when both have one) the EMA copy of two GANs hold the same bits.
pub fn assert_same_networks(a: &Gan, b: &Gan, what: &str) {
    assert_eq!(
        param_bits(&a.generator),
        param_bits(&b.generator),
        "G {what}"
    );
    assert_eq!(
        param_bits(&a.discriminator),
        param_bits(&b.discriminator),
        "D {what}"
    );
    if let (Some(x), Some(y)) = (&a.generator_ema, &b.generator_ema) {
        assert_eq!(param_bits(x), param_bits(y), "EMA {what}");
    }
}

/// The largest absolute difference between two modules' float parameters.
pub fn max_param_diff<M: Module>(a: &M, b: &M) -> f32 {
    param_bits(a)
        .iter()
        .flatten()
        .zip(param_bits(b).iter().flatten())
        .map(|(x, y)| (f32::from_bits(*x) - f32::from_bits(*y)).abs())
        .fold(0.0, f32::max)
}

/// Every float parameter of a module as raw bits, in visiting order.
pub fn param_bits<M: Module>(module: &M) -> Vec<Vec<u32>> {
    struct Bits(Vec<Vec<u32>>);
    impl ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param.val().into_data().try_into_vec::<f32>().unwrap();
            self.0.push(v.into_iter().map(f32::to_bits).collect());
        }
    }
    let mut bits = Bits(Vec::new());
    module.visit(&mut bits);
    bits.0
}

/// A fresh run folder at `root` and a fresh GAN for `config`.
pub fn new_run(root: &Path, config: &TrainConfig) -> (RunDir, Gan) {
    let run = RunDir::create(root, config).unwrap();
    let gan = new_gan(config.clone(), Dataset::from_config(&config.data).unwrap());
    (run, gan)
}
