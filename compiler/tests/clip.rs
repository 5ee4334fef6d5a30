//! The Clip op through the writer (the worked example of "Adding an op"): f32 is the
//! clamp of its input, w8a8 is the clamp in the input's int8 domain, exactly.

mod common;

use common::{f32_and_w8a8_noise_in_4, sample_none};
use edgegan_compiler::builder::GraphBuilder;
use edgegan_runtime::ops::clip;
use edgegan_runtime::quant::{dequantize_i8, quantize_i8};
use edgegan_runtime::{ConditionKind, noise};

/// z[64] -> Clip(lo, hi), as f32 and as w8a8 with z's range [-4, 4].
fn models(lo: f32, hi: f32) -> (Vec<u8>, Vec<u8>) {
    let mut g = GraphBuilder::new(64, ConditionKind::None);
    let z = g.noise();
    let y = g.elementwise(&clip::ELEMENTWISE, z, &[lo, hi]).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    f32_and_w8a8_noise_in_4(&graph, z)
}

#[test]
fn f32_clip_is_the_clamp_of_the_noise() {
    for (lo, hi) in [(0.0, 6.0), (-1.0, 1.0), (-0.3, 0.7)] {
        let (f32_model, _) = models(lo, hi);
        for seed in 0..8 {
            let mut z = vec![0.0f32; 64];
            noise::fill(seed, &mut z);
            let want: Vec<f32> = z.iter().map(|v| v.clamp(lo, hi)).collect();
            assert_eq!(sample_none(&f32_model, seed), want);
        }
    }
}

#[test]
fn w8a8_clip_is_exact_in_the_int8_domain() {
    // z's quantisation: [-4, 4] over 255 steps (the writer's rule), shared by the output
    let scale = (8.0f64 / 255.0) as f32;
    let zero_point = (-128.0f64 - (-4.0f64) / f64::from(scale)).round() as i32;
    for (lo, hi) in [(0.0, 6.0), (-1.0, 1.0), (-0.3, 0.7)] {
        let (_, w8a8) = models(lo, hi);
        for seed in 0..8 {
            let mut z = vec![0.0f32; 64];
            noise::fill(seed, &mut z);
            let want: Vec<f32> = z
                .iter()
                .map(|&v| {
                    let q = quantize_i8(v, scale, zero_point);
                    let clipped = dequantize_i8(q, scale, zero_point).clamp(lo, hi);
                    dequantize_i8(quantize_i8(clipped, scale, zero_point), scale, zero_point)
                })
                .collect();
            assert_eq!(sample_none(&w8a8, seed), want, "[{lo}, {hi}] seed {seed}");
        }
    }
}

#[test]
fn clip_bounds_are_checked_by_the_writer() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let err = g
        .elementwise(&clip::ELEMENTWISE, z, &[1.0, -1.0])
        .unwrap_err();
    assert_eq!(err.to_string(), "op 0 (Clip): clip needs min <= max");
}
