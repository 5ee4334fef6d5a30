//! Nearest x2 upsampling followed by a 3x3 convolution (stride 1, padding 1), computed
//! from the input resolution: the generators' up-blocks spend most of a training step
//! here, and this form does 4/9 of the multiply-adds of the upsampled one and never
//! builds the upsampled tensor.
//!
//! After nearest upsampling, output row `2i + a` sees only input rows `i - 1 + a` and
//! `i + a`, with row taps that are sums of the 3x3 taps: `w0` and `w1 + w2` for `a = 0`,
//! `w0 + w1` and `w2` for `a = 1` (the same for columns). That is exactly a transposed
//! convolution with stride 2, padding 1 and the 4-tap kernel `[w2, w1 + w2, w0 + w1, w0]`
//! per axis, which one `conv_transpose2d` computes straight into the `2H x 2W` output.
//! The 4x4 kernel is computed from the 3x3 weight inside the graph, so gradients reach
//! the same parameters; only the summation order differs from the upsampled form (float
//! rounding). The exported ONNX keeps the upsampled form (Resize + Conv), which the
//! device compiler lowers.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;

/// Which 3x3 taps (index 0..3 along one axis) sum into each of the 4 transposed-kernel
/// taps along that axis: `[w2, w1 + w2, w0 + w1, w0]`.
const FEEDS: [[bool; 3]; 4] = [
    [false, false, true],
    [false, true, true],
    [true, true, false],
    [true, false, false],
];

/// The linear map from a 3x3 kernel to the 4x4 transposed kernel: `[9, 16]`, row
/// `dy * 3 + dx`, column `ky * 4 + kx`.
fn transposed_taps() -> Vec<f32> {
    let mut taps = vec![0.0; 9 * 16];
    for (dy, dx) in (0..3).flat_map(|dy| (0..3).map(move |dx| (dy, dx))) {
        for (ky, rows) in FEEDS.iter().enumerate() {
            for (kx, cols) in FEEDS.iter().enumerate() {
                if rows[dy] && cols[dx] {
                    taps[(dy * 3 + dx) * 16 + ky * 4 + kx] = 1.0;
                }
            }
        }
    }
    taps
}

/// `conv(upsample_nearest_x2(x))` for a 3x3, stride-1, padding-1 `conv`, as one
/// stride-2 transposed convolution (module docs).
///
/// # Shapes
/// - `x`: `[batch, in, h, w]`; output `[batch, out, 2h, 2w]`
pub fn upsample2_conv3x3(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
    let weight = conv.weight.val();
    let [out, input, _, _] = weight.dims();
    let device = weight.device();
    let taps = Tensor::<2>::from_data(TensorData::new(transposed_taps(), [9, 16]), &device);
    // [out, in, 3, 3] -> [in, out, 4, 4], the transposed convolution's layout
    let kernel = weight
        .reshape([out * input, 9])
        .matmul(taps)
        .reshape([out, input, 4, 4])
        .swap_dims(0, 1);
    let bias = conv.bias.as_ref().map(|b| b.val());
    conv_transpose2d(
        x,
        kernel,
        bias,
        ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
    )
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

    use super::*;

    fn upsampled(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
        conv.forward(interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
        ))
    }

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let a = a.into_data().try_into_vec::<f32>().unwrap();
        let b = b.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Values and the gradients of input, weight and bias match the upsampled form on
    /// a non-square input with every border phase present.
    #[test]
    fn matches_upsample_then_conv_with_gradients() {
        let device = Device::flex().autodiff();
        let conv = Conv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let data: Vec<f32> = (0..2 * 3 * 4 * 3)
            .map(|i| ((i * 53 % 97) as f32) / 48.5 - 1.0)
            .collect();
        let input = || {
            Tensor::<4>::from_data(TensorData::new(data.clone(), [2, 3, 4, 3]), &device)
                .require_grad()
        };
        let (x_fast, x_plain) = (input(), input());
        let fast = upsample2_conv3x3(x_fast.clone(), &conv);
        let plain = upsampled(x_plain.clone(), &conv);
        assert_eq!(fast.dims(), [2, 5, 8, 6]);
        assert!(max_diff(fast.clone(), plain.clone()) < 1e-5);
        // a loss that weights every output differently, so a misplaced phase shows up
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..2 * 5 * 8 * 6)
                    .map(|i| (i % 7) as f32 - 3.0)
                    .collect::<Vec<_>>(),
                [2, 5, 8, 6],
            ),
            &device,
        );
        let g_fast = (fast * weights.clone()).sum().backward();
        let g_plain = (plain * weights).sum().backward();
        let grad = |t: &Tensor<4>, g| t.grad(g).expect("input gradient");
        assert!(max_diff(grad(&x_fast, &g_fast), grad(&x_plain, &g_plain)) < 1e-4);
        let w = conv.weight.val();
        assert!(max_diff(w.grad(&g_fast).unwrap(), w.grad(&g_plain).unwrap()) < 1e-3);
        let b = conv.bias.as_ref().unwrap().val();
        assert!(max_diff(b.grad(&g_fast).unwrap(), b.grad(&g_plain).unwrap()) < 1e-3);
    }
}
