//! The networks: [`Generator`] and [`Discriminator`] are the MLP pair (points, or images
//! flattened) or the convolutional ones of [`conv`], behind one interface that works on
//! flattened samples `[batch, dim]` and a [`Condition`].
//!
//! - [`mlp`]: the fully connected generator and discriminator
//! - [`conv`]: DCGAN-style and inpainting generators, the strided-convolution discriminator
//! - [`upconv`]: nearest x2 upsampling + 3x3 conv computed at the input resolution (the
//!   conv generators' up-blocks)
//! - [`layers`]: export-friendly activation and the class-embedding table they share
//!
//! The generator is written so burn-onnx 0.22 can export it: the class embedding is a
//! parameter table read with `select` (exports as Gather), leaky ReLU is spelled
//! `relu(x) - a * relu(-x)`, and there are no random ops inside `forward` (noise is an
//! input).

pub mod conv;
pub mod layers;
pub mod mlp;
pub mod upconv;

use burn::prelude::*;

pub use self::conv::{ConvDiscriminator, ConvGenerator, InpaintGenerator};
pub use self::mlp::{MlpDiscriminator, MlpGenerator};
use crate::config::{Arch, TrainConfig};
use crate::error::{Result, TrainError};

/// What a generated sample is conditioned on, in flattened network units.
// Tensor handles are a few hundred bytes and a condition lives for one batch: boxing
// would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Condition {
    /// nothing (unconditional GAN)
    None,
    /// class labels `[batch]`
    Label(Tensor<1, Int>),
    /// inpainting: `mask` (1 = known) and `masked` (= image * mask), both `[batch, dim]`
    Mask {
        /// 1 = known pixel, 0 = to fill
        mask: Tensor<2>,
        /// the image with unknown pixels zeroed
        masked: Tensor<2>,
    },
}

impl Condition {
    /// The labels, for label-conditioned models.
    pub fn labels(&self) -> Option<Tensor<1, Int>> {
        match self {
            Self::Label(l) => Some(l.clone()),
            _ => None,
        }
    }
}

fn to_image(x: Tensor<2>, [c, h, w]: [usize; 3]) -> Tensor<4> {
    let [b, _] = x.dims();
    x.reshape([b, c, h, w])
}

/// The generator: MLP, convolutional, or convolutional inpainting.
// One generator per run, so the variants' size difference costs nothing; Burn's Module
// derive works on the variants as they are.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    /// fully connected
    Mlp(MlpGenerator),
    /// DCGAN-style, label-conditioned or not
    Conv(ConvGenerator),
    /// mask-conditioned (inpainting)
    Inpaint(InpaintGenerator),
}

impl Generator {
    /// Builds the generator a config asks for. `shape` is `[c, h, w]` for image data
    /// (`None` for points of `dim` values).
    pub fn from_config(
        config: &TrainConfig,
        dim: usize,
        shape: Option<[usize; 3]>,
        classes: Option<usize>,
        device: &Device,
    ) -> Result<Self> {
        let g = &config.generator;
        match (g.arch, shape) {
            (Arch::Mlp, _) => Ok(Self::Mlp(g.init(dim, classes, device))),
            (Arch::Conv, Some(shape)) if config.data.masks.is_some() => {
                InpaintGenerator::new(g, shape, device)
                    .map(Self::Inpaint)
                    .ok_or_else(|| {
                        TrainError::Config(format!(
                            "the inpainting generator's {} strided levels (generator.channels) \
                             need image sides divisible by {}; the images are {}x{}",
                            g.channels.len(),
                            1usize << g.channels.len().min(31),
                            shape[1],
                            shape[2]
                        ))
                    })
            }
            (Arch::Conv, Some(shape)) => ConvGenerator::new(g, shape, classes, device)
                .map(Self::Conv)
                .ok_or_else(|| {
                    TrainError::Config(format!(
                        "generator.channels has {} entries, so the images are drawn at 1/{} \
                         of their size; {}x{} does not divide by that",
                        g.channels.len(),
                        1usize << (g.channels.len() - 1).min(31),
                        shape[1],
                        shape[2]
                    ))
                }),
            (Arch::Conv, None) => Err(TrainError::Config(
                "generator.arch = \"conv\" needs an image dataset".into(),
            )),
        }
    }

    /// # Shapes
    /// - `z`: `[batch, noise_dim]`
    /// - output: `[batch, dim]` flattened samples
    pub fn forward(&self, z: Tensor<2>, condition: &Condition) -> Tensor<2> {
        match self {
            Self::Mlp(g) => g.forward(z, condition.labels()),
            Self::Conv(g) => g.forward(z, condition.labels()).flatten(1, 3),
            Self::Inpaint(g) => match condition {
                Condition::Mask { mask, masked } => {
                    let shape = g.shape();
                    g.forward(
                        z,
                        to_image(mask.clone(), shape),
                        to_image(masked.clone(), shape),
                    )
                    .flatten(1, 3)
                }
                // an inpainting G without a mask completes an empty image
                _ => {
                    let [b, _] = z.dims();
                    let [c, h, w] = g.shape();
                    let zeros = Tensor::<4>::zeros([b, c, h, w], &z.device());
                    g.forward(z, zeros.clone(), zeros).flatten(1, 3)
                }
            },
        }
    }

    /// Whether the generator takes a class label.
    pub fn is_conditional(&self) -> bool {
        match self {
            Self::Mlp(g) => g.is_conditional(),
            Self::Conv(g) => g.embedding.is_some(),
            Self::Inpaint(_) => false,
        }
    }

    /// `[c, h, w]` for image generators.
    pub fn image_shape(&self) -> Option<[usize; 3]> {
        match self {
            Self::Mlp(_) => None,
            Self::Conv(g) => Some(g.shape()),
            Self::Inpaint(g) => Some(g.shape()),
        }
    }
}

/// The discriminator: MLP (optionally PacGAN-packed) or convolutional.
#[derive(Module, Debug)]
pub enum Discriminator {
    /// fully connected
    Mlp(MlpDiscriminator),
    /// strided convolutions
    Conv(ConvDiscriminator),
}

impl Discriminator {
    /// Builds the discriminator a config asks for.
    pub fn from_config(
        config: &TrainConfig,
        dim: usize,
        shape: Option<[usize; 3]>,
        classes: Option<usize>,
        device: &Device,
    ) -> Result<Self> {
        let d = &config.discriminator;
        // an inpainting D sees the mask beside the image
        let mask_channels = if config.data.masks.is_some() {
            shape.map_or(0, |s| s[0])
        } else {
            0
        };
        match (d.arch, shape) {
            (Arch::Mlp, _) => Ok(Self::Mlp(d.init(
                dim + if mask_channels > 0 { dim } else { 0 },
                classes,
                device,
            ))),
            (Arch::Conv, Some(shape)) if !conv_depth_fits(d.channels.len(), shape) => {
                Err(TrainError::Config(format!(
                    "discriminator.channels has {} stride-2 convolutions, each halving the \
                     image; the {}x{} images allow at most {}",
                    d.channels.len(),
                    shape[1],
                    shape[2],
                    max_conv_depth(shape)
                )))
            }
            (Arch::Conv, Some(shape)) => Ok(Self::Conv(ConvDiscriminator::new(
                d,
                shape,
                mask_channels,
                classes,
                device,
            ))),
            (Arch::Conv, None) => Err(TrainError::Config(
                "discriminator.arch = \"conv\" needs an image dataset".into(),
            )),
        }
    }

    /// Samples per D decision (PacGAN packing; 1 = unpacked).
    pub fn pack(&self) -> usize {
        match self {
            Self::Mlp(d) => d.pack(),
            Self::Conv(_) => 1,
        }
    }

    /// # Shapes
    /// - `x`: `[batch, dim]` flattened samples
    /// - output: `[batch / pack]` logits
    pub fn forward(&self, x: Tensor<2>, condition: &Condition) -> Tensor<1> {
        match self {
            Self::Mlp(d) => match condition {
                Condition::Mask { mask, .. } => {
                    d.forward(Tensor::cat(vec![x, mask.clone()], 1), None)
                }
                other => d.forward(x, other.labels()),
            },
            Self::Conv(d) => {
                let shape = d.shape();
                let extra = match condition {
                    Condition::Mask { mask, .. } => Some(to_image(mask.clone(), shape)),
                    _ => None,
                };
                d.forward(to_image(x, shape), extra, condition.labels())
            }
        }
    }
}

/// Parameter count and the weight bytes as f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelSize {
    /// number of scalar parameters
    pub params: usize,
    /// bytes as f32
    pub f32_bytes: usize,
    /// bytes with int8 weights (one byte per parameter; BatchNorm folds into the
    /// preceding layer when compiled, int32 biases add a few bytes per channel)
    pub int8_bytes: usize,
}

impl ModelSize {
    /// Size of any module.
    pub fn of<M: Module>(module: &M) -> Self {
        let params = module.num_params();
        Self {
            params,
            f32_bytes: params * 4,
            int8_bytes: params,
        }
    }
}

/// The most 4x4 stride-2 convolutions (each halving a side, which must be at least 2
/// before it) an image of `shape` allows.
pub fn max_conv_depth([_, h, w]: [usize; 3]) -> usize {
    h.min(w).max(1).ilog2() as usize
}

fn conv_depth_fits(depth: usize, shape: [usize; 3]) -> bool {
    depth <= max_conv_depth(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GeneratorConfig;

    #[test]
    fn a_conv_d_deeper_than_the_image_allows_is_refused() {
        assert_eq!(max_conv_depth([1, 28, 28]), 4);
        assert_eq!(max_conv_depth([1, 8, 3]), 1);
        let mut config = TrainConfig::default();
        config.discriminator.arch = Arch::Conv;
        config.discriminator.channels = vec![4; 4];
        let device = Device::flex();
        let err = Discriminator::from_config(&config, 64, Some([1, 8, 8]), None, &device)
            .expect_err("a 4-deep D on 8x8 images was built")
            .to_string();
        assert!(
            err.contains("discriminator.channels") && err.contains("at most 3"),
            "{err}"
        );
        config.discriminator.channels = vec![4; 3];
        assert!(Discriminator::from_config(&config, 64, Some([1, 8, 8]), None, &device).is_ok());
    }

    #[test]
    fn parameter_count_is_reported() {
        let device = Device::flex();
        let g = GeneratorConfig {
            noise_dim: 2,
            hidden: vec![4],
            embedding_dim: 3,
            ..GeneratorConfig::default()
        }
        .init(2, Some(5), &device);
        // embedding 5*3 + (2+3)*4+4 + 4*2+2
        assert_eq!(ModelSize::of(&g).params, 15 + 24 + 10);
        assert_eq!(ModelSize::of(&g).f32_bytes, 49 * 4);
    }
}
