//! Building blocks shared by the MLP and convolutional networks, each written so the
//! generator exports to ONNX with burn-onnx 0.22.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};

use crate::config::Activation;

/// Applies a hidden activation in an export-friendly way.
pub fn activate<const D: usize>(x: Tensor<D>, activation: Activation) -> Tensor<D> {
    match activation {
        Activation::Relu => relu(x),
        // burn-onnx 0.22 does not lower LeakyRelu; this form exports as Relu/Neg/Mul/Sub.
        Activation::LeakyRelu { slope } => relu(x.clone()) - relu(-x).mul_scalar(slope),
        Activation::Tanh => tanh(x),
    }
}

/// A class-embedding table `[classes, dim]`, looked up with `select` (ONNX Gather).
pub fn embedding_table(classes: usize, dim: usize, device: &Device) -> Param<Tensor<2>> {
    Initializer::Normal {
        mean: 0.0,
        std: 1.0,
    }
    .init([classes, dim], device)
}

/// `[x, table[labels]]` along the features when the network is label-conditioned (the
/// table exists and labels are given); `x` unchanged otherwise.
pub fn with_embedding(
    x: Tensor<2>,
    table: Option<&Param<Tensor<2>>>,
    labels: Option<Tensor<1, Int>>,
) -> Tensor<2> {
    match (table, labels) {
        // [batch, features + embedding_dim]
        (Some(table), Some(labels)) => Tensor::cat(vec![x, table.val().select(0, labels)], 1),
        _ => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
