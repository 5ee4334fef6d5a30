//! The Pad op through the writer: f32 is the padding of its input as ONNX defines it
//! (reflect, edge, constant), w8a8 is the same copy of int8 codes with the constant
//! quantised in the input's quantisation, and bad pads are an error naming the op.

mod common;

use common::{f32_and_w8a8_noise_in_4, sample_none};
use edgegan_compiler::builder::GraphBuilder;
use edgegan_runtime::ops::pad;
use edgegan_runtime::quant::{dequantize_i8, quantize_i8};
use edgegan_runtime::{ConditionKind, noise};

/// z[12] as [1, 3, 4], padded by `pads` (top, left, bottom, right) in `mode`; f32 and
/// w8a8 with z's range [-4, 4].
fn models(pads: [usize; 4], mode: u32, value: f32) -> (Vec<u8>, Vec<u8>) {
    let mut g = GraphBuilder::new(12, ConditionKind::None);
    let z = g.noise();
    let x = g.reshape(z, &[1, 3, 4]).unwrap();
    let y = g.pad(x, pads, mode, value).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    f32_and_w8a8_noise_in_4(&graph, z)
}

/// The padded [3, 4] plane by ONNX's definition, `value` outside for constant mode.
fn reference(z: &[f32], pads: [usize; 4], mode: u32, value: f32) -> Vec<f32> {
    let (h, w) = (3isize, 4isize);
    let [t, l, b, r] = pads.map(|p| p as isize);
    let map = |i: isize, n: isize| match mode {
        pad::REFLECT if i < 0 => Some(-i),
        pad::REFLECT if i >= n => Some(2 * (n - 1) - i),
        pad::EDGE => Some(i.clamp(0, n - 1)),
        _ => (0..n).contains(&i).then_some(i),
    };
    let mut out = vec![];
    for oy in 0..h + t + b {
        for ox in 0..w + l + r {
            out.push(match (map(oy - t, h), map(ox - l, w)) {
                (Some(y), Some(x)) => z[(y * w + x) as usize],
                _ => value,
            });
        }
    }
    out
}

const CASES: [([usize; 4], u32, f32); 4] = [
    ([1, 1, 1, 1], pad::REFLECT, 0.0),
    ([2, 3, 0, 1], pad::REFLECT, 0.0),
    ([1, 2, 2, 0], pad::EDGE, 0.0),
    ([1, 1, 2, 2], pad::CONSTANT, -0.75),
];

#[test]
fn f32_pad_is_onnx_pad_of_the_noise() {
    for (pads, mode, value) in CASES {
        let (f32_model, _) = models(pads, mode, value);
        for seed in 0..4 {
            let mut z = vec![0.0f32; 12];
            noise::fill(seed, &mut z);
            let want = reference(&z, pads, mode, value);
            assert_eq!(sample_none(&f32_model, seed), want, "{pads:?} mode {mode}");
        }
    }
}

#[test]
fn w8a8_pad_copies_codes_and_quantises_the_constant() {
    // z's quantisation: [-4, 4] over 255 steps (the writer's rule), shared by the output
    let scale = (8.0f64 / 255.0) as f32;
    let zero_point = (-128.0f64 - (-4.0f64) / f64::from(scale)).round() as i32;
    let q = |v: f32| dequantize_i8(quantize_i8(v, scale, zero_point), scale, zero_point);
    for (pads, mode, value) in CASES {
        let (_, w8a8) = models(pads, mode, value);
        for seed in 0..4 {
            let mut z = vec![0.0f32; 12];
            noise::fill(seed, &mut z);
            let zq: Vec<f32> = z.iter().map(|&v| q(v)).collect();
            let want = reference(&zq, pads, mode, q(value));
            assert_eq!(sample_none(&w8a8, seed), want, "{pads:?} mode {mode}");
        }
    }
}

#[test]
fn bad_pads_are_an_error_naming_the_op() {
    let build = |pads: [usize; 4], mode: u32, value: f32, shape: &[usize]| {
        let mut g = GraphBuilder::new(12, ConditionKind::None);
        let z = g.noise();
        let x = g.reshape(z, shape).unwrap();
        g.pad(x, pads, mode, value)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    // reflect mirrors at most the side minus one (height 3: pad 3 is too much)
    let e = build([3, 0, 0, 0], pad::REFLECT, 0.0, &[1, 3, 4]);
    assert!(e.contains("Pad") && e.contains("reflect"), "{e}");
    let e = build([0, 0, 0, 0], 7, 0.0, &[1, 3, 4]);
    assert!(e.contains("Pad") && e.contains("mode 7"), "{e}");
    let e = build([1, 1, 1, 1], pad::CONSTANT, f32::NAN, &[1, 3, 4]);
    assert!(e.contains("Pad") && e.contains("finite"), "{e}");
    let e = build([1, 1, 1, 1], pad::CONSTANT, 0.0, &[3, 4]);
    assert!(e.contains("Pad") && e.contains("[C, H, W]"), "{e}");
}
