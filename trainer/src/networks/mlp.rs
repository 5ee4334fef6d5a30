//! The fully connected pair: [`MlpGenerator`] `G(z, label)` and [`MlpDiscriminator`]
//! `D(x, label)` (PacGAN packing optional), for points or flattened images.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::tanh;

use super::layers::{activate, embedding_table, with_embedding};
use crate::config::{Activation, DiscriminatorConfig, GeneratorConfig, OutputActivation};

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
        let mut x = with_embedding(z, self.embedding.as_ref(), labels);
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
        let mut h = with_embedding(x, self.embedding.as_ref(), labels);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
