//! Nearest x2 upsampling followed by a 3x3 convolution (stride 1, padding 1), computed
//! at the input resolution: the generators' up-blocks spend almost all of a training
//! step here, and this form does 4/9 of the multiply-adds of the upsampled one.
//!
//! After nearest upsampling, output pixel `(2i + a, 2j + b)` sees only input rows
//! `i - 1 + a ..= i + a` and columns `j - 1 + b ..= j + b`: each of the four phases
//! `(a, b)` is a 2x2 convolution of the input whose taps are sums of the 3x3 taps
//! (row taps `[w0, w1 + w2]` for `a = 0`, `[w0 + w1, w2]` for `a = 1`; the same for
//! columns). All four are one 2x2 convolution with `4 * out` channels over the input
//! padded by 1, whose `(H + 1) x (W + 1)` outputs hold phase `(a, b)` at offset `(a, b)`;
//! interleaving the phases gives the `2H x 2W` result. The phase kernels are computed
//! from the 3x3 weight inside the graph, so gradients reach the same parameters; only
//! the summation order differs from the upsampled form (float rounding). The exported
//! ONNX keeps the upsampled form (Resize + Conv), which the device compiler lowers.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

/// Taps of the 2x2 phase kernels as sums of 3x3 taps: `[9, 16]`, row `dy * 3 + dx` of
/// the 3x3 kernel, column `((a * 2 + b) * 2 + r) * 2 + s` for phase `(a, b)`, tap `(r, s)`.
fn phase_taps() -> Vec<f32> {
    // which 3x3 rows (columns) feed tap r (s) of phase a (b)
    const FEEDS: [[[bool; 3]; 2]; 2] = [
        [[true, false, false], [false, true, true]],
        [[true, true, false], [false, false, true]],
    ];
    let mut taps = vec![0.0; 9 * 16];
    for dy in 0..3 {
        for dx in 0..3 {
            for (a, rows) in FEEDS.iter().enumerate() {
                for (b, cols) in FEEDS.iter().enumerate() {
                    for r in 0..2 {
                        for s in 0..2 {
                            if rows[r][dy] && cols[s][dx] {
                                taps[(dy * 3 + dx) * 16 + ((a * 2 + b) * 2 + r) * 2 + s] = 1.0;
                            }
                        }
                    }
                }
            }
        }
    }
    taps
}

/// `conv(upsample_nearest_x2(x))` for a 3x3, stride-1, padding-1 `conv`, computed at the
/// input's resolution (module docs).
///
/// # Shapes
/// - `x`: `[batch, in, h, w]`; output `[batch, out, 2h, 2w]`
pub fn upsample2_conv3x3(x: Tensor<4>, conv: &Conv2d) -> Tensor<4> {
    let [batch, _, h, w] = x.dims();
    let weight = conv.weight.val();
    let [out, input, _, _] = weight.dims();
    let device = weight.device();
    let taps = Tensor::<2>::from_data(TensorData::new(phase_taps(), [9, 16]), &device);
    // [out, in, (a, b, r, s)] -> [(a, b, out), in, r, s]
    let kernels = weight
        .reshape([out * input, 9])
        .matmul(taps)
        .reshape([out, input, 2, 2, 2, 2])
        .permute([2, 3, 0, 1, 4, 5])
        .reshape([4 * out, input, 2, 2]);
    let bias = conv.bias.as_ref().map(|b| {
        b.val()
            .reshape([1, out])
            .repeat_dim(0, 4)
            .reshape([4 * out])
    });
    // [batch, (a, b, out), h + 1, w + 1]
    let y = conv2d(
        x,
        kernels,
        bias,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    let phase = |a: usize, b: usize| {
        y.clone()
            .narrow(1, (a * 2 + b) * out, out)
            .narrow(2, a, h)
            .narrow(3, b, w)
    };
    // [batch, out, h, w, b] per a, then [batch, out, h, a, w, b]
    let row = |a: usize| Tensor::stack::<5>(vec![phase(a, 0), phase(a, 1)], 4);
    Tensor::stack::<6>(vec![row(0), row(1)], 3).reshape([batch, out, 2 * h, 2 * w])
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
