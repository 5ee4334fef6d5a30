//! The networks: [`Generator`] and [`Discriminator`] are the MLP pair (points, or images
//! flattened) or the convolutional ones of [`crate::networks::conv`], behind one interface that
//! works on flattened samples `[batch, dim]` and a [`Condition`].
//!
//! The generator is written so burn-onnx 0.22 can export it: the class embedding is a
//! parameter table read with `select` (exports as Gather), leaky ReLU is spelled
//! `relu(x) - a * relu(-x)`, and there are no random ops inside `forward` (noise is an
//! input).

pub mod conv;

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use crate::config::{
    Activation, Arch, DiscriminatorConfig, GeneratorConfig, OutputActivation, TrainConfig,
};
use crate::error::{Result, TrainError};
use crate::networks::conv::{ConvDiscriminator, ConvGenerator, InpaintGenerator};

/// Applies a hidden activation in an export-friendly way.
fn activate<const D: usize>(x: Tensor<D>, activation: Activation) -> Tensor<D> {
    match activation {
        Activation::Relu => relu(x),
        // burn-onnx 0.22 does not lower LeakyRelu; this form exports as Relu/Neg/Mul/Sub.
        Activation::LeakyRelu { slope } => relu(x.clone()) - relu(-x).mul_scalar(slope),
        Activation::Tanh => tanh(x),
    }
}

/// A class-embedding table `[classes, dim]`, looked up with `select` (ONNX Gather).
fn embedding_table(classes: usize, dim: usize, device: &Device) -> Param<Tensor<2>> {
    Initializer::Normal {
        mean: 0.0,
        std: 1.0,
    }
    .init([classes, dim], device)
}

fn mlp(input: usize, hidden: &[usize], device: &Device) -> (Vec<Linear>, usize) {
    let mut layers = Vec::with_capacity(hidden.len());
    let mut width = input;
    for &h in hidden {
        layers.push(LinearConfig::new(width, h).init(device));
        width = h;
    }
    (layers, width)
}

/// MLP generator `G(z, label)`.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// class embedding `[classes, embedding_dim]` (conditional models only)
    pub embedding: Option<Param<Tensor<2>>>,
    /// hidden layers
    pub hidden: Vec<Linear>,
    /// output layer
    pub output: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    output_activation: OutputActivation,
}

impl GeneratorConfig {
    /// Builds the generator for `out_dim`-dimensional samples; `classes` is `Some` for a
    /// conditional model.
    pub fn init(&self, out_dim: usize, classes: Option<usize>, device: &Device) -> MlpGenerator {
        let embedding = classes.map(|c| embedding_table(c, self.embedding_dim, device));
        let input = self.noise_dim + classes.map_or(0, |_| self.embedding_dim);
        let (hidden, width) = mlp(input, &self.hidden, device);
        MlpGenerator {
            embedding,
            hidden,
            output: LinearConfig::new(width, out_dim).init(device),
            activation: self.activation,
            output_activation: self.output,
        }
    }
}

impl MlpGenerator {
    /// # Shapes
    /// - `z`: `[batch, noise_dim]`
    /// - `labels`: `[batch]` class indices (conditional models; ignored otherwise)
    /// - output: `[batch, out_dim]`, in [-1, 1] with a tanh output
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let mut x = match (&self.embedding, labels) {
            (Some(table), Some(labels)) => {
                // [batch, embedding_dim]
                let e = table.val().select(0, labels);
                Tensor::cat(vec![z, e], 1)
            }
            _ => z,
        };
        for layer in &self.hidden {
            x = activate(layer.forward(x), self.activation);
        }
        let x = self.output.forward(x);
        match self.output_activation {
            OutputActivation::Tanh => tanh(x),
            OutputActivation::Linear => x,
        }
    }

    /// Whether the generator takes a class label.
    pub fn is_conditional(&self) -> bool {
        self.embedding.is_some()
    }
}

/// MLP discriminator `D(x, label)` returning one logit per sample.
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// class embedding `[classes, embedding_dim]` (conditional models only)
    pub embedding: Option<Param<Tensor<2>>>,
    /// hidden layers
    pub hidden: Vec<Linear>,
    /// output layer (1 logit)
    pub output: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pack: usize,
}

impl DiscriminatorConfig {
    /// Builds the discriminator for `in_dim`-dimensional samples.
    pub fn init(&self, in_dim: usize, classes: Option<usize>, device: &Device) -> MlpDiscriminator {
        let embedding = classes.map(|c| embedding_table(c, self.embedding_dim, device));
        let input = (in_dim + classes.map_or(0, |_| self.embedding_dim)) * self.pack.max(1);
        let (hidden, width) = mlp(input, &self.hidden, device);
        MlpDiscriminator {
            embedding,
            hidden,
            output: LinearConfig::new(width, 1).init(device),
            activation: self.activation,
            pack: self.pack.max(1),
        }
    }
}

impl MlpDiscriminator {
    /// Samples per D decision (PacGAN packing; 1 = unpacked).
    pub fn pack(&self) -> usize {
        self.pack
    }

    /// # Shapes
    /// - `x`: `[batch, in_dim]`
    /// - `labels`: `[batch]` (conditional models)
    /// - output: `[batch / pack]` logits, one per pack of consecutive samples
    ///   (`batch` must be a multiple of `pack`)
    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<1> {
        let mut h = match (&self.embedding, labels) {
            (Some(table), Some(labels)) => {
                let e = table.val().select(0, labels);
                Tensor::cat(vec![x, e], 1)
            }
            _ => x,
        };
        if self.pack > 1 {
            let [batch, width] = h.dims();
            // [batch / pack, pack * width]: each row is `pack` consecutive samples
            h = h.reshape([batch / self.pack, self.pack * width]);
        }
        for layer in &self.hidden {
            h = activate(layer.forward(h), self.activation);
        }
        let logits = self.output.forward(h);
        let [batch, _] = logits.dims();
        logits.reshape([batch])
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DiscriminatorConfig, GeneratorConfig};

    #[test]
    fn shapes_of_conditional_networks() {
        let device = Device::flex();
        let g = GeneratorConfig::default().init(2, Some(8), &device);
        let d = DiscriminatorConfig::default().init(2, Some(8), &device);
        let z = Tensor::<2>::zeros([5, 8], &device);
        let labels =
            Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3, 7], [5]), &device);
        let x = g.forward(z, Some(labels.clone()));
        assert_eq!(x.dims(), [5, 2]);
        let v = x.clone().into_data().try_into_vec::<f32>().unwrap();
        assert!(
            v.iter().all(|v| v.abs() <= 1.0),
            "tanh output must be in [-1, 1]"
        );
        assert_eq!(d.forward(x, Some(labels)).dims(), [5]);
        assert!(g.is_conditional());
    }

    #[test]
    fn leaky_relu_form_matches_definition() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([-2.0, -0.5, 0.0, 3.0], &device);
        let y = activate(x, Activation::LeakyRelu { slope: 0.2 })
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(y, vec![-0.4, -0.1, 0.0, 3.0]);
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
