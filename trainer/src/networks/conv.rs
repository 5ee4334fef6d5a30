//! Convolutional networks for images: a DCGAN-style generator (label-conditioned or
//! not), an inpainting generator conditioned on a mask and the masked image, and a
//! strided-convolution discriminator.
//!
//! Export constraints shape the generators (burn-onnx 0.22 has no ConvTranspose
//! lowering): upsampling is nearest x2 (ONNX Resize) followed by a 3x3 Conv2d, which also
//! avoids transposed convolutions' checkerboard artifacts; labels go through a parameter
//! table read with `select` (Gather). The inpainting generator composites
//! `mask * masked + (1 - mask) * G(.)` inside `forward`, so the exported graph passes the
//! known pixels through exactly. D is never exported and may use anything.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::layers::{embedding_table, with_embedding};
use super::upconv::upsample2_conv3x3;
use crate::config::{DiscriminatorConfig, GeneratorConfig};

fn conv3x3(input: usize, output: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// 3x3 convolution with stride 2 (halves each side; used by the inpainting encoder).
fn conv3x3_down(input: usize, output: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn upsample2(x: Tensor<4>) -> Tensor<4> {
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
    )
}

/// Upsample x2, 3x3 conv, BatchNorm, ReLU.
#[derive(Module, Debug)]
pub struct UpBlock {
    /// the convolution
    pub conv: Conv2d,
    /// its BatchNorm (folded into the conv when compiled for the device)
    pub norm: BatchNorm,
}

impl UpBlock {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(input, output, device),
            norm: BatchNormConfig::new(output).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>, form: UpsampleForm) -> Tensor<4> {
        let y = match form {
            UpsampleForm::Transposed => upsample2_conv3x3(x, &self.conv),
            UpsampleForm::Resize => self.conv.forward(upsample2(x)),
        };
        relu(self.norm.forward(y))
    }
}

/// How an up-block computes `conv3x3(upsample_nearest_x2(x))`: the same function, two
/// graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsampleForm {
    /// one stride-2 transposed convolution from the input resolution, 4/9 of the
    /// multiply-adds ([`upsample2_conv3x3`]): training and sampling in Burn
    Transposed,
    /// Resize then Conv: the graph the ONNX export captures, which the device compiler
    /// lowers
    Resize,
}

/// Number of x2 steps between the coarsest and the full resolution, if the image sides
/// divide evenly.
pub fn upsample_steps(channels: &[usize], [_, h, w]: [usize; 3]) -> Option<usize> {
    let k = channels.len().saturating_sub(1);
    let f = 1usize.checked_shl(k as u32)?;
    (h % f == 0 && w % f == 0 && h >= f && w >= f).then_some(k)
}

/// DCGAN-style generator `G(z, label) -> [batch, c, h, w]`.
#[derive(Module, Debug)]
pub struct ConvGenerator {
    /// class embedding `[classes, embedding_dim]` (conditional models only)
    pub embedding: Option<Param<Tensor<2>>>,
    /// z (+ embedding) -> `channels[0]` maps at the coarsest resolution
    pub project: Linear,
    /// BatchNorm of the projected maps
    pub project_norm: BatchNorm,
    /// upsampling blocks
    pub blocks: Vec<UpBlock>,
    /// last 3x3 conv to the image channels (tanh)
    pub output: Conv2d,
    #[module(skip)]
    base: [usize; 3],
    #[module(skip)]
    shape: [usize; 3],
}

impl ConvGenerator {
    /// Builds G for images of `shape = [c, h, w]`; `None` if the sides do not divide by
    /// 2^(len(channels) - 1).
    pub fn new(
        config: &GeneratorConfig,
        shape: [usize; 3],
        classes: Option<usize>,
        device: &Device,
    ) -> Option<Self> {
        let k = upsample_steps(&config.channels, shape)?;
        let [c, h, w] = shape;
        let base = [config.channels[0], h >> k, w >> k];
        let input = config.noise_dim + classes.map_or(0, |_| config.embedding_dim);
        let blocks = config
            .channels
            .windows(2)
            .map(|p| UpBlock::new(p[0], p[1], device))
            .collect();
        let last = *config.channels.last()?;
        Some(Self {
            embedding: classes.map(|n| embedding_table(n, config.embedding_dim, device)),
            project: LinearConfig::new(input, base.iter().product()).init(device),
            project_norm: BatchNormConfig::new(base[0]).init(device),
            blocks,
            output: conv3x3(last, c, device),
            base,
            shape,
        })
    }

    /// # Shapes
    /// - `z`: `[batch, noise_dim]`, `labels`: `[batch]` (conditional models)
    /// - output: `[batch, c, h, w]` in [-1, 1]
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<4> {
        self.forward_as(z, labels, UpsampleForm::Transposed)
    }

    /// [`ConvGenerator::forward`] with the up-blocks computed in `form` (the export
    /// captures [`UpsampleForm::Resize`]).
    pub fn forward_as(
        &self,
        z: Tensor<2>,
        labels: Option<Tensor<1, Int>>,
        form: UpsampleForm,
    ) -> Tensor<4> {
        let x = with_embedding(z, self.embedding.as_ref(), labels);
        let [c0, bh, bw] = self.base;
        let h = self
            .project
            .forward(x)
            .reshape([-1, c0 as i32, bh as i32, bw as i32]);
        let mut h = relu(self.project_norm.forward(h));
        for block in &self.blocks {
            h = block.forward(h, form);
        }
        tanh(self.output.forward(h))
    }

    /// `[c, h, w]` of the images it draws.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

/// Strided 3x3 conv, BatchNorm, ReLU (encoder step of the inpainting generator).
#[derive(Module, Debug)]
pub struct DownBlock {
    /// the convolution (stride 2)
    pub conv: Conv2d,
    /// its BatchNorm
    pub norm: BatchNorm,
}

/// Inpainting generator `G(z, mask, masked) -> [batch, c, h, w]`: a small U-Net whose
/// bottleneck also receives the noise, composited with the known pixels.
///
/// With `channels = [e1, e2, ...]`: encoder `2c -> e1 -> e2 ...` (stride 2 each), noise
/// projected to `noise_maps` maps at the bottleneck, decoder mirrored with skip
/// connections, and the mask and masked image concatenated again before the last conv.
#[derive(Module, Debug)]
pub struct InpaintGenerator {
    /// encoder, finest first
    pub down: Vec<DownBlock>,
    /// z -> maps at the bottleneck
    pub noise: Linear,
    /// decoder, coarsest first
    pub up: Vec<UpBlock>,
    /// last conv (decoder output + mask + masked -> c), tanh
    pub output: Conv2d,
    #[module(skip)]
    noise_shape: [usize; 3],
    #[module(skip)]
    shape: [usize; 3],
}

/// Noise maps at the inpainting bottleneck.
const NOISE_MAPS: usize = 8;

impl InpaintGenerator {
    /// Builds G for `shape = [c, h, w]`; `None` if the sides do not divide by
    /// 2^len(channels).
    pub fn new(config: &GeneratorConfig, shape: [usize; 3], device: &Device) -> Option<Self> {
        let [c, h, w] = shape;
        let levels = config.channels.len();
        let f = 1usize.checked_shl(levels as u32)?;
        if h % f != 0 || w % f != 0 || levels == 0 {
            return None;
        }
        let mut down = Vec::with_capacity(levels);
        let mut width = 2 * c;
        for &ch in &config.channels {
            down.push(DownBlock {
                conv: conv3x3_down(width, ch, device),
                norm: BatchNormConfig::new(ch).init(device),
            });
            width = ch;
        }
        let noise_shape = [NOISE_MAPS, h / f, w / f];
        // decoder: from (bottleneck + noise) up, each level's output concatenated with
        // the encoder's output of the same resolution
        let mut up = Vec::with_capacity(levels);
        let mut input = width + NOISE_MAPS;
        for level in (0..levels).rev() {
            let out = if level == 0 {
                config.channels[0].div_ceil(2).max(4)
            } else {
                config.channels[level - 1]
            };
            up.push(UpBlock::new(input, out, device));
            // skip connection of the next-finer encoder level (none at full resolution)
            input = out
                + if level > 0 {
                    config.channels[level - 1]
                } else {
                    0
                };
        }
        Some(Self {
            down,
            noise: LinearConfig::new(config.noise_dim, noise_shape.iter().product()).init(device),
            up,
            output: conv3x3(input + 2 * c, c, device),
            noise_shape,
            shape,
        })
    }

    /// # Shapes
    /// - `z`: `[batch, noise_dim]`; `mask`, `masked`: `[batch, c, h, w]` (1 = known)
    /// - output: `[batch, c, h, w]` in [-1, 1]; known pixels are `masked` exactly
    pub fn forward(&self, z: Tensor<2>, mask: Tensor<4>, masked: Tensor<4>) -> Tensor<4> {
        self.forward_as(z, mask, masked, UpsampleForm::Transposed)
    }

    /// [`InpaintGenerator::forward`] with the up-blocks computed in `form` (the export
    /// captures [`UpsampleForm::Resize`]).
    pub fn forward_as(
        &self,
        z: Tensor<2>,
        mask: Tensor<4>,
        masked: Tensor<4>,
        form: UpsampleForm,
    ) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut h = Tensor::cat(vec![mask.clone(), masked.clone()], 1);
        for block in &self.down {
            h = relu(block.norm.forward(block.conv.forward(h)));
            skips.push(h.clone());
        }
        let [nc, nh, nw] = self.noise_shape;
        let noise = self
            .noise
            .forward(z)
            .reshape([-1, nc as i32, nh as i32, nw as i32]);
        // the deepest skip is the bottleneck itself
        skips.pop();
        h = Tensor::cat(vec![h, relu(noise)], 1);
        for block in &self.up {
            h = block.forward(h, form);
            if let Some(skip) = skips.pop() {
                h = Tensor::cat(vec![h, skip], 1);
            }
        }
        let g = tanh(
            self.output
                .forward(Tensor::cat(vec![h, mask.clone(), masked.clone()], 1)),
        );
        // known pixels pass through exactly: 1 * masked + 0 * g
        mask.clone() * masked + (mask.neg() + 1.0) * g
    }

    /// `[c, h, w]` of the images it completes.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

/// Strided-convolution discriminator `D(x, condition) -> [batch]` logits. Conditions
/// arrive as extra input channels (tiled class embedding, or the mask); with
/// `projection`, a label-conditioned D also adds `<embed(y), features>`.
#[derive(Module, Debug)]
pub struct ConvDiscriminator {
    /// class embedding tiled over the image as channels (label-conditioned D)
    pub embedding: Option<Param<Tensor<2>>>,
    /// projection embedding `[classes, features]`
    pub projection: Option<Param<Tensor<2>>>,
    /// 4x4 stride-2 convolutions
    pub convs: Vec<Conv2d>,
    /// features -> logit
    pub output: Linear,
    #[module(skip)]
    shape: [usize; 3],
}

impl ConvDiscriminator {
    /// Builds D for images of `shape` with `extra_channels` condition channels (the mask
    /// of an inpainting D) and optionally class labels.
    pub fn new(
        config: &DiscriminatorConfig,
        shape: [usize; 3],
        extra_channels: usize,
        classes: Option<usize>,
        device: &Device,
    ) -> Self {
        let [c, mut h, mut w] = shape;
        let mut width = c + extra_channels + classes.map_or(0, |_| config.embedding_dim);
        let mut convs = Vec::with_capacity(config.channels.len());
        for &ch in &config.channels {
            convs.push(
                Conv2dConfig::new([width, ch], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            width = ch;
            h /= 2;
            w /= 2;
        }
        let features = width * h * w;
        Self {
            embedding: classes.map(|n| embedding_table(n, config.embedding_dim, device)),
            projection: classes
                .filter(|_| config.projection)
                .map(|n| embedding_table(n, features, device)),
            convs,
            output: LinearConfig::new(features, 1).init(device),
            shape,
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; `extra`: `[batch, e, h, w]` condition channels;
    ///   `labels`: `[batch]`
    /// - output: `[batch]` logits
    pub fn forward(
        &self,
        x: Tensor<4>,
        extra: Option<Tensor<4>>,
        labels: Option<Tensor<1, Int>>,
    ) -> Tensor<1> {
        let [b, _, h, w] = x.dims();
        let mut parts = vec![x];
        parts.extend(extra);
        if let (Some(table), Some(labels)) = (&self.embedding, &labels) {
            let e = table.val().select(0, labels.clone());
            let [_, dim] = e.dims();
            parts.push(e.reshape([b, dim, 1, 1]).expand([b, dim, h, w]));
        }
        let mut y = Tensor::cat(parts, 1);
        for conv in &self.convs {
            y = leaky_relu(conv.forward(y), 0.2);
        }
        let features = y.flatten::<2>(1, 3);
        let mut logit = self.output.forward(features.clone()).reshape([b]);
        if let (Some(table), Some(labels)) = (&self.projection, labels) {
            let p = table.val().select(0, labels);
            logit = logit + (p * features).sum_dim(1).reshape([b]);
        }
        logit
    }

    /// Image shape D judges.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, DiscriminatorConfig, GeneratorConfig};

    fn gen_config(channels: Vec<usize>) -> GeneratorConfig {
        GeneratorConfig {
            arch: Arch::Conv,
            channels,
            noise_dim: 4,
            embedding_dim: 3,
            ..GeneratorConfig::default()
        }
    }

    #[test]
    fn conv_generator_and_discriminator_shapes() {
        let device = Device::flex();
        let g =
            ConvGenerator::new(&gen_config(vec![8, 4, 2]), [1, 12, 8], Some(5), &device).unwrap();
        let z = Tensor::<2>::zeros([3, 4], &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 4, 2], [3]), &device);
        let x = g.forward(z, Some(labels.clone()));
        assert_eq!(x.dims(), [3, 1, 12, 8]);
        let d_config = DiscriminatorConfig {
            arch: Arch::Conv,
            channels: vec![4, 8],
            ..DiscriminatorConfig::default()
        };
        let d = ConvDiscriminator::new(&d_config, [1, 12, 8], 0, Some(5), &device);
        assert_eq!(d.forward(x, None, Some(labels)).dims(), [3]);
        // 12 does not divide by 8: three upsampling steps cannot reach it
        assert!(
            ConvGenerator::new(&gen_config(vec![8, 4, 2, 2]), [1, 12, 8], None, &device).is_none()
        );
    }

    #[test]
    fn inpainting_passes_known_pixels_through_exactly() {
        let device = Device::flex();
        let g = InpaintGenerator::new(&gen_config(vec![4, 8]), [1, 8, 8], &device).unwrap();
        let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(3);
        let masks = crate::data::images::masks::random_masks(
            crate::config::MaskKind::Mixed,
            2,
            [1, 8, 8],
            &mut rng,
        );
        let x: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 255) as f32) / 127.5 - 1.0)
            .collect();
        let masked = crate::data::images::masks::apply_mask(&x, &masks);
        let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [2, 1, 8, 8]), &device);
        let z = Tensor::<2>::ones([2, 4], &device);
        let out = g
            .forward(z, t(masks.clone()), t(masked.clone()))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let mut filled = 0;
        for i in 0..128 {
            if masks[i] == 1.0 {
                assert_eq!(out[i].to_bits(), x[i].to_bits(), "known pixel {i} changed");
            } else {
                assert!(out[i].abs() <= 1.0);
                filled += 1;
            }
        }
        assert!(filled > 0);
        let d_config = DiscriminatorConfig {
            arch: Arch::Conv,
            channels: vec![4],
            ..DiscriminatorConfig::default()
        };
        let d = ConvDiscriminator::new(&d_config, [1, 8, 8], 1, None, &device);
        let out = Tensor::<4>::from_data(TensorData::new(out, [2, 1, 8, 8]), &device);
        assert_eq!(d.forward(out, Some(t(masks)), None).dims(), [2]);
    }
}
