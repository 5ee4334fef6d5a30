//! The networks: an MLP generator and an MLP discriminator, both optionally conditioned
//! on a class label through a learned embedding table.
//!
//! The generator is written so burn-onnx 0.22 can export it: the class embedding is a
//! parameter table read with `select` (exports as Gather), leaky ReLU is spelled
//! `relu(x) - a * relu(-x)`, and there are no random ops inside `forward` (noise is an
//! input).

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use crate::config::{Activation, DiscriminatorConfig, GeneratorConfig, OutputActivation};

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
pub struct Generator {
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
    pub fn init(&self, out_dim: usize, classes: Option<usize>, device: &Device) -> Generator {
        let embedding = classes.map(|c| embedding_table(c, self.embedding_dim, device));
        let input = self.noise_dim + classes.map_or(0, |_| self.embedding_dim);
        let (hidden, width) = mlp(input, &self.hidden, device);
        Generator {
            embedding,
            hidden,
            output: LinearConfig::new(width, out_dim).init(device),
            activation: self.activation,
            output_activation: self.output,
        }
    }
}

impl Generator {
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
pub struct Discriminator {
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
    pub fn init(&self, in_dim: usize, classes: Option<usize>, device: &Device) -> Discriminator {
        let embedding = classes.map(|c| embedding_table(c, self.embedding_dim, device));
        let input = (in_dim + classes.map_or(0, |_| self.embedding_dim)) * self.pack.max(1);
        let (hidden, width) = mlp(input, &self.hidden, device);
        Discriminator {
            embedding,
            hidden,
            output: LinearConfig::new(width, 1).init(device),
            activation: self.activation,
            pack: self.pack.max(1),
        }
    }
}

impl Discriminator {
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

/// Parameter count and the weight bytes as f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelSize {
    /// number of scalar parameters
    pub params: usize,
    /// bytes as f32
    pub f32_bytes: usize,
}

impl ModelSize {
    /// Size of any module.
    pub fn of<M: Module>(module: &M) -> Self {
        let params = module.num_params();
        Self {
            params,
            f32_bytes: params * 4,
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
