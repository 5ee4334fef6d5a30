//! Test generators shared by the integration tests: small random networks in the shapes of
//! edgegan's generators.
#![allow(dead_code)]

use edgegan_compiler::builder::{
    AlignedBytes, Calibration, Conv2dSpec, Graph, GraphBuilder, TensorId, WriteOptions,
};
use edgegan_runtime::noise::Gaussian;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, WeightFormat};

/// `n` normals times `scale`, from `seed` (weights, deterministic).
pub fn rand_vec(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut v = vec![0.0; n];
    Gaussian::new(seed).fill(&mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

/// He-style init for a layer with `fan_in` inputs.
fn init(seed: u64, n: usize, fan_in: usize) -> Vec<f32> {
    rand_vec(seed, n, (2.0 / fan_in as f32).sqrt())
}

/// MLP generator 8 → 32 → 16, leaky relu and tanh: unconditional.
pub fn mlp() -> Graph {
    let mut g = GraphBuilder::new(8, ConditionKind::None);
    let z = g.noise();
    let h = g
        .dense(z, 32, &init(1, 32 * 8, 8), Some(&rand_vec(2, 32, 0.1)))
        .unwrap();
    let h = g.leaky_relu(h, 0.2).unwrap();
    let y = g
        .dense(h, 16, &init(3, 16 * 32, 32), Some(&rand_vec(4, 16, 0.1)))
        .unwrap();
    let y = g.tanh(y).unwrap();
    let y = g.reshape(y, &[1, 4, 4]).unwrap();
    g.finish(y, (-1.0, 1.0)).unwrap()
}

/// Conv generator: dense → relu → reshape → upsample → conv → relu → conv → tanh,
/// output `[1, 8, 8]`.
pub fn conv() -> Graph {
    let mut g = GraphBuilder::new(8, ConditionKind::None);
    let z = g.noise();
    let h = g
        .dense(z, 64, &init(11, 64 * 8, 8), Some(&rand_vec(12, 64, 0.1)))
        .unwrap();
    let h = g.relu(h).unwrap();
    let h = g.reshape(h, &[4, 4, 4]).unwrap();
    let h = g.upsample(h, 2, 2).unwrap();
    let h = g
        .conv2d(
            h,
            Conv2dSpec::same(6, 3),
            &init(13, 6 * 4 * 9, 36),
            Some(&rand_vec(14, 6, 0.1)),
        )
        .unwrap();
    let h = g.relu(h).unwrap();
    let y = g
        .conv2d(h, Conv2dSpec::same(1, 3), &init(15, 6 * 9, 54), None)
        .unwrap();
    let y = g.tanh(y).unwrap();
    g.finish(y, (-1.0, 1.0)).unwrap()
}

pub const CLASSES: u32 = 5;

/// Label-conditioned MLP: concat(z, embedding[label]) → 32 → 16, tanh.
pub fn label_mlp() -> Graph {
    let mut g = GraphBuilder::new(8, ConditionKind::Label { classes: CLASSES });
    let z = g.noise();
    let e = g
        .label_embedding(&rand_vec(21, CLASSES as usize * 4, 1.0), 4)
        .unwrap();
    let x = g.concat(&[z, e]).unwrap();
    let h = g
        .dense(x, 32, &init(22, 32 * 12, 12), Some(&rand_vec(23, 32, 0.1)))
        .unwrap();
    let h = g.relu(h).unwrap();
    let y = g.dense(h, 16, &init(24, 16 * 32, 32), None).unwrap();
    let y = g.sigmoid(y).unwrap();
    g.finish(y, (0.0, 1.0)).unwrap()
}

pub const MASK: ConditionKind = ConditionKind::Mask {
    channels: 1,
    height: 4,
    width: 4,
};

/// Inpainting generator: g = tanh(dense(concat(z, masked))), out = m·masked + (1 − m)·g.
pub fn mask_gen() -> Graph {
    let mut g = GraphBuilder::new(8, MASK);
    let (z, m, xm) = (g.noise(), g.mask().unwrap(), g.masked().unwrap());
    let flat = g.reshape(xm, &[16]).unwrap();
    let x = g.concat(&[z, flat]).unwrap();
    let h = g.dense(x, 24, &init(31, 24 * 24, 24), None).unwrap();
    let h = g.relu(h).unwrap();
    let fake = g.dense(h, 16, &init(32, 16 * 24, 24), None).unwrap();
    let fake = g.tanh(fake).unwrap();
    let fake = g.reshape(fake, &[1, 4, 4]).unwrap();
    let known = g.mul(m, xm).unwrap();
    let one = g.constant(&[1], &[1.0]).unwrap();
    let inv = g.sub(one, m).unwrap();
    let fill = g.mul(inv, fake).unwrap();
    let y = g.add(known, fill).unwrap();
    g.finish(y, (-1.0, 1.0)).unwrap()
}

/// A deterministic mask (`1` where `(i + seed) % 3 == 0`) and masked object.
pub fn mask_inputs(seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mask: Vec<f32> = (0..16)
        .map(|i| {
            if (i + seed).is_multiple_of(3) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let obj = rand_vec(seed + 1000, 16, 0.5)
        .iter()
        .map(|v| v.clamp(-1.0, 1.0))
        .collect::<Vec<_>>();
    let masked = obj.iter().zip(&mask).map(|(o, m)| o * m).collect();
    (mask, masked)
}

/// Calibrates on 256 samples, cycling labels / masks as the condition needs.
pub fn calibrate(graph: &Graph) -> Calibration {
    let masks: Vec<(Vec<f32>, Vec<f32>)> = (0..8).map(mask_inputs).collect();
    let samples = (0..256u64).map(|s| {
        let c = match graph.condition {
            ConditionKind::None => Condition::None,
            ConditionKind::Label { classes } => Condition::Label((s % u64::from(classes)) as u32),
            ConditionKind::Mask { .. } => {
                let (m, x) = &masks[(s % 8) as usize];
                Condition::Mask { mask: m, masked: x }
            }
        };
        (10_000 + s, c)
    });
    graph.calibrate(samples).unwrap()
}

/// The graph written in `format` (w8a8 calibrated), in aligned memory.
pub fn write(graph: &Graph, format: WeightFormat) -> AlignedBytes {
    let opts = match format {
        WeightFormat::F32 => WriteOptions::f32(),
        WeightFormat::W8A32 => WriteOptions::w8a32(),
        WeightFormat::W8A8 => WriteOptions::w8a8(calibrate(graph)),
    };
    AlignedBytes::new(&graph.write(&opts).unwrap())
}

pub const FORMATS: [WeightFormat; 3] = [WeightFormat::F32, WeightFormat::W8A32, WeightFormat::W8A8];

/// `graph` written as f32 and as w8a8 with the noise `z`'s range set to [-4, 4] (the
/// other tensors' ranges follow from it: the tests of data-moving and clamping ops, whose
/// int8 output shares its input's quantisation).
pub fn f32_and_w8a8_noise_in_4(graph: &Graph, z: TensorId) -> (Vec<u8>, Vec<u8>) {
    let mut cal = Calibration::new();
    cal.set(z, -4.0, 4.0);
    (
        graph.write(&WriteOptions::f32()).unwrap(),
        graph.write(&WriteOptions::w8a8(cal)).unwrap(),
    )
}

/// One unconditional sample of `bytes` from `seed`.
pub fn sample_none(bytes: &[u8], seed: u64) -> Vec<f32> {
    let bytes = AlignedBytes::new(bytes);
    let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut x = vec![0.0; model.output_len()];
    model
        .sample(seed, Condition::None, &mut arena, &mut x)
        .unwrap();
    x
}
