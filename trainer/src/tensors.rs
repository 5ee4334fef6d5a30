//! Moving values between Rust and Burn: row-major data in as tensors, tensors read back
//! out with a read failure as a [`TrainError`] rather than a panic.

use burn::prelude::*;

use crate::error::{Result, TrainError};

/// Reads a scalar tensor, turning a read failure into a [`TrainError`].
pub fn read_scalar(t: Tensor<1>) -> Result<f32> {
    t.try_into_scalar::<f32>()
        .map_err(|e| TrainError::Tensor(format!("{e:?}")))
}

/// Reads `N` scalar (`[1]`) tensors back in one transfer.
pub fn read_scalars<const N: usize>(ts: [Tensor<1>; N]) -> Result<[f32; N]> {
    let values = read_vec(Tensor::cat(Vec::from(ts), 0))?;
    values
        .try_into()
        .map_err(|v: Vec<f32>| TrainError::Tensor(format!("{N} scalars read back as {}", v.len())))
}

/// Reads a float tensor into a Vec.
pub fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Tensor(format!("{e:?}")))
}

/// Row-major `data` as a `[rows, data.len() / rows]` matrix.
pub fn matrix(data: Vec<f32>, rows: usize, device: &Device) -> Tensor<2> {
    let cols = data.len() / rows.max(1);
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// Class labels as an int tensor `[labels.len()]`.
pub fn labels(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}
