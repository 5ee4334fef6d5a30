//! End-to-end tests of the export: every stage on real (tiny, briefly trained) GANs, the
//! contract of the written files, the self-check, and broken files read back.

use std::path::{Path, PathBuf};

use onnx_ir::{Message, ModelProto, NodeProto};

use edgegan_runtime::contract::{LABEL, X, Z, keys};

use super::capture::Capture;
use super::contract::{ONNX_FLOAT, RANDOM_OPS, summarize};
use super::rewrite::{rename_value, to_contract, unused_initializers};
use super::*;
use crate::config::{Activation, DatasetKind, OutputActivation};
use crate::data::Dataset;
use crate::test_support::{QUIET, param_bits, tiny_config, tiny_gan, tiny_image_gan};

#[test]
fn image_generators_export_to_the_contract_for_each_condition_kind() {
    use crate::config::Arch;
    let mlp = {
        let mut gan = tiny_image_gan("label");
        gan.config.generator.arch = Arch::Mlp;
        gan.config.discriminator.arch = Arch::Mlp;
        let dataset = gan.dataset.clone();
        Gan::new(gan.config.clone(), dataset).unwrap()
    };
    let mut resizes = 0;
    for (name, gan) in [
        ("conv label", tiny_image_gan("label")),
        ("conv none", tiny_image_gan("none")),
        ("conv mask", tiny_image_gan("mask")),
        ("mlp label on images", mlp),
    ] {
        let gan = trained(gan);
        let (_dir, path, report) = export(&gan, Capture::Auto);
        assert!(report.max_abs_diff <= TOLERANCE, "{name}: {report:?}");
        let s = inspect_onnx(&path).unwrap();
        let kind = condition_kind(&gan);
        check_contract(&s, kind, gan.config.generator.noise_dim, &[1, 8, 8])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.metadata[keys::OUTPUT_SHAPE], "[1,8,8]", "{name}");
        assert_eq!(s.metadata[keys::CONDITION], kind.name().as_str(), "{name}");
        // batch 5 through tract agrees with Burn, whatever batch the self-check used
        let inputs = check_batch(5, gan.config.generator.noise_dim, kind);
        let tract = run_onnx(&path, &inputs.z, inputs.condition()).unwrap();
        let burn = burn_forward(
            &gan.sampling_generator(),
            gan.config.generator.noise_dim,
            &inputs.z,
            inputs.condition(),
        )
        .unwrap();
        assert!(max_abs_diff(&burn, &tract) <= TOLERANCE, "{name}");
        assert_eq!(tract.len(), 5 * 64);
        let model = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        resizes += model
            .graph
            .node
            .iter()
            .filter(|n| n.op_type == "Resize")
            .count();
        assert_eq!(
            unused_initializers(&model.graph),
            Vec::<String>::new(),
            "{name}"
        );
        assert_loads_cleanly(&path);
    }
    // the Resize rewrite (which used to leave its `sizes` behind) was exercised
    assert!(resizes > 0, "no exported model had a Resize");
}

/// `onnx.checker.check_model(full_check=True)` passes on `path` and ONNX Runtime (the
/// project's PyPI wheel in `.deps/onnxruntime`) loads it without a warning or an error
/// in its log (warnings as errors: e.g. "Removing initializer ... not used by any node").
/// The checker gets the loaded model: given a path, `full_check` writes the inferred
/// shapes back into the file.
fn assert_loads_cleanly(path: &Path) {
    const SCRIPT: &str = "import sys\n\
try:\n    import onnx\nexcept ImportError:\n    sys.exit('python3-onnx is missing: run scripts/setup.sh')\n\
try:\n    import onnxruntime as ort\nexcept ImportError:\n    sys.exit('onnxruntime is missing from .deps/onnxruntime: run scripts/setup.sh')\n\
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\n\
so = ort.SessionOptions()\nso.log_severity_level = 2\n\
ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n";
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Debian's python3-onnx is /usr/bin/python3's (a python3 earlier on PATH may lack it)
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .env("PYTHONPATH", repo.join(".deps/onnxruntime"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run /usr/bin/python3 (scripts/setup.sh installs it): {e}")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}: onnx.checker or ONNX Runtime refused it: {stderr}",
        path.display()
    );
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("[W:") || l.contains("[E:"))
        .collect();
    assert!(
        complaints.is_empty(),
        "{}: ONNX Runtime warned on load: {complaints:#?}",
        path.display()
    );
}

fn trained(mut gan: Gan) -> Gan {
    for _ in 0..5 {
        gan.train_step().unwrap();
    }
    gan
}

/// Conditional on grid25 (25 classes), EMA sampling, two leaky-ReLU hidden layers,
/// linear output.
fn variant_gan() -> Gan {
    let mut config = tiny_config(DatasetKind::Grid25, true);
    config.algorithm.ema_decay = Some(0.9);
    config.generator.activation = Activation::LeakyRelu { slope: 0.2 };
    config.generator.output = OutputActivation::Linear;
    config.generator.hidden = vec![16, 16];
    let dataset = Dataset::from_config(&config.data).unwrap();
    trained(Gan::new(config, dataset).unwrap())
}

fn export(gan: &Gan, capture: Capture) -> (tempfile::TempDir, PathBuf, ExportReport) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models/generator.onnx");
    let report = export_with(gan, &path, "run-1", capture, TOLERANCE).unwrap();
    (dir, path, report)
}

fn n_by(d: usize) -> Vec<String> {
    vec![BATCH_SYMBOL.into(), d.to_string()]
}

fn rewrite(path: &Path, out: &Path, f: impl FnOnce(&mut ModelProto)) {
    let mut model = ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
    f(&mut model);
    std::fs::write(out, model.write_to_bytes().unwrap()).unwrap();
}

#[test]
fn unconditional_export_has_only_input_z_and_output_x_with_symbolic_batch() {
    let gan = trained(tiny_gan(false));
    let (_dir, path, report) = export(&gan, Capture::Auto);
    let s = inspect_onnx(&path).unwrap();
    let names: Vec<_> = s.inputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [Z]);
    assert_eq!(s.inputs[0].dtype, "float32");
    assert_eq!(s.inputs[0].shape, n_by(8));
    assert_eq!(s.outputs.len(), 1);
    assert_eq!(
        (s.outputs[0].name.as_str(), s.outputs[0].dtype.as_str()),
        (X, "float32")
    );
    assert_eq!(s.outputs[0].shape, n_by(2));
    assert!(
        s.value_info.iter().all(|v| v.shape[0] == BATCH_SYMBOL),
        "{:?}",
        s.value_info
    );
    assert_eq!(report.inputs, s.inputs);
    assert_eq!(report.batch_axis, BatchAxis::Symbolic);
    assert_eq!(report.captured_label_dtype, None);
    assert_eq!(report.opset, 18);
    assert_eq!(report.bytes, std::fs::metadata(&path).unwrap().len());
    check_contract(&s, ConditionKind::None, 8, &[2]).unwrap();
}

#[test]
fn conditional_export_has_inputs_z_and_int64_label_and_output_x_with_symbolic_batch() {
    let gan = trained(tiny_gan(true));
    let (_dir, path, report) = export(&gan, Capture::Auto);
    let s = inspect_onnx(&path).unwrap();
    let inputs: Vec<_> = s
        .inputs
        .iter()
        .map(|t| (t.name.as_str(), t.dtype.as_str(), t.shape.clone()))
        .collect();
    assert_eq!(
        inputs,
        [
            (Z, "float32", n_by(8)),
            (LABEL, "int64", vec![BATCH_SYMBOL.to_string()])
        ]
    );
    assert_eq!(s.outputs[0].name, X);
    assert_eq!(s.outputs[0].shape, n_by(2));
    assert!(
        s.value_info.iter().all(|v| v.shape[0] == BATCH_SYMBOL),
        "{:?}",
        s.value_info
    );
    // Burn captures int32 indices: the int64 `label` feeds them through one Cast.
    if report.captured_label_dtype.as_deref() == Some("int32") {
        assert_eq!(s.op_types[0], "Cast");
    }
    eprintln!(
        "conditional ring8: {} bytes, label captured as {:?}, ops {:?}",
        report.bytes, report.captured_label_dtype, s.op_types
    );
    check_contract(&s, condition_kind(&gan), 8, &[2]).unwrap();
}

#[test]
fn metadata_props_describe_the_model_and_the_run() {
    let gan = trained(tiny_gan(true));
    let (_dir, path, report) = export(&gan, Capture::Auto);
    let m = inspect_onnx(&path).unwrap().metadata;
    assert_eq!(m, report.metadata);
    assert_eq!(m[keys::NOISE_DIM], "8");
    assert_eq!(m[keys::CONDITION], "label");
    assert_eq!(m[keys::CLASSES], "8");
    let names: Vec<String> = serde_json::from_str(&m[keys::CLASS_NAMES]).unwrap();
    assert_eq!(names, gan.dataset.class_names());
    assert_eq!(m[keys::OUTPUT_SHAPE], "[2]");
    assert_eq!(m[keys::COLUMN_NAMES], r#"["x","y"]"#);
    assert_eq!(m[keys::VALUE_RANGE], "[-1, 1]");
    let norm: serde_json::Value = serde_json::from_str(&m[keys::NORMALIZER]).unwrap();
    let center: Vec<f32> = serde_json::from_value(norm["center"].clone()).unwrap();
    let scale: Vec<f32> = serde_json::from_value(norm["scale"].clone()).unwrap();
    assert_eq!(
        (center, scale),
        (gan.normalizer.center.clone(), gan.normalizer.scale.clone())
    );
    assert_eq!(m[keys::RUN], "run-1");
    assert_eq!(m[keys::STEP], "5");
    let sha = sha256_hex(gan.config.to_toml().unwrap().as_bytes());
    assert_eq!(m[keys::CONFIG_SHA256], sha);
    assert_eq!(sha.len(), 64);

    let gan = trained(tiny_gan(false));
    let m = metadata(&gan, "r").unwrap();
    assert_eq!(m[keys::CONDITION], "none");
    assert_eq!(m[keys::CLASSES], "0");
    assert_eq!(m[keys::CLASS_NAMES], "[]");
    assert_eq!(
        metadata(&variant_gan(), "r").unwrap()[keys::VALUE_RANGE],
        "unbounded"
    );
}

#[test]
fn tract_matches_burn_within_1e5_at_batch_1_7_and_64() {
    let cases = [
        ("unconditional ring8", trained(tiny_gan(false))),
        ("conditional ring8", trained(tiny_gan(true))),
        ("conditional grid25 ema leaky linear", variant_gan()),
    ];
    for (name, gan) in cases {
        let (_dir, path, report) = export(&gan, Capture::Auto);
        let batches: Vec<usize> = report.parity.iter().map(|p| p.batch).collect();
        assert_eq!(batches, CHECK_BATCHES);
        assert!(
            report.max_abs_diff <= TOLERANCE,
            "{name}: {:?}",
            report.parity
        );
        // Independently of the report, on other noise: tract vs Burn's sampling G.
        let noise_dim = gan.config.generator.noise_dim;
        let kind = condition_kind(&gan);
        let g = gan.sampling_generator();
        for batch in CHECK_BATCHES {
            let inputs = check_batch(batch, noise_dim, kind);
            let z: Vec<f32> = inputs.z.iter().map(|v| v * 1.5 + 0.25).collect();
            let burn = burn_forward(&g, noise_dim, &z, inputs.condition()).unwrap();
            let tract = run_onnx(&path, &z, inputs.condition()).unwrap();
            assert_eq!(burn.len(), batch * gan.dataset.dim());
            let diff = max_abs_diff(&burn, &tract);
            assert!(diff <= TOLERANCE, "{name} batch {batch}: {diff}");
        }
        eprintln!(
            "{name}: {} bytes, parity {:?}",
            report.bytes,
            report
                .parity
                .iter()
                .map(|p| (p.batch, p.max_abs_diff))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_ema_generator_is_what_gets_exported() {
    let gan = variant_gan();
    let (_dir, path, _) = export(&gan, Capture::Auto);
    let CheckBatch { z, labels, .. } = check_batch(7, 8, ConditionKind::Label { classes: 25 });
    let tract = run_onnx(&path, &z, ConditionInput::Label(&labels)).unwrap();
    let ema = burn_forward(
        &gan.sampling_generator(),
        8,
        &z,
        ConditionInput::Label(&labels),
    )
    .unwrap();
    let raw = burn_forward(
        &gan.generator.valid(),
        8,
        &z,
        ConditionInput::Label(&labels),
    )
    .unwrap();
    assert!(max_abs_diff(&tract, &ema) <= TOLERANCE);
    assert!(
        max_abs_diff(&tract, &raw) > 1e-4,
        "EMA and G should differ after 5 steps"
    );
}

#[test]
fn static_capture_with_rewritten_batch_also_matches_at_every_batch() {
    let gan = trained(tiny_gan(true));
    let (_dir, path, report) = export(&gan, Capture::Static);
    assert_eq!(report.batch_axis, BatchAxis::Rewritten);
    assert!(report.max_abs_diff <= TOLERANCE, "{:?}", report.parity);
    check_contract(&inspect_onnx(&path).unwrap(), condition_kind(&gan), 8, &[2]).unwrap();
}

#[test]
fn exported_graph_has_no_random_ops_and_export_refuses_them() {
    let gan = trained(tiny_gan(true));
    let (_dir, path, _) = export(&gan, Capture::Auto);
    let s = inspect_onnx(&path).unwrap();
    assert!(
        s.op_types
            .iter()
            .all(|op| !RANDOM_OPS.contains(&op.as_str())),
        "{:?}",
        s.op_types
    );

    let mut model = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let graph = model.graph.mut_or_insert_default();
    let mut node = NodeProto::new();
    node.op_type = "RandomNormalLike".into();
    node.input = vec![Z.into()];
    node.output = vec!["noise".into()];
    graph.node.push(node);
    let err = to_contract(&mut model, condition_kind(&gan), BatchAxis::Symbolic).unwrap_err();
    assert!(err.contains("RandomNormalLike"), "{err}");
    let mut s = summarize(&model);
    s.op_types.push("Bernoulli".into());
    assert!(
        check_contract(&s, condition_kind(&gan), 8, &[2])
            .unwrap_err()
            .contains("Bernoulli")
    );
}

#[test]
fn export_leaves_the_trained_gan_unchanged_and_bytes_are_reproducible() {
    let gan = trained(tiny_gan(true));
    let g_before = param_bits(&gan.generator);
    let CheckBatch { z, labels, .. } = check_batch(7, 8, ConditionKind::Label { classes: 8 });
    let out_before = burn_forward(
        &gan.sampling_generator(),
        8,
        &z,
        ConditionInput::Label(&labels),
    )
    .unwrap();
    let (_d1, a, _) = export(&gan, Capture::Auto);
    let (_d2, b, _) = export(&gan, Capture::Auto);
    assert_eq!(param_bits(&gan.generator), g_before);
    let out_after = burn_forward(
        &gan.sampling_generator(),
        8,
        &z,
        ConditionInput::Label(&labels),
    )
    .unwrap();
    assert_eq!(out_after, out_before);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn truncated_or_corrupted_onnx_is_an_error_not_a_panic() {
    let gan = trained(tiny_gan(true));
    let (dir, path, _) = export(&gan, Capture::Auto);
    let bytes = std::fs::read(&path).unwrap();
    let CheckBatch { z, labels, .. } = check_batch(7, 8, ConditionKind::Label { classes: 8 });
    let mut bad = Vec::new();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    bad.push(truncated);
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(
        &garbage,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    bad.push(garbage);
    let header = dir.path().join("header.onnx");
    let mut h = bytes.clone();
    h[..32].fill(0xff);
    std::fs::write(&header, h).unwrap();
    bad.push(header);
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    bad.push(empty);
    // a model whose output names a value no node produces
    let dangling = dir.path().join("dangling.onnx");
    rewrite(&path, &dangling, |m| {
        m.graph.mut_or_insert_default().output[0].name = "nowhere".into()
    });
    bad.push(dangling);
    bad.push(dir.path().join("missing.onnx"));
    for file in bad {
        let err = run_onnx(&file, &z, ConditionInput::Label(&labels)).unwrap_err();
        assert!(
            matches!(err, TrainError::Export { .. }),
            "{}: {err}",
            file.display()
        );
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    }
    assert!(inspect_onnx(&dir.path().join("truncated.onnx")).is_err());
}

#[test]
fn wrong_input_names_or_shapes_are_errors() {
    let gan = trained(tiny_gan(true));
    let (dir, path, _) = export(&gan, Capture::Auto);
    let CheckBatch { z, labels, .. } = check_batch(7, 8, ConditionKind::Label { classes: 8 });
    let run =
        |p: &Path, z: &[f32], c: ConditionInput<'_>| run_onnx(p, z, c).unwrap_err().to_string();

    let renamed = dir.path().join("renamed.onnx");
    rewrite(&path, &renamed, |m| {
        rename_value(m.graph.mut_or_insert_default(), Z, "noise")
    });
    let err = run(&renamed, &z, ConditionInput::Label(&labels));
    assert!(
        err.contains("noise") && err.contains("[\"z\", \"label\"]"),
        "{err}"
    );

    let out_renamed = dir.path().join("out_renamed.onnx");
    rewrite(&path, &out_renamed, |m| {
        rename_value(m.graph.mut_or_insert_default(), X, "y")
    });
    assert!(run(&out_renamed, &z, ConditionInput::Label(&labels)).contains("outputs"));

    // labels for a conditional model are required, and must match the batch
    assert!(run(&path, &z, ConditionInput::None).contains("unconditional model was expected"));
    assert!(
        run(&path, &z, ConditionInput::Label(&labels[..6])).contains("6 labels for a batch of 7")
    );
    // noise rows must be Z wide
    assert!(run(&path, &z[..z.len() - 3], ConditionInput::Label(&labels)).contains("[N, 8]"));

    // a model declaring the wrong noise width or a float label is refused
    let narrow = dir.path().join("narrow.onnx");
    rewrite(&path, &narrow, |m| {
        let z = &mut m.graph.mut_or_insert_default().input[0];
        let shape = z
            .type_
            .mut_or_insert_default()
            .mut_tensor_type()
            .shape
            .mut_or_insert_default();
        shape.dim[1].set_dim_value(5);
    });
    run(&narrow, &z, ConditionInput::Label(&labels));
    let float_label = dir.path().join("float_label.onnx");
    rewrite(&path, &float_label, |m| {
        let l = &mut m.graph.mut_or_insert_default().input[1];
        l.type_.mut_or_insert_default().mut_tensor_type().elem_type = ONNX_FLOAT;
    });
    run(&float_label, &z, ConditionInput::Label(&labels));

    // an unconditional model given labels
    let (_d, plain, _) = export(&trained(tiny_gan(false)), Capture::Auto);
    assert!(
        run(&plain, &z, ConditionInput::Label(&labels))
            .contains("label-conditioned model was expected")
    );
}

#[test]
fn export_run_exports_the_runs_latest_checkpoint_and_names_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config(DatasetKind::Ring8, true);
    config.steps = 10;
    let root = dir.path().join("ring8-cgan");
    let run = RunDir::create(&root, &config).unwrap();
    let mut gan = Gan::new(config.clone(), Dataset::from_config(&config.data).unwrap()).unwrap();
    training::train(&run, &mut gan, QUIET).unwrap();

    let out = dir.path().join("generator.onnx");
    let report = export_run(&root, &out, None).unwrap();
    assert!(report.max_abs_diff <= TOLERANCE, "{:?}", report.parity);
    assert!(!dir.path().join("generator.onnx.unverified").exists());
    let m = inspect_onnx(&out).unwrap().metadata;
    assert_eq!(m[keys::RUN], "ring8-cgan");
    assert_eq!(m[keys::STEP], "10");
    let on_disk = std::fs::read_to_string(root.join("config.toml")).unwrap();
    assert_eq!(m[keys::CONFIG_SHA256], sha256_hex(on_disk.as_bytes()));
    // the exported weights are the trained ones
    let CheckBatch { z, labels, .. } = check_batch(7, 8, ConditionKind::Label { classes: 8 });
    let burn = burn_forward(
        &gan.sampling_generator(),
        8,
        &z,
        ConditionInput::Label(&labels),
    )
    .unwrap();
    let tract = run_onnx(&out, &z, ConditionInput::Label(&labels)).unwrap();
    assert!(max_abs_diff(&burn, &tract) <= TOLERANCE);

    let err = export_run(&dir.path().join("nothing"), &out, None).unwrap_err();
    assert!(matches!(err, TrainError::Run { .. }), "{err}");
}

#[test]
fn failed_self_check_is_an_error_with_the_numbers_and_out_is_not_written() {
    let gan = trained(tiny_gan(true));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("generator.onnx");
    // a negative tolerance rejects every model, even a perfect one
    let err = export_with(&gan, &out, "r", Capture::Auto, -1.0)
        .unwrap_err()
        .to_string();
    for batch in CHECK_BATCHES {
        assert!(err.contains(&format!("batch {batch}: ")), "{err}");
    }
    assert!(err.contains("self-check failed"), "{err}");
    assert!(!out.exists());
    assert!(
        dir.path().join("generator.onnx.unverified").exists(),
        "{err}"
    );
}
