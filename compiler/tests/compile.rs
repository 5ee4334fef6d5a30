//! The ONNX compiler: hand-built ONNX generators in the shapes other
//! exporters produce, compiled to `.egm` and sampled by the runtime, against tract's own
//! run of the same ONNX on the same noise.

use edgegan_compiler::builder::AlignedBytes;
use edgegan_compiler::compile::{CompileError, CompileOptions, compile_onnx, compile_onnx_bytes};
use edgegan_runtime::{Condition, DeviceModel, Sampler};
use tract_onnx::prelude::*;

use onnx::{Attr, FLOAT, INT64, gemm, model, node, tensor_f32, tensor_i64, value_info, weights};

#[allow(dead_code)]
#[path = "common/onnx.rs"]
mod onnx;

/// f32 against tract: the runtime's kernels sum in a different order than tract's.
const F32_TOLERANCE: f32 = 1e-5;
/// w8a32 (int8 weights) against f32 on these small random networks.
const W8A32_TOLERANCE: f32 = 0.03;
/// w8a8 (int8 everything) against f32: a few output steps of 2/255.
const W8A8_TOLERANCE: f32 = 0.1;
/// The compile report's w8a8 worst case over all its evaluation seeds (min/max calibration
/// clips the rare activation outside the calibrated range).
const W8A8_REPORT_TOLERANCE: f32 = 0.25;

/// tract's run of `bytes` (optimised, its own path) for `z` and an optional label.
fn tract_run(bytes: &[u8], z: &[f32], label: Option<u32>) -> Vec<f32> {
    let mut m = tract_onnx::onnx().model_for_read(&mut &*bytes).unwrap();
    m.set_input_fact(0, f32::fact([1, z.len()]).into()).unwrap();
    let mut inputs: TVec<TValue> =
        tvec![Tensor::from_shape(&[1, z.len()], z).unwrap().into_tvalue()];
    if let Some(l) = label {
        m.set_input_fact(1, i64::fact([1]).into()).unwrap();
        inputs.push(
            Tensor::from_shape(&[1], &[i64::from(l)])
                .unwrap()
                .into_tvalue(),
        );
    }
    let plan = m.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(inputs).unwrap();
    out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

/// The runtime's sample of `.egm` `bytes`.
fn sample(bytes: &[u8], seed: u64, label: Option<u32>) -> Vec<f32> {
    let bytes = AlignedBytes::new(bytes);
    let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
    let mut arena = vec![0u8; model.arena_bytes() + 16];
    let mut sampler = Sampler::new(&model, &mut arena).unwrap();
    let mut out = vec![0.0; model.output_len()];
    let c = label.map_or(Condition::None, Condition::Label);
    sampler.sample(seed, c, &mut out).unwrap();
    out
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Compiles `bytes` and checks every format against tract on seeds 0..8 and all classes.
fn check(name: &str, bytes: &[u8], z_dim: usize, classes: u32) -> [f32; 3] {
    let compiled = compile_onnx_bytes(bytes, &CompileOptions::default()).unwrap();
    println!("{name}:\n{compiled}");
    let mut worst = [0.0f32; 3];
    let labels: Vec<Option<u32>> = if classes == 0 {
        vec![None]
    } else {
        (0..classes).map(Some).collect()
    };
    for seed in 100..108 {
        for &label in &labels {
            let mut z = vec![0.0f32; z_dim];
            edgegan_runtime::noise::fill(seed, &mut z);
            let want = tract_run(bytes, &z, label);
            for (i, b) in [&compiled.f32, &compiled.w8a32, &compiled.w8a8]
                .into_iter()
                .enumerate()
            {
                worst[i] = worst[i].max(max_abs(&sample(b, seed, label), &want));
            }
        }
    }
    println!(
        "{name}: max |egm - tract|: f32 {:.2e}, w8a32 {:.2e}, w8a8 {:.2e}",
        worst[0], worst[1], worst[2]
    );
    assert!(worst[0] <= F32_TOLERANCE, "{name} f32 {}", worst[0]);
    assert!(worst[1] <= W8A32_TOLERANCE, "{name} w8a32 {}", worst[1]);
    assert!(worst[2] <= W8A8_TOLERANCE, "{name} w8a8 {}", worst[2]);
    assert!(compiled.report.f32_vs_onnx.max_abs <= F32_TOLERANCE);
    assert!(compiled.report.w8a8.output.max_abs <= W8A8_REPORT_TOLERANCE);
    assert!(!compiled.report.w8a8.layers.is_empty());
    worst
}

/// (a) PyTorch-style MLP: Gemm(transB) -> Relu -> MatMul + Add -> Tanh -> Reshape.
fn mlp() -> Vec<u8> {
    model(
        vec![
            gemm("fc1", &["z", "w1", "b1"], &["h1"]),
            node("Relu", "relu1", &["h1"], &["a1"], vec![]),
            node("MatMul", "fc2", &["a1", "w2"], &["m2"], vec![]),
            node("Add", "fc2_bias", &["m2", "b2"], &["h2"], vec![]),
            node("Tanh", "tanh", &["h2"], &["t"], vec![]),
            node("Reshape", "to_image", &["t", "shape"], &["x"], vec![]),
        ],
        vec![
            tensor_f32("w1", &[32, 8], &weights(256, 1, 0.5)),
            tensor_f32("b1", &[32], &weights(32, 2, 0.1)),
            tensor_f32("w2", &[32, 16], &weights(512, 3, 0.3)),
            tensor_f32("b2", &[16], &weights(16, 4, 0.1)),
            tensor_i64("shape", &[4], &[-1, 1, 4, 4]),
        ],
        vec![value_info("z", FLOAT, &[8])],
        vec![value_info("x", FLOAT, &[1, 4, 4])],
    )
}

/// (b) Label-conditioned: Gather(table, label) ++ z -> Gemm -> relu(x) - 0.2 relu(-x) -> Gemm -> Tanh.
fn cgan() -> Vec<u8> {
    model(
        vec![
            node(
                "Gather",
                "embed",
                &["table", "label"],
                &["e"],
                vec![Attr::Int("axis", 0)],
            ),
            node(
                "Concat",
                "cat",
                &["z", "e"],
                &["c"],
                vec![Attr::Int("axis", 1)],
            ),
            gemm("fc1", &["c", "w1", "b1"], &["h"]),
            node("Relu", "pos", &["h"], &["p"], vec![]),
            node("Neg", "neg", &["h"], &["nh"], vec![]),
            node("Relu", "neg_relu", &["nh"], &["rn"], vec![]),
            node("Mul", "slope", &["rn", "alpha"], &["q"], vec![]),
            node("Sub", "leaky", &["p", "q"], &["l"], vec![]),
            gemm("fc2", &["l", "w2", "b2"], &["o"]),
            node("Tanh", "tanh", &["o"], &["x"], vec![]),
        ],
        vec![
            tensor_f32("table", &[5, 4], &weights(20, 5, 1.0)),
            tensor_f32("w1", &[24, 12], &weights(288, 6, 0.5)),
            tensor_f32("b1", &[24], &weights(24, 7, 0.1)),
            tensor_f32("alpha", &[], &[0.2]),
            tensor_f32("w2", &[10, 24], &weights(240, 8, 0.4)),
            tensor_f32("b2", &[10], &weights(10, 9, 0.1)),
        ],
        vec![
            value_info("z", FLOAT, &[8]),
            value_info("label", INT64, &[]),
        ],
        vec![value_info("x", FLOAT, &[10])],
    )
}

/// (c) BatchNormalization after a Gemm (tf2onnx/PyTorch before folding).
fn batchnorm() -> Vec<u8> {
    let var: Vec<f32> = weights(16, 14, 0.5).iter().map(|v| v.abs() + 0.5).collect();
    model(
        vec![
            gemm("fc1", &["z", "w1", "b1"], &["h"]),
            node(
                "BatchNormalization",
                "bn",
                &["h", "gamma", "beta", "mean", "var"],
                &["n"],
                vec![Attr::Float("epsilon", 1e-5)],
            ),
            node("Relu", "relu", &["n"], &["r"], vec![]),
            gemm("fc2", &["r", "w2", "b2"], &["o"]),
            node("Tanh", "tanh", &["o"], &["x"], vec![]),
        ],
        vec![
            tensor_f32("w1", &[16, 8], &weights(128, 10, 0.5)),
            tensor_f32("b1", &[16], &weights(16, 11, 0.1)),
            tensor_f32("gamma", &[16], &weights(16, 12, 1.0)),
            tensor_f32("beta", &[16], &weights(16, 13, 0.2)),
            tensor_f32("mean", &[16], &weights(16, 15, 0.3)),
            tensor_f32("var", &[16], &var),
            tensor_f32("w2", &[12, 16], &weights(192, 16, 0.4)),
            tensor_f32("b2", &[12], &weights(12, 17, 0.1)),
        ],
        vec![value_info("z", FLOAT, &[8])],
        vec![value_info("x", FLOAT, &[12])],
    )
}

/// (d) Clip, as other exporters write ReLU6 and hard tanh (opset 11+: bounds as inputs):
/// Gemm -> Clip(0, 6) -> Gemm -> Clip(-1, 1).
fn clipped() -> Vec<u8> {
    model(
        vec![
            gemm("fc1", &["z", "w1", "b1"], &["h1"]),
            node("Clip", "relu6", &["h1", "zero", "six"], &["a1"], vec![]),
            gemm("fc2", &["a1", "w2", "b2"], &["h2"]),
            node(
                "Clip",
                "hard_tanh",
                &["h2", "minus_one", "one"],
                &["x"],
                vec![],
            ),
        ],
        vec![
            tensor_f32("w1", &[16, 8], &weights(128, 11, 2.0)),
            tensor_f32("b1", &[16], &weights(16, 12, 1.0)),
            tensor_f32("w2", &[12, 16], &weights(192, 13, 0.3)),
            tensor_f32("b2", &[12], &weights(12, 14, 0.2)),
            tensor_f32("zero", &[], &[0.0]),
            tensor_f32("six", &[], &[6.0]),
            tensor_f32("minus_one", &[], &[-1.0]),
            tensor_f32("one", &[], &[1.0]),
        ],
        vec![value_info("z", FLOAT, &[8])],
        vec![value_info("x", FLOAT, &[12])],
    )
}

#[test]
fn clip_relu6_and_hard_tanh_match_tract() {
    let bytes = clipped();
    check("clip", &bytes, 8, 0);
    let compiled = compile_onnx_bytes(&bytes, &CompileOptions::default()).unwrap();
    let kinds: Vec<&str> = compiled.graph.ops.iter().map(|(op, _)| op.name()).collect();
    assert_eq!(kinds, ["Dense", "Clip", "Dense", "Clip"]);
    // the bounds are reached: ReLU6 saturates at 6 for some unit, hard tanh at ±1
    let x = sample(&compiled.f32, 3, None);
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn mlp_gemm_matmul_matches_tract() {
    let w = check("mlp", &mlp(), 8, 0);
    assert!(w[0] <= F32_TOLERANCE);
}

#[test]
fn label_conditioned_with_leaky_relu_pattern_matches_tract() {
    let bytes = cgan();
    check("cgan", &bytes, 8, 5);
    let compiled = compile_onnx_bytes(&bytes, &CompileOptions::default()).unwrap();
    let kinds: Vec<&str> = compiled.graph.ops.iter().map(|(op, _)| op.name()).collect();
    assert!(kinds.contains(&"LeakyRelu"), "{kinds:?}");
    assert!(
        !kinds.contains(&"Relu") && !kinds.contains(&"Sub"),
        "not fused: {kinds:?}"
    );
}

#[test]
fn label_embedding_is_folded_into_the_first_dense_as_a_label_bias() {
    // tract splits Gemm(concat(z, Gather(table, label))) into a product with z plus a
    // product with the embedding: the second is a function of the label alone, so it
    // becomes the Dense's label-indexed bias (no Gather, no Add, one Dense over z)
    let compiled = compile_onnx_bytes(&cgan(), &CompileOptions::default()).unwrap();
    let kinds: Vec<&str> = compiled.graph.ops.iter().map(|(op, _)| op.name()).collect();
    assert_eq!(kinds, ["Dense", "LeakyRelu", "Dense", "Tanh"], "not folded");
    let Some((
        edgegan_compiler::builder::OpSpec::Dense {
            weight, label_bias, ..
        },
        _,
    )) = compiled.graph.ops.first()
    else {
        panic!("first op is not a Dense: {kinds:?}");
    };
    assert_eq!(weight.len(), 24 * 8, "the Dense reads z only");
    assert_eq!(label_bias.as_ref().map(Vec::len), Some(5 * 24));
    for b in [&compiled.f32, &compiled.w8a32, &compiled.w8a8] {
        let flags = u32::from_le_bytes(b[16..20].try_into().unwrap());
        assert_eq!(flags, edgegan_runtime::format::flags::LABEL_BIAS);
    }
    // an older reader's rule (flags must be 0) refuses it; this one runs it (the outputs
    // against tract: `label_conditioned_with_leaky_relu_pattern_matches_tract`)
    let mut patched = compiled.w8a8.to_vec();
    patched[16..20].copy_from_slice(&0u32.to_le_bytes());
    edgegan_runtime::format::seal(&mut patched);
    let aligned = AlignedBytes::new(&patched);
    let err = DeviceModel::from_bytes(aligned.as_slice()).unwrap_err();
    assert!(err.to_string().contains("label"), "{err}");
}

#[test]
fn batchnorm_after_gemm_is_folded_and_matches_tract() {
    let bytes = batchnorm();
    check("batchnorm", &bytes, 8, 0);
    let compiled = compile_onnx_bytes(&bytes, &CompileOptions::default()).unwrap();
    let kinds: Vec<&str> = compiled.graph.ops.iter().map(|(op, _)| op.name()).collect();
    assert_eq!(
        kinds,
        ["Dense", "Relu", "Dense", "Tanh"],
        "BatchNorm not folded"
    );
}

#[test]
fn unsupported_node_is_error_naming_node_and_op() {
    let bytes = model(
        vec![
            gemm("fc1", &["z", "w1", "b1"], &["h"]),
            node(
                "Softmax",
                "the_softmax",
                &["h"],
                &["x"],
                vec![Attr::Int("axis", 1)],
            ),
        ],
        vec![
            tensor_f32("w1", &[6, 8], &weights(48, 1, 0.5)),
            tensor_f32("b1", &[6], &weights(6, 2, 0.1)),
        ],
        vec![value_info("z", FLOAT, &[8])],
        vec![value_info("x", FLOAT, &[6])],
    );
    let err = compile_onnx_bytes(&bytes, &CompileOptions::default()).unwrap_err();
    let msg = err.to_string();
    // every unsupported node is listed at once, with its ONNX op type
    let CompileError::UnsupportedOps(ops) = &err else {
        panic!("expected UnsupportedOps, got {msg}");
    };
    assert_eq!(ops.len(), 1, "{msg}");
    assert_eq!(ops[0].onnx_op, "Softmax", "{msg}");
    assert!(
        msg.contains("the_softmax") && msg.contains("ONNX Softmax"),
        "{msg}"
    );
}

#[test]
fn truncated_or_corrupt_onnx_is_error() {
    let bytes = mlp();
    for len in (0..bytes.len()).step_by(7) {
        let r = compile_onnx_bytes(&bytes[..len], &CompileOptions::default());
        // Dropping only the trailing opset import may leave a parseable model.
        assert!(
            r.is_err() || len + 8 >= bytes.len(),
            "truncated to {len} compiled"
        );
    }
    let mut flipped = bytes.clone();
    for i in (0..flipped.len()).step_by(13) {
        flipped[i] ^= 0xA5;
    }
    // Either an error or a model, never a panic.
    let _ = compile_onnx_bytes(&flipped, &CompileOptions::default());
    assert!(compile_onnx_bytes(b"not an onnx file", &CompileOptions::default()).is_err());
}

#[test]
fn compile_onnx_reads_a_file_and_reports_missing_ones() {
    let path = std::env::temp_dir().join(format!("edgegan-compile-{}.onnx", std::process::id()));
    std::fs::write(&path, mlp()).unwrap();
    let compiled = compile_onnx(&path, &CompileOptions::default());
    std::fs::remove_file(&path).unwrap();
    let compiled = compiled.unwrap();
    assert_eq!(
        compiled.bytes(edgegan_runtime::WeightFormat::W8A8),
        &compiled.w8a8[..]
    );
    let missing = compile_onnx(&path, &CompileOptions::default()).unwrap_err();
    assert!(matches!(missing, CompileError::Io { .. }), "{missing}");
}
