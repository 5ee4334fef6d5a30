//! Small generators written with the runtime's `GraphBuilder`, for trying the tools (and
//! for the tests) before trained models exist. Weights are deterministic pseudo-random.

use edgegan_compiler::builder::{Conv2dSpec, Graph, GraphBuilder, WriteOptions};
use edgegan_runtime::{Condition, ConditionKind, WeightFormat};

use crate::Result;

/// Which demo generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoKind {
    /// Label-conditioned MLP: `z[8] ++ embed(label)[8] → Dense 32 → ReLU → Dense 64 → Tanh`,
    /// output `[64]` (10 classes).
    Mlp,
    /// Unconditional conv generator: `z[8] → Dense 64 → ReLU → [4,4,4] → Upsample ×2 →
    /// Conv 3×3 (4→1) → Tanh`, output `[1, 8, 8]`.
    Conv,
    /// A model whose arena (128 KiB of activations) does not fit 64 KiB of RAM: `z[8] →
    /// [8,1,1] → Upsample ×(64,64) → Tanh`.
    Wide,
    /// Mask-conditioned (inpainting) conv generator on `[1, 8, 8]`: `z[8] → Dense 64 →
    /// [1,8,8]`, concatenated with mask and masked → Conv 3×3 (3→1) → Tanh, composited so
    /// known pixels pass through (`masked + (1 − mask) · y`), like the trained inpainters.
    Inpaint,
}

/// Mask shape of the inpainting demo model.
pub const INPAINT_SHAPE: [u32; 3] = [1, 8, 8];

/// Classes of the label-conditioned demo model.
pub const MLP_CLASSES: u32 = 10;

/// A tiny deterministic generator of weights in `[-scale, scale)` (an LCG: no `rand`).
struct Weights(u64);

impl Weights {
    fn take(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let unit = (self.0 >> 40) as f32 / (1u64 << 24) as f32;
                (unit * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

fn graph(kind: DemoKind) -> Result<Graph> {
    let mut w = Weights(0x6564_6765_6761_6E21);
    let graph = match kind {
        DemoKind::Mlp => {
            let classes = MLP_CLASSES as usize;
            let mut g = GraphBuilder::new(
                8,
                ConditionKind::Label {
                    classes: MLP_CLASSES,
                },
            );
            let z = g.noise();
            let e = g.label_embedding(&w.take(classes * 8, 1.0), 8)?;
            let x = g.concat(&[z, e])?;
            let h = g.dense(x, 32, &w.take(32 * 16, 0.5), Some(&w.take(32, 0.1)))?;
            let h = g.relu(h)?;
            let y = g.dense(h, 64, &w.take(64 * 32, 0.35), Some(&w.take(64, 0.1)))?;
            let y = g.tanh(y)?;
            g.finish(y, (-1.0, 1.0))?
        }
        DemoKind::Conv => {
            let mut g = GraphBuilder::new(8, ConditionKind::None);
            let z = g.noise();
            let h = g.dense(z, 64, &w.take(64 * 8, 0.6), Some(&w.take(64, 0.1)))?;
            let h = g.relu(h)?;
            let h = g.reshape(h, &[4, 4, 4])?;
            let h = g.upsample(h, 2, 2)?;
            let y = g.conv2d(h, Conv2dSpec::same(1, 3), &w.take(4 * 9, 0.4), Some(&[0.0]))?;
            let y = g.tanh(y)?;
            g.finish(y, (-1.0, 1.0))?
        }
        DemoKind::Inpaint => {
            let [channels, height, width] = INPAINT_SHAPE;
            let mut g = GraphBuilder::new(
                8,
                ConditionKind::Mask {
                    channels,
                    height,
                    width,
                },
            );
            let (Some(mask), Some(masked)) = (g.mask(), g.masked()) else {
                unreachable!("a mask-conditioned graph has mask inputs")
            };
            let z = g.noise();
            let h = g.dense(z, 64, &w.take(64 * 8, 0.6), Some(&w.take(64, 0.1)))?;
            let h = g.reshape(h, &[1, 8, 8])?;
            let x = g.concat(&[mask, masked, h])?;
            let y = g.conv2d(x, Conv2dSpec::same(1, 3), &w.take(3 * 9, 0.4), Some(&[0.0]))?;
            let y = g.tanh(y)?;
            let ones = g.constant(&[1, 8, 8], &[1.0; 64])?;
            let unknown = g.sub(ones, mask)?;
            let y = g.mul(y, unknown)?;
            let y = g.add(y, masked)?;
            g.finish(y, (-1.0, 1.0))?
        }
        DemoKind::Wide => {
            let mut g = GraphBuilder::new(8, ConditionKind::None);
            let z = g.noise();
            let h = g.reshape(z, &[8, 1, 1])?;
            let h = g.upsample(h, 64, 64)?;
            let y = g.tanh(h)?;
            g.finish(y, (-1.0, 1.0))?
        }
    };
    Ok(graph)
}

/// The `.egm` bytes of demo model `kind` in `format` (w8a8 is calibrated on 64 samples).
///
/// # Errors
///
/// [`crate::Error::Build`] if the writer rejects the graph (a bug here).
pub fn model(kind: DemoKind, format: WeightFormat) -> Result<Vec<u8>> {
    let graph = graph(kind)?;
    let opts = match format {
        WeightFormat::F32 => WriteOptions::f32(),
        WeightFormat::W8A32 => WriteOptions::w8a32(),
        WeightFormat::W8A8 => {
            // Inpainting calibrates on seeded masks over the test picture.
            let [c, h, w] = INPAINT_SHAPE.map(|d| d as usize);
            let picture = crate::picture::test_picture(c, h, w, (-1.0, 1.0));
            let masks: Vec<(Vec<f32>, Vec<f32>)> = (0..64u64)
                .map(|seed| {
                    let (mut m, mut x) = (vec![0.0; c * h * w], vec![0.0; c * h * w]);
                    crate::maskgen::fill(
                        crate::maskgen::MIXED,
                        seed,
                        c,
                        h,
                        w,
                        &picture,
                        &mut m,
                        &mut x,
                    );
                    (m, x)
                })
                .collect();
            let samples = (0..64u64).map(|seed| {
                let condition = match kind {
                    DemoKind::Mlp => Condition::Label(seed as u32 % MLP_CLASSES),
                    DemoKind::Inpaint => {
                        let (m, x) = &masks[seed as usize];
                        Condition::Mask { mask: m, masked: x }
                    }
                    _ => Condition::None,
                };
                (seed, condition)
            });
            WriteOptions::w8a8(graph.calibrate(samples)?)
        }
    };
    Ok(graph.write(&opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgegan_compiler::builder::AlignedBytes;
    use edgegan_runtime::DeviceModel;

    #[test]
    fn every_demo_model_loads_in_every_format() {
        for kind in [
            DemoKind::Mlp,
            DemoKind::Conv,
            DemoKind::Wide,
            DemoKind::Inpaint,
        ] {
            for format in [WeightFormat::F32, WeightFormat::W8A32, WeightFormat::W8A8] {
                let bytes = AlignedBytes::new(&model(kind, format).unwrap());
                let m = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
                assert_eq!(m.weight_format(), format, "{kind:?}");
            }
        }
    }
}
