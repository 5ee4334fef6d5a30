//! The Clip op through the writer (the worked example of "Adding an op"): f32 is the
//! clamp of its input, w8a8 is the clamp in the input's int8 domain, exactly.

use edgegan_compiler::builder::{AlignedBytes, GraphBuilder, WriteOptions};
use edgegan_runtime::ops::clip;
use edgegan_runtime::quant::{dequantize_i8, quantize_i8};
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, noise};

/// z[64] -> Clip(lo, hi), as f32 and as w8a8 with z's range [-4, 4].
fn models(lo: f32, hi: f32) -> (Vec<u8>, Vec<u8>) {
    let mut g = GraphBuilder::new(64, ConditionKind::None);
    let z = g.noise();
    let y = g.elementwise(&clip::ELEMENTWISE, z, &[lo, hi]).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    let mut cal = edgegan_compiler::builder::Calibration::new();
    cal.set(z, -4.0, 4.0);
    (
        graph.write(&WriteOptions::f32()).unwrap(),
        graph.write(&WriteOptions::w8a8(cal)).unwrap(),
    )
}

fn sample(bytes: &[u8], seed: u64) -> Vec<f32> {
    let bytes = AlignedBytes::new(bytes);
    let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut x = vec![0.0; model.output_len()];
    model
        .sample(seed, Condition::None, &mut arena, &mut x)
        .unwrap();
    x
}

#[test]
fn f32_clip_is_the_clamp_of_the_noise() {
    for (lo, hi) in [(0.0, 6.0), (-1.0, 1.0), (-0.3, 0.7)] {
        let (f32_model, _) = models(lo, hi);
        for seed in 0..8 {
            let mut z = vec![0.0f32; 64];
            noise::fill(seed, &mut z);
            let want: Vec<f32> = z.iter().map(|v| v.clamp(lo, hi)).collect();
            assert_eq!(sample(&f32_model, seed), want);
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
            assert_eq!(sample(&w8a8, seed), want, "[{lo}, {hi}] seed {seed}");
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
