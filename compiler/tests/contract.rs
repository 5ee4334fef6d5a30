//! The contract's metadata parser, and the one tract runner against the tract sampler.

use std::path::PathBuf;

use edgegan_compiler::TractSampler;
use edgegan_compiler::contract::{Metadata, MetadataCondition};
use edgegan_compiler::tract::{OnnxInput, OnnxRunner};
use edgegan_runtime::contract::{self, keys};
use edgegan_runtime::{Condition, noise};

fn label_props() -> Vec<(&'static str, &'static str)> {
    vec![
        (keys::NOISE_DIM, "8"),
        (keys::CONDITION, "label"),
        (keys::CLASSES, "2"),
        (keys::CLASS_NAMES, r#"["a", "b"]"#),
        (keys::OUTPUT_SHAPE, "[2]"),
        (keys::VALUE_RANGE, "[-1, 1]"),
        ("other.key", "ignored"),
    ]
}

#[test]
fn metadata_of_a_label_model_parses() {
    let m = Metadata::from_props(label_props()).unwrap();
    assert_eq!(m.noise_dim, 8);
    assert_eq!(
        m.condition,
        MetadataCondition::Label {
            class_names: vec!["a".into(), "b".into()]
        }
    );
    assert_eq!(m.condition.as_str(), "label");
    assert_eq!(m.output_shape, vec![2]);
    assert!(m.bounded);
    assert_eq!(m.entries.len(), 6);
}

#[test]
fn metadata_errors_name_the_key() {
    let mut props = label_props();
    props.retain(|(k, _)| *k != keys::NOISE_DIM);
    assert_eq!(
        Metadata::from_props(props).unwrap_err(),
        "metadata_props lacks edgegan.noise_dim"
    );
    let mut props = label_props();
    props[2] = (keys::CLASSES, "3");
    assert_eq!(
        Metadata::from_props(props).unwrap_err(),
        "edgegan.classes is 3 but edgegan.class_names has 2 names"
    );
    let mut props = label_props();
    props[1] = (keys::CONDITION, "image");
    assert_eq!(
        Metadata::from_props(props).unwrap_err(),
        "edgegan.condition `image` is none of none, label, mask"
    );
}

#[test]
fn the_runner_at_batch_7_matches_the_sampler_row_by_row() {
    let onnx =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ring8-cgan/generator.onnx");
    let runner = OnnxRunner::from_path(&onnx).unwrap();
    let mut sampler = TractSampler::from_onnx_path(&onnx).unwrap();
    let (n, zd) = (7usize, sampler.noise_dim());
    let mut z = vec![0.0f32; n * zd];
    for (i, row) in z.chunks_mut(zd).enumerate() {
        noise::fill(i as u64, row);
    }
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 8).collect();
    let out = runner
        .run(&[
            OnnxInput::F32 {
                name: contract::Z,
                shape: &[n, zd],
                data: &z,
            },
            OnnxInput::I64 {
                name: contract::LABEL,
                shape: &[n],
                data: &labels,
            },
        ])
        .unwrap();
    assert_eq!(out.shape[0], n);
    let len = sampler.output_len();
    let mut x = vec![0.0f32; len];
    for (i, &label) in labels.iter().enumerate() {
        sampler
            .sample(i as u64, Condition::Label(label as u32), &mut x)
            .unwrap();
        for (a, b) in x.iter().zip(&out.data[i * len..(i + 1) * len]) {
            assert!((a - b).abs() <= 1e-5, "row {i}: {a} vs {b}");
        }
    }
}
