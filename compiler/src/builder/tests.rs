//! The writer's unit tests: errors name the op, fusion and in-place planning.

use super::quantize::QParams;
use super::*;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, WeightFormat};

#[test]
fn dense_weight_length_error_names_the_op() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let h = g.dense(z, 2, &[0.0; 8], None).unwrap();
    let err = g.dense(h, 3, &[0.0; 5], None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "op 1 (Dense): weight has 5 values, expected 3x2 = 6"
    );
}

#[test]
fn conv_on_a_vector_is_an_op_error() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let err = g
        .conv2d(z, Conv2dSpec::same(1, 3), &[0.0; 9], None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Op {
                op: 0,
                kind: "Conv2d",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn gather_needs_a_label_condition() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    assert!(matches!(
        g.label_embedding(&[0.0; 4], 2),
        Err(BuildError::Op {
            op: 0,
            kind: "Gather",
            ..
        })
    ));
}

#[test]
fn broadcast_must_be_scalar_or_per_channel() {
    let mut g = GraphBuilder::new(6, ConditionKind::None);
    let z = g.noise();
    let x = g.reshape(z, &[2, 3]).unwrap();
    let per_channel = g.constant(&[2], &[1.0, 2.0]).unwrap();
    assert!(g.mul(x, per_channel).is_ok());
    let odd = g.constant(&[4], &[1.0; 4]).unwrap();
    assert!(matches!(
        g.add(x, odd),
        Err(BuildError::Op {
            op: 2,
            kind: "Add",
            ..
        })
    ));
}

#[test]
fn unknown_tensor_is_an_op_error() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    assert!(matches!(
        g.relu(TensorId(99)),
        Err(BuildError::Op {
            op: 0,
            kind: "Relu",
            ..
        })
    ));
}

#[test]
fn w8a8_without_calibration_names_the_tensor() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let y = g.dense(z, 2, &[0.5; 8], None).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    let err = graph
        .write(&WriteOptions::w8a8(Calibration::new()))
        .unwrap_err();
    assert!(
        matches!(err, BuildError::MissingCalibration { tensor: 0 }),
        "{err}"
    );
}

#[test]
fn relu_is_fused_into_dense() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let h = g.dense(z, 3, &[-0.5; 12], None).unwrap();
    let y = g.relu(h).unwrap();
    let graph = g.finish(y, (0.0, 1.0)).unwrap();
    let bytes = AlignedBytes::new(&graph.write(&WriteOptions::f32()).unwrap());
    let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
    assert_eq!(model.op_count(), 1);
    assert_eq!(model.op(0).unwrap().activation, 1);
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut out = [1.0f32; 3];
    model
        .sample(1, Condition::None, &mut arena, &mut out)
        .unwrap();
    assert!(out.iter().all(|&v| v >= 0.0));
}

#[test]
fn in_place_activation_shares_its_input_bytes() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let h = g.dense(z, 8, &[0.1; 32], None).unwrap();
    let y = g.tanh(h).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    let bytes = AlignedBytes::new(&graph.write(&WriteOptions::f32()).unwrap());
    let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
    // noise (16 B) and the dense output (32 B) live together; tanh runs in place.
    assert_eq!(model.arena_bytes(), 48);
}

#[test]
fn quant_params_cover_zero_and_the_range() {
    let q = QParams::from_range(-1.0, 1.0);
    assert!((q.scale - 2.0 / 255.0).abs() < 1e-9);
    let q = QParams::from_range(0.5, 2.0); // widened to include 0
    assert_eq!(q.zero_point, -128);
    assert!((q.scale - 2.0 / 255.0).abs() < 1e-9);
}

/// A 2x2 input through a stride-2, 3x3 ConvTranspose2d with output padding 1: shape
/// `(2 − 1)·2 + 3 − 1 − 1 + 1 = 4`, written in all three formats and loaded by the
/// runtime; an output padding not below the stride is an op error.
#[test]
fn conv_transpose2d_shapes_write_and_load() {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let x = g.reshape(z, &[1, 2, 2]).unwrap();
    let spec = Conv2dSpec {
        out_channels: 2,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1, 1, 1],
    };
    let w: Vec<f32> = (0..18).map(|i| i as f32 * 0.05 - 0.4).collect();
    let bad = g.clone().conv_transpose2d(x, spec, [2, 0], &w, None);
    assert!(
        matches!(
            bad,
            Err(BuildError::Op {
                kind: "ConvTranspose2d",
                ..
            })
        ),
        "{bad:?}"
    );
    let y = g
        .conv_transpose2d(x, spec, [1, 1], &w, Some(&[0.1, -0.1]))
        .unwrap();
    assert_eq!(g.shape(y), Some(&[2, 4, 4][..]));
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    let cal = graph
        .calibrate([(1u64, Condition::None), (2, Condition::None)])
        .unwrap();
    for opts in [
        WriteOptions::f32(),
        WriteOptions::w8a32(),
        WriteOptions::w8a8(cal.clone()),
    ] {
        let bytes = graph.write(&opts).unwrap();
        let model = DeviceModel::from_bytes(&bytes).unwrap();
        assert_eq!(model.output_len(), 32);
    }
}

/// z[3] -> Dense(3 -> 2) with a bias and a 4-class label-indexed bias table.
fn label_bias_graph() -> Graph {
    let mut g = GraphBuilder::new(3, ConditionKind::Label { classes: 4 });
    let z = g.noise();
    let w = [0.5, -0.25, 1.0, 0.75, 0.125, -0.5];
    let table: Vec<f32> = (0..8).map(|i| i as f32 * 0.1 - 0.3).collect();
    let y = g
        .dense_label_bias(z, 2, &w, Some(&[0.05, -0.05]), &table)
        .unwrap();
    g.finish(y, (-1.0, 1.0)).unwrap()
}

#[test]
fn a_label_bias_dense_adds_the_labels_row_in_every_format() {
    let graph = label_bias_graph();
    let w = [0.5f32, -0.25, 1.0, 0.75, 0.125, -0.5];
    let samples = (0..4).map(|c| (7, Condition::Label(c)));
    let cal = graph.calibrate(samples).unwrap();
    for opts in [
        WriteOptions::f32(),
        WriteOptions::w8a32(),
        WriteOptions::w8a8(cal),
    ] {
        let bytes = AlignedBytes::new(&graph.write(&opts).unwrap());
        let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
        let mut arena = vec![0u8; model.arena_bytes() + 4];
        let mut sampler = edgegan_runtime::Sampler::new(&model, &mut arena).unwrap();
        let mut z = [0.0f32; 3];
        edgegan_runtime::noise::fill(7, &mut z);
        for c in 0..4u32 {
            let mut y = [0.0f32; 2];
            sampler.sample(7, Condition::Label(c), &mut y).unwrap();
            for (j, &got) in y.iter().enumerate() {
                let dot: f32 = (0..3).map(|k| z[k] * w[j * 3 + k]).sum();
                let want = dot + [0.05, -0.05][j] + ((c as usize * 2 + j) as f32 * 0.1 - 0.3);
                let tol = if opts.format == WeightFormat::F32 {
                    1e-6
                } else {
                    0.05
                };
                assert!(
                    (got - want).abs() <= tol,
                    "{:?} class {c} output {j}: {got} vs {want}",
                    opts.format
                );
            }
        }
    }
}

#[test]
fn a_label_bias_table_of_the_wrong_size_or_without_a_label_is_an_op_error() {
    let mut g = GraphBuilder::new(3, ConditionKind::Label { classes: 4 });
    let z = g.noise();
    let err = g
        .dense_label_bias(z, 2, &[0.0; 6], None, &[0.0; 6])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "op 0 (Dense): label bias has 6 values, expected 4x2"
    );
    let mut g = GraphBuilder::new(3, ConditionKind::None);
    let z = g.noise();
    let err = g
        .dense_label_bias(z, 2, &[0.0; 6], None, &[0.0; 8])
        .unwrap_err();
    assert!(err.to_string().contains("label-conditioned"), "{err}");
}
