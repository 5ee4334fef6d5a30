//! The foreign-generator corpus (`tests/corpus/<name>/`, written by
//! `scripts/make-corpus.py`: PyTorch generators through `torch.onnx.export`, Keras ones
//! through tf2onnx, ONNX Runtime's outputs on fixed inputs beside each): every model in the
//! folder compiles to f32, w8a32 and w8a8 with its roles inferred, and the device models
//! run on the stored inputs match ONNX Runtime's stored outputs.

use std::path::{Path, PathBuf};

use edgegan_compiler::builder::OpSpec;
use edgegan_compiler::compile::{CompileOptions, compile_onnx};
use edgegan_runtime::ops::pad;
use edgegan_runtime::{Condition, DeviceModel, Sampler, WeightFormat};
use edgegan_tests::npy;

/// The f32 device model against ONNX Runtime (max abs), as the issue asks.
const F32_TOL: f32 = 1e-5;
/// w8a32 and w8a8 against ONNX Runtime (max abs) on these models (random weights,
/// BatchNorm statistics measured on their own inputs; outputs in [-1, 1] or [0, 1]).
/// Measured at most 2.1e-2 (w8a32) and 7.1e-2 (w8a8, torch-uncond-deconv); the shipped
/// models' own w8a8 bound is 1.0 for single saturated tanh pixels.
const W8A32_TOL: f32 = 0.05;
const W8A8_TOL: f32 = 0.1;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("generator.onnx").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "corpus in {} is incomplete", dir.display());
    v
}

/// A corpus model's stored inputs: the noise, and the label or the mask and masked
/// object when it has them.
struct Inputs {
    z: npy_f32,
    labels: Option<Vec<i64>>,
    mask: Option<(npy_f32, npy_f32)>,
}

impl Inputs {
    fn read(dir: &Path) -> Inputs {
        let name = dir.display();
        let f32s = |f: &str| -> npy_f32 {
            npy::read(&dir.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}"))
        };
        let label_path = dir.join("label.npy");
        let labels = label_path.exists().then(|| {
            npy::read::<i64>(&label_path)
                .unwrap_or_else(|e| panic!("{name}/label.npy: {e}"))
                .data()
                .to_vec()
        });
        let mask = dir
            .join("mask.npy")
            .exists()
            .then(|| (f32s("mask.npy"), f32s("masked.npy")));
        Inputs {
            z: f32s("z.npy"),
            labels,
            mask,
        }
    }
}

/// Runs `bytes` on every stored input row; the outputs, concatenated.
fn run(bytes: &[u8], inputs: &Inputs) -> Vec<f32> {
    let model = DeviceModel::from_bytes(bytes).unwrap();
    let mut arena = vec![0u8; model.arena_bytes() + 4];
    let mut sampler = Sampler::new(&model, &mut arena).unwrap();
    let z = &inputs.z;
    let n = z.shape()[0];
    let zd = z.shape()[1];
    let mut out = vec![0.0f32; n * model.output_len()];
    for (i, y) in out.chunks_exact_mut(model.output_len()).enumerate() {
        let c = match (&inputs.labels, &inputs.mask) {
            (Some(l), _) => Condition::Label(u32::try_from(l[i]).unwrap()),
            (None, Some((m, x))) => {
                let len = m.data().len() / n;
                Condition::Mask {
                    mask: &m.data()[i * len..(i + 1) * len],
                    masked: &x.data()[i * len..(i + 1) * len],
                }
            }
            (None, None) => Condition::None,
        };
        sampler
            .sample_with_noise(&z.data()[i * zd..(i + 1) * zd], c, y)
            .unwrap();
    }
    out
}

#[allow(non_camel_case_types)]
type npy_f32 = edgegan_tests::array::Array<f32>;

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_corpus_model_compiles_and_matches_onnx_runtime() {
    let mut lines = vec![];
    for dir in corpus() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let compiled = compile_onnx(&dir.join("generator.onnx"), &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = Inputs::read(&dir);
        let want: npy_f32 = npy::read(&dir.join("output.npy")).unwrap();
        assert_eq!(
            (
                compiled.roles.label.is_some(),
                compiled.roles.mask.is_some()
            ),
            (inputs.labels.is_some(), inputs.mask.is_some()),
            "{name}: roles {:?}",
            compiled.roles
        );
        // BatchNorm folds into the ConvTranspose2d / Gemm before it: no Mul is left, also
        // after a Gemm on cat(z, embedding) (torch-mlp-bn, keras-dcgan), which tract splits
        // into two products summed and the compiler folds into one Dense over z with a
        // label-indexed bias; torch-unet-inpaint keeps the composite
        // mask·masked + (1 − mask)·x
        let muls = compiled
            .graph
            .ops
            .iter()
            .filter(|(op, _)| matches!(op, OpSpec::Mul { .. }))
            .count();
        let want_muls = match name.as_str() {
            "torch-unet-inpaint" | "torch-dynamo-unet-inpaint" => 2,
            _ => 0,
        };
        assert_eq!(muls, want_muls, "{name}: {} ops", compiled.graph.ops.len());
        // the label's part of the first layer: no Gather left, the class table is that
        // Dense's bias (F.one_hot(label, 6) → Gemm: its 32-wide weight columns; dynamo
        // writes the one-hot as Equal(label, arange(6)) and two Casts)
        let label_bias: Vec<usize> = compiled
            .graph
            .ops
            .iter()
            .filter_map(|(op, _)| match op {
                OpSpec::Dense {
                    label_bias: Some(t),
                    ..
                } => Some(t.len()),
                _ => None,
            })
            .collect();
        let gathers = compiled
            .graph
            .ops
            .iter()
            .filter(|(op, _)| matches!(op, OpSpec::Gather { .. }))
            .count();
        match name.as_str() {
            "torch-onehot-mlp" | "torch-dynamo-onehot-mlp" => {
                assert_eq!(
                    (label_bias.as_slice(), gathers),
                    (&[6 * 32][..], 0),
                    "{name}"
                );
            }
            "torch-mlp-bn" | "keras-dcgan" => {
                assert_eq!((label_bias.len(), gathers), (1, 0), "{name}");
            }
            _ => {}
        }
        if name == "torch-reflect-pad" {
            // ReflectionPad2d, ReplicationPad2d and ConstantPad2d(0.5) before unpadded
            // convs: three runtime Pads (only a zero Pad folds into a Conv's padding)
            let pads: Vec<(u32, f32)> = compiled
                .graph
                .ops
                .iter()
                .filter_map(|(op, _)| match op {
                    OpSpec::Pad { mode, value, .. } => Some((*mode, *value)),
                    _ => None,
                })
                .collect();
            assert_eq!(
                pads,
                [(pad::REFLECT, 0.0), (pad::EDGE, 0.0), (pad::CONSTANT, 0.5)],
                "{name}"
            );
        }
        let mut errs = vec![];
        for (format, tol) in [
            (WeightFormat::F32, F32_TOL),
            (WeightFormat::W8A32, W8A32_TOL),
            (WeightFormat::W8A8, W8A8_TOL),
        ] {
            let got = run(compiled.bytes(format), &inputs);
            let err = max_abs(&got, want.data());
            assert!(err <= tol, "{name} {format:?}: max |diff| {err} > {tol}");
            errs.push(format!("{format:?} {err:.2e}"));
        }
        lines.push(format!("{name}: {}", errs.join(", ")));
    }
    println!("{}", lines.join("\n"));
}

#[test]
fn output_range_comes_from_the_final_activation() {
    for dir in corpus() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let compiled =
            compile_onnx(&dir.join("generator.onnx"), &CompileOptions::default()).unwrap();
        let model = DeviceModel::from_bytes(&compiled.f32).unwrap();
        let want = if name.contains("sigmoid") {
            (0.0, 1.0)
        } else {
            (-1.0, 1.0)
        };
        assert_eq!(model.value_range(), want, "{name}");
    }
}
