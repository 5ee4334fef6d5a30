//! Bad input: each engine adapter answers a broken model file, a model that breaks the
//! contract, inputs that do not fit, and broken golden files with an error that says what
//! is wrong, never a panic or a wrong answer.

mod common;

use std::path::{Path, PathBuf};

use edgegan_tests::array::Array;
use edgegan_tests::case::{CaseInputs, Condition, case_specs};
use edgegan_tests::engine::{Engine, EngineError};
use edgegan_tests::engines::burn::BurnEngine;
use edgegan_tests::engines::burn_import::BurnImportEngine;
use edgegan_tests::engines::golden::GoldenEngine;
use edgegan_tests::engines::ort::{OrtEngine, check_library, library_path};
use edgegan_tests::engines::tract::TractEngine;
use edgegan_tests::golden::read_manifest;
use edgegan_tests::model::{ModelDir, ModelError, discover};
use edgegan_tests::npy;
use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::type_proto;
use tract_onnx::prelude::Framework;

use common::{copy_model, ring8};

/// Loads `path` with each ONNX engine; returns their errors (panics if one loads).
fn load_errors(path: &Path) -> Vec<EngineError> {
    let tract = TractEngine::load(path).err();
    let ort = OrtEngine::load(path).err();
    match (tract, ort) {
        (Some(t), Some(o)) => vec![t, o],
        (t, o) => panic!(
            "{} loaded: tract {:?}, ort {:?}",
            path.display(),
            t.map(|e| e.to_string()),
            o.map(|e| e.to_string())
        ),
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn proto(model: &ModelDir) -> ModelProto {
    tract_onnx::onnx()
        .proto_model_for_path(model.onnx_path())
        .unwrap()
}

/// The model's ONNX bytes with the declared type of input `name` changed by `change`.
fn with_input_type(
    model: &ModelDir,
    name: &str,
    change: impl FnOnce(&mut type_proto::Tensor),
) -> Vec<u8> {
    let mut p = proto(model);
    let input = p
        .graph
        .as_mut()
        .unwrap()
        .input
        .iter_mut()
        .find(|i| i.name == name)
        .unwrap();
    match input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        Some(type_proto::Value::TensorType(t)) => change(t),
        other => panic!("input {name} is not a tensor: {other:?}"),
    }
    p.encode_to_vec()
}

#[test]
fn missing_truncated_and_corrupted_onnx_files_are_load_errors() {
    let model = ring8();
    let bytes = std::fs::read(model.onnx_path()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut garbage_head = bytes.clone();
    garbage_head[..64].fill(0xff);
    let cases = [
        ("missing", tmp.path().join("nope.onnx")),
        ("empty", write_file(tmp.path(), "empty.onnx", &[])),
        (
            "truncated",
            write_file(tmp.path(), "half.onnx", &bytes[..bytes.len() / 2]),
        ),
        (
            "truncated by one byte",
            write_file(tmp.path(), "short.onnx", &bytes[..bytes.len() - 1]),
        ),
        (
            "corrupted",
            write_file(tmp.path(), "garbage.onnx", &garbage_head),
        ),
        (
            "not ONNX",
            write_file(tmp.path(), "text.onnx", b"this is not a model\n"),
        ),
    ];
    for (what, path) in cases {
        for err in load_errors(&path) {
            assert!(
                matches!(err, EngineError::Load { .. }),
                "{what}: expected a load error, got {err}"
            );
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{what}: the error does not name the file: {err}"
            );
        }
    }
}

#[test]
fn wrong_input_names_break_the_contract() {
    let model = ring8();
    let mut p = proto(&model);
    let graph = p.graph.as_mut().unwrap();
    for input in &mut graph.input {
        if input.name == "z" {
            input.name = "noise".into();
        }
    }
    for node in &mut graph.node {
        for name in &mut node.input {
            if name == "z" {
                *name = "noise".into();
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = write_file(tmp.path(), "renamed.onnx", &p.encode_to_vec());
    for err in load_errors(&path) {
        assert!(
            matches!(err, EngineError::Contract { .. }),
            "expected a contract error, got {err}"
        );
        assert!(err.to_string().contains("noise"), "{err}");
    }
}

#[test]
fn wrong_input_types_and_shapes_are_errors() {
    let model = ring8();
    let tmp = tempfile::tempdir().unwrap();

    // `label` declared float32 instead of int64 (the graph casts it, so it still loads)
    let bytes = with_input_type(&model, "label", |t| t.elem_type = 1); // FLOAT
    let path = write_file(tmp.path(), "float_label.onnx", &bytes);
    for err in load_errors(&path) {
        assert!(
            matches!(err, EngineError::Contract { .. }),
            "float label: expected a contract error, got {err}"
        );
        assert!(err.to_string().contains("label"), "{err}");
    }

    // `z` declared [N, 9] while the weights take 8 columns: inconsistent graph
    let bytes = with_input_type(&model, "z", |t| {
        t.shape.as_mut().unwrap().dim[1].value = Some(dimension::Value::DimValue(9));
    });
    let path = write_file(tmp.path(), "wide_z.onnx", &bytes);
    // an engine may reject it at load, or load it and reject every input
    let case = case_specs(&model.info)[0].inputs(&model.info);
    let nine = CaseInputs {
        z: Array::new(vec![1, 9], vec![0.5; 9]).unwrap(),
        ..case.clone()
    };
    let tract = TractEngine::load(&path).map(|e| Box::new(e) as Box<dyn Engine>);
    let ort = OrtEngine::load(&path).map(|e| Box::new(e) as Box<dyn Engine>);
    for engine in [tract, ort] {
        match engine {
            // rejected at load: the declared shape contradicts the weights
            Err(e) => assert!(
                matches!(e, EngineError::Load { .. } | EngineError::Contract { .. }),
                "{e}"
            ),
            // or loaded, and then no input fits both the declaration and the weights
            Ok(engine) => {
                assert!(
                    engine.run(&case).is_err(),
                    "{} ran [1, 8] noise",
                    engine.name()
                );
                assert!(
                    engine.run(&nine).is_err(),
                    "{} ran [1, 9] noise",
                    engine.name()
                );
            }
        }
    }
}

/// Every computing engine for ring8: Burn, tract, ONNX Runtime, Burn on the imported ONNX.
fn ring8_engines(model: &ModelDir) -> Vec<Box<dyn Engine>> {
    vec![
        Box::new(BurnEngine::load(model).unwrap()),
        Box::new(BurnImportEngine::load(model).unwrap()),
        Box::new(TractEngine::load(&model.onnx_path()).unwrap()),
        Box::new(OrtEngine::load(&model.onnx_path()).unwrap()),
    ]
}

#[test]
fn inputs_that_do_not_fit_the_model_are_input_errors() {
    let model = ring8();
    let good = case_specs(&model.info)[2].inputs(&model.info); // batch 7
    let labels = |v: Vec<i64>| Condition::Label(Array::new(vec![v.len()], v).unwrap());
    let z = |n: usize, d: usize| Array::new(vec![n, d], vec![0.25f32; n * d]).unwrap();
    let bad = [
        ("z has 9 columns", z(7, 9), good.condition.clone()),
        (
            "z is rank 1",
            Array::new(vec![56], vec![0.0; 56]).unwrap(),
            good.condition.clone(),
        ),
        ("6 labels for 7 rows", good.z.clone(), labels(vec![0; 6])),
        ("no label", good.z.clone(), Condition::None),
        (
            "a mask instead of a label",
            good.z.clone(),
            Condition::Mask {
                mask: Array::new(vec![7, 1, 1, 2], vec![1.0; 14]).unwrap(),
                masked: Array::new(vec![7, 1, 1, 2], vec![0.0; 14]).unwrap(),
            },
        ),
        ("empty batch", z(0, 8), labels(vec![])),
    ];
    for engine in ring8_engines(&model) {
        assert!(engine.run(&good).is_ok(), "{}", engine.name());
        for (what, z, condition) in &bad {
            let case = CaseInputs {
                name: (*what).into(),
                z: z.clone(),
                condition: condition.clone(),
            };
            match engine.run(&case) {
                Err(EngineError::Input { message, .. }) => assert!(!message.is_empty()),
                other => panic!(
                    "{} on {what}: expected an input error, got {:?}",
                    engine.name(),
                    other.map(|x| x.shape().to_vec())
                ),
            }
        }
    }
}

#[test]
fn out_of_range_labels_are_errors_not_panics() {
    let model = ring8();
    let mut case = case_specs(&model.info)[0].inputs(&model.info);
    // 8 is one past the table; 2^32 would wrap to class 0 in the graph's int32 cast
    for label in [8i64, -1, 1 << 32] {
        case.condition = Condition::Label(Array::new(vec![1], vec![label]).unwrap());
        for engine in ring8_engines(&model) {
            match engine.run(&case) {
                Err(EngineError::Input { message, .. }) => {
                    assert!(message.contains("not a class"), "{message}")
                }
                other => panic!(
                    "{} on class {label} of 8: expected an input error, got {:?}",
                    engine.name(),
                    other.map(|x| x.data().to_vec())
                ),
            }
        }
    }
}

#[test]
fn a_missing_onnx_runtime_library_says_to_run_setup() {
    let root = Path::new("/nonexistent-repo");
    let bundled = library_path(None, root);
    assert!(bundled.ends_with("onnxruntime/capi/libonnxruntime.so.1.32.0"));
    assert_eq!(library_path(Some("".into()), root), bundled);
    let custom = library_path(Some("/opt/ort/libonnxruntime.so".into()), root);
    assert_eq!(custom, Path::new("/opt/ort/libonnxruntime.so"));
    let err = check_library(&bundled).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("run scripts/setup.sh"), "{text}");
    assert!(text.contains(&bundled.display().to_string()), "{text}");
    // and the project's own copy is in place (setup.sh ran): a failure, not a skip
    let here = library_path(None, &edgegan_tests::model::repo_root());
    check_library(&here).unwrap_or_else(|e| panic!("{e}"));
}

/// A copy of the ring8 folder to break.
fn ring8_copy(tmp: &Path) -> ModelDir {
    let dir = copy_model(&ring8().dir, &tmp.join("ring8-cgan"));
    ModelDir::load(&dir).unwrap()
}

#[test]
fn golden_files_of_the_wrong_shape_or_stale_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());
    let spec = case_specs(&model.info)[3]; // batch 64
    let case = spec.inputs(&model.info);
    let case_dir = model.golden_dir().join(&case.name);
    let golden = GoldenEngine::open(&model).unwrap();
    assert!(golden.run(&case).is_ok());

    // x of shape [64, 3] for a model whose samples are [2]
    npy::write(
        &case_dir.join("x.npy"),
        &Array::new(vec![64, 3], vec![0.0f32; 192]).unwrap(),
    )
    .unwrap();
    let err = golden.run(&case).unwrap_err();
    assert!(matches!(err, EngineError::Golden { .. }), "{err}");
    assert!(err.to_string().contains("[64, 3]"), "{err}");
    assert!(err.to_string().contains("regen-golden"), "{err}");

    // x as int64
    npy::write(
        &case_dir.join("x.npy"),
        &Array::new(vec![64, 2], vec![0i64; 128]).unwrap(),
    )
    .unwrap();
    let err = golden.run(&case).unwrap_err();
    assert!(matches!(err, EngineError::Npy { .. }), "{err}");

    // x truncated
    let x = std::fs::read(ring8().golden_dir().join(&case.name).join("x.npy")).unwrap();
    std::fs::write(case_dir.join("x.npy"), &x[..x.len() - 3]).unwrap();
    let err = golden.run(&case).unwrap_err();
    assert!(matches!(err, EngineError::Npy { .. }), "{err}");

    // x whose header claims 2^58 + 1 items: an error naming the file, nothing allocated
    let huge = edgegan_compiler::npy::raw_bytes("<f4", &[(1 << 58) + 1], &x[x.len() - 64..]);
    std::fs::write(case_dir.join("x.npy"), huge).unwrap();
    let err = golden.run(&case).unwrap_err();
    assert!(matches!(err, EngineError::Npy { .. }), "{err}");
    assert!(
        err.to_string().contains("x.npy: not a valid .npy file"),
        "{err}"
    );

    // x missing
    std::fs::remove_file(case_dir.join("x.npy")).unwrap();
    assert!(matches!(golden.run(&case), Err(EngineError::Golden { .. })));

    // stored z that is not the case's z: the outputs belong to other inputs
    let mut z = case.z.data().to_vec();
    z[5] += 1e-3;
    npy::write(
        &case_dir.join("z.npy"),
        &Array::new(case.z.shape().to_vec(), z).unwrap(),
    )
    .unwrap();
    let err = golden.run(&case).unwrap_err();
    assert!(err.to_string().contains("stored inputs differ"), "{err}");

    // a case the golden folder does not have
    let unknown = CaseInputs {
        name: "b002-s9-label-cycle".into(),
        ..case
    };
    assert!(matches!(
        golden.run(&unknown),
        Err(EngineError::Golden { .. })
    ));
}

#[test]
fn a_missing_or_stale_golden_folder_is_a_failure_with_the_regen_command() {
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());

    // manifest for another generator.onnx
    let manifest_path = model.golden_dir().join("golden.toml");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        text.replace(&model.info.sha256, &"0".repeat(64)),
    )
    .unwrap();
    let err = read_manifest(&model).unwrap_err().to_string();
    assert!(
        err.contains("SHA-256") && err.contains("regen-golden"),
        "{err}"
    );

    // manifest listing other cases
    std::fs::write(&manifest_path, text.replace("batch = 64", "batch = 32")).unwrap();
    let err = read_manifest(&model).unwrap_err().to_string();
    assert!(err.contains("regen-golden"), "{err}");

    // no golden folder at all
    std::fs::remove_dir_all(model.golden_dir()).unwrap();
    let err = read_manifest(&model).unwrap_err();
    assert!(matches!(err, ModelError::Golden { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cargo run --release -p edgegan-tests --bin regen-golden --"),
        "{err}"
    );
    assert!(GoldenEngine::open(&model).is_err());
}

#[test]
fn discovery_takes_complete_folders_and_rejects_half_shipped_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_model(&ring8().dir, &root.join("b-model"));
    std::fs::create_dir(root.join("a-notes")).unwrap(); // neither file: not a model
    std::fs::write(root.join("README.md"), "models\n").unwrap();
    let found = discover(root).unwrap();
    assert_eq!(found, vec![root.join("b-model")]);

    std::fs::create_dir(root.join("c-half")).unwrap();
    std::fs::write(root.join("c-half").join("model.toml"), "name = \"c\"\n").unwrap();
    let err = discover(root).unwrap_err().to_string();
    assert!(
        err.contains("c-half") && err.contains("generator.onnx"),
        "{err}"
    );
}

#[test]
fn a_card_that_disagrees_with_the_onnx_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());
    let card = model.dir.join("model.toml");
    let text = std::fs::read_to_string(&card).unwrap();
    std::fs::write(&card, text.replace("noise_dim = 8", "noise_dim = 16")).unwrap();
    let changed = ModelDir::load(&model.dir).unwrap();
    let mismatches = changed.card_mismatches();
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert!(mismatches[0].contains("noise_dim"), "{mismatches:?}");

    std::fs::write(&card, "name = [broken").unwrap();
    assert!(matches!(
        ModelDir::load(&model.dir),
        Err(ModelError::Card { .. })
    ));
}

#[test]
fn a_missing_or_broken_burn_checkpoint_is_a_load_error() {
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());
    assert!(BurnEngine::load(&model).is_ok());
    let weights = model.dir.join("generator.bpk");
    let bytes = std::fs::read(&weights).unwrap();
    let breakages: [(&str, &dyn Fn()); 3] = [
        ("truncated weights", &|| {
            std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap()
        }),
        ("missing weights", &|| {
            std::fs::remove_file(&weights).unwrap()
        }),
        ("broken config", &|| {
            std::fs::write(&weights, &bytes).unwrap();
            std::fs::write(model.dir.join("config.toml"), "steps = [").unwrap();
        }),
    ];
    for (what, break_it) in breakages {
        break_it();
        match BurnEngine::load(&model) {
            Err(EngineError::Load { message, .. }) => assert!(!message.is_empty(), "{what}"),
            Err(other) => panic!("{what}: expected a load error, got {other}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }
}

#[test]
fn missing_or_foreign_device_models_are_failures_naming_the_compile_script() {
    use edgegan_tests::engines::egm::{EgmEngine, FORMATS, WeightFormat, file_name};
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());
    for format in FORMATS {
        std::fs::remove_file(model.dir.join(file_name(format))).unwrap();
        let err = EgmEngine::load(&model, format).unwrap_err();
        assert!(matches!(err, EngineError::Load { .. }), "{err}");
        assert!(
            err.to_string().contains("scripts/compile-models.sh"),
            "{err}"
        );
    }
    // the whole engine list fails too: the suite never runs without the device runtime
    let err = edgegan_tests::engines::all(&model)
        .err()
        .expect("engines without .egm files");
    assert!(
        err.to_string().contains("scripts/compile-models.sh"),
        "{err}"
    );

    // a truncated file, and a w8a8 model under the f32 name, are load errors as well
    let original = ring8();
    let w8a8 = std::fs::read(original.dir.join(file_name(WeightFormat::W8A8))).unwrap();
    write_file(
        &model.dir,
        &file_name(WeightFormat::F32),
        &w8a8[..w8a8.len() / 2],
    );
    let err = EgmEngine::load(&model, WeightFormat::F32).unwrap_err();
    assert!(
        err.to_string().contains("scripts/compile-models.sh"),
        "{err}"
    );
    write_file(&model.dir, &file_name(WeightFormat::F32), &w8a8);
    let err = EgmEngine::load(&model, WeightFormat::F32).unwrap_err();
    assert!(err.to_string().contains("weight format w8a8"), "{err}");
}

#[test]
fn device_runtime_engines_reject_inputs_that_do_not_fit() {
    use edgegan_tests::engines::egm::{EgmEngine, FORMATS};
    let model = ring8();
    let case = case_specs(&model.info)[2].inputs(&model.info);
    for format in FORMATS {
        let engine = EgmEngine::load(&model, format).unwrap();
        let mut bad_label = case.clone();
        bad_label.condition =
            Condition::Label(Array::new(vec![7], vec![0, 1, 2, 8, 0, 1, 2]).unwrap());
        let err = engine.run(&bad_label).unwrap_err();
        assert!(matches!(err, EngineError::Input { .. }), "{err}");
        let mut short_z = case.clone();
        short_z.z = Array::new(vec![7, 7], vec![0.0; 49]).unwrap();
        assert!(matches!(
            engine.run(&short_z),
            Err(EngineError::Input { .. })
        ));
        let mut no_label = case.clone();
        no_label.condition = Condition::None;
        assert!(matches!(
            engine.run(&no_label),
            Err(EngineError::Input { .. })
        ));
    }
}

#[test]
fn a_model_the_tests_were_not_built_with_is_a_burn_import_load_error_saying_rebuild() {
    // burn-import runs code generated from generator.onnx at build time: a changed file
    // or an unknown folder must fail with the fix, never run the old import.
    let tmp = tempfile::tempdir().unwrap();
    let model = ring8_copy(tmp.path());
    assert!(BurnImportEngine::load(&model).is_ok());
    let mut onnx = std::fs::read(model.onnx_path()).unwrap();
    onnx.extend_from_slice(b"\0");
    write_file(&model.dir, "generator.onnx", &onnx);
    let err = BurnImportEngine::load(&model).unwrap_err();
    assert!(matches!(err, EngineError::Load { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("ring8-cgan") && text.contains("rebuild"),
        "{text}"
    );

    let other = copy_model(&ring8().dir, &tmp.path().join("not-built"));
    let err = BurnImportEngine::load(&ModelDir::load(&other).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not-built") && text.contains("rebuild"),
        "{text}"
    );
}
