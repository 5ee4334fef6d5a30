//! The runtime's load-time validation: a valid model loads; every corrupted header field,
//! section, tensor and op record is a typed error (moved from the runtime's unit tests,
//! which now have no writer).

use edgegan_compiler::builder::{AlignedBytes, GraphBuilder, WriteOptions, seal};
use edgegan_runtime::format::{
    self, HEADER_LEN, OP_RECORD_LEN, TENSOR_RECORD_LEN, VERSION, header as h,
};
use edgegan_runtime::ops::dense;
use edgegan_runtime::{ConditionKind, DeviceModel, Error, Limits};

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// z[4] -> Dense(4 -> 6) -> Relu -> Dense(6 -> 3) -> Tanh, f32, without fusion so
/// that every op kind in it has its own record.
fn model_bytes() -> Vec<u8> {
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let h = g.dense(z, 6, &[0.1; 24], Some(&[0.0; 6])).unwrap();
    let h = g.relu(h).unwrap();
    let y = g.dense(h, 3, &[0.2; 18], None).unwrap();
    let y = g.tanh(y).unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    graph
        .write(&WriteOptions {
            fuse_relu: false,
            ..WriteOptions::f32()
        })
        .unwrap()
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    DeviceModel::from_bytes(AlignedBytes::new(bytes).as_slice()).map(|_| ())
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn op_offset(b: &[u8], i: usize) -> usize {
    u32_at(b, h::OP_TABLE) as usize + i * OP_RECORD_LEN
}

fn tensor_offset(b: &[u8], i: usize) -> usize {
    u32_at(b, h::TENSOR_TABLE) as usize + i * TENSOR_RECORD_LEN
}

#[test]
fn valid_model_loads() {
    assert_eq!(load(&model_bytes()), Ok(()));
}

#[test]
fn truncated_header_is_error() {
    let b = model_bytes();
    assert_eq!(
        load(&b[..15]),
        Err(Error::Truncated {
            needed: 16,
            available: 15
        })
    );
    assert_eq!(
        load(&b[..HEADER_LEN - 1]),
        Err(Error::Truncated {
            needed: b.len(),
            available: HEADER_LEN - 1
        })
    );
}

#[test]
fn bad_magic_is_error() {
    let mut b = model_bytes();
    b[3] = b'0';
    assert_eq!(load(&b), Err(Error::BadMagic));
}

#[test]
fn newer_version_is_unsupported() {
    let mut b = model_bytes();
    b[h::VERSION] = 9;
    assert_eq!(
        load(&b),
        Err(Error::UnsupportedVersion {
            found: 9,
            supported: VERSION
        })
    );
}

#[test]
fn flipped_weight_byte_fails_checksum() {
    let mut b = model_bytes();
    let last = b.len() - 1;
    b[last] ^= 0x10;
    assert!(matches!(load(&b), Err(Error::ChecksumMismatch { .. })));
}

#[test]
fn unknown_flags_are_rejected() {
    let mut b = model_bytes();
    put_u32(&mut b, h::FLAGS, 1);
    seal(&mut b);
    assert_eq!(load(&b), Err(Error::BadHeader { field: "flags" }));
}

#[test]
fn flag_bits_past_the_known_ones_are_rejected() {
    let mut b = label_bias_bytes();
    assert_eq!(load(&b), Ok(()));
    put_u32(&mut b, h::FLAGS, format::flags::LABEL_BIAS | 2);
    seal(&mut b);
    assert_eq!(load(&b), Err(Error::BadHeader { field: "flags" }));
}

/// z[4] -> Dense(4 -> 3) with a 5-class label-indexed bias (header flag `LABEL_BIAS`).
fn label_bias_bytes() -> Vec<u8> {
    let mut g = GraphBuilder::new(4, ConditionKind::Label { classes: 5 });
    let z = g.noise();
    let y = g
        .dense_label_bias(z, 3, &[0.1; 12], None, &[0.2; 15])
        .unwrap();
    let graph = g.finish(y, (-1.0, 1.0)).unwrap();
    graph.write(&WriteOptions::f32()).unwrap()
}

#[test]
fn a_label_bias_dense_needs_the_flag_and_the_models_classes() {
    let b = label_bias_bytes();
    assert_eq!(u32_at(&b, h::FLAGS), format::flags::LABEL_BIAS);
    let refused = Err(Error::BadOp {
        index: 0,
        reason: "dense label-indexed bias without the model's label-bias flag and classes",
    });
    // an older writer's reader rule: no flag, so the table must not be read as one bias
    let mut no_flag = b.clone();
    put_u32(&mut no_flag, h::FLAGS, 0);
    seal(&mut no_flag);
    assert_eq!(load(&no_flag), refused);
    // rows for another class count
    let mut rows = b.clone();
    let o = op_offset(&rows, 0);
    put_u32(&mut rows, o + 24 + 4 * dense::Params::LABEL_ROWS, 4);
    seal(&mut rows);
    assert_eq!(load(&rows), refused);
}

#[test]
fn tensor_past_the_arena_is_rejected() {
    let mut b = model_bytes();
    let arena = u32_at(&b, h::ARENA_BYTES);
    put_u32(&mut b, h::ARENA_BYTES, arena - 4);
    seal(&mut b);
    assert!(matches!(
        load(&b),
        Err(Error::BadTensor {
            reason: "extends past arena_bytes",
            ..
        })
    ));
}

#[test]
fn ops_out_of_order_read_before_write() {
    // Swap the two dense records: the second now reads a tensor nobody wrote yet.
    let mut b = model_bytes();
    let (o0, o2) = (op_offset(&b, 0), op_offset(&b, 2));
    let first: Vec<u8> = b[o0..o0 + OP_RECORD_LEN].to_vec();
    let third: Vec<u8> = b[o2..o2 + OP_RECORD_LEN].to_vec();
    b[o0..o0 + OP_RECORD_LEN].copy_from_slice(&third);
    b[o2..o2 + OP_RECORD_LEN].copy_from_slice(&first);
    seal(&mut b);
    assert!(
        matches!(load(&b), Err(Error::BadOp { index: 0, .. })),
        "{:?}",
        load(&b)
    );
}

#[test]
fn partly_overlapping_output_is_rejected() {
    // Move the relu's output 4 bytes into its input: a partial overlap, which no kernel
    // may run on.
    let mut b = model_bytes();
    let aligned = AlignedBytes::new(&b);
    let model = DeviceModel::from_bytes(aligned.as_slice()).unwrap();
    let relu = model.op(1).unwrap();
    let x = model.tensor(relu.inputs[0] as usize).unwrap();
    let t = tensor_offset(&b, relu.output as usize);
    put_u32(&mut b, t + 20, x.offset + 4);
    seal(&mut b);
    assert!(load(&b).is_err());
}

#[test]
fn weight_slice_outside_blob_is_rejected() {
    let mut b = model_bytes();
    let o = op_offset(&b, 0);
    let blob_len = u32_at(&b, h::BLOB_LEN);
    put_u32(&mut b, o + 24 + 4 * dense::Params::WEIGHTS, blob_len - 8);
    seal(&mut b);
    assert_eq!(
        load(&b),
        Err(Error::BadOp {
            index: 0,
            reason: "weight array outside the blob"
        })
    );
}

#[test]
fn dense_shape_must_match_tensors() {
    let mut b = model_bytes();
    let o = op_offset(&b, 0);
    put_u32(&mut b, o + 24 + 4 * dense::Params::IN_FEATURES, 5);
    seal(&mut b);
    assert_eq!(
        load(&b),
        Err(Error::BadOp {
            index: 0,
            reason: "dense shape does not match its tensors"
        })
    );
}

#[test]
fn unknown_op_kind_is_rejected() {
    let mut b = model_bytes();
    let o = op_offset(&b, 1);
    b[o] = 200;
    seal(&mut b);
    assert_eq!(
        load(&b),
        Err(Error::BadOp {
            index: 1,
            reason: "unknown op kind"
        })
    );
}

#[test]
fn section_overlap_is_rejected() {
    let mut b = model_bytes();
    let t = u32_at(&b, h::TENSOR_TABLE);
    put_u32(&mut b, h::OP_TABLE, t);
    seal(&mut b);
    assert!(matches!(load(&b), Err(Error::BadSection { .. })));
}

#[test]
fn each_host_limit_refuses_a_model_over_it_and_admits_one_at_it() {
    // z[4] -> Dense(4 -> 16) -> [1, 4, 4] -> nearest x64 -> [1, 256, 256]: a 256 KiB op
    // output (the largest), 64 MACs
    let mut g = GraphBuilder::new(4, ConditionKind::None);
    let z = g.noise();
    let h = g.dense(z, 16, &[0.1; 64], None).unwrap();
    let h = g.reshape(h, &[1, 4, 4]).unwrap();
    let y = g.upsample(h, 64, 64).unwrap();
    let bytes = g
        .finish(y, (-1.0, 1.0))
        .unwrap()
        .write(&WriteOptions::f32())
        .unwrap();
    let aligned = AlignedBytes::new(&bytes);
    let model = DeviceModel::from_bytes(aligned.as_slice()).unwrap();
    let (arena, macs, output) = (model.arena_bytes(), model.macs(), 256 * 256 * 4);
    assert_eq!(macs, 64);
    let load = |limits: &Limits| DeviceModel::from_bytes_with_limits(aligned.as_slice(), limits);
    let at = Limits {
        max_arena_bytes: arena,
        max_macs: macs,
        max_op_output_bytes: output,
    };
    assert!(load(&at).is_ok(), "the limits are inclusive");
    for (over, what, value) in [
        (
            Limits {
                max_arena_bytes: arena - 1,
                ..at
            },
            "arena bytes",
            arena as u64,
        ),
        (
            Limits {
                max_macs: macs - 1,
                ..at
            },
            "multiply-accumulates per sample",
            macs,
        ),
        (
            Limits {
                max_op_output_bytes: output - 1,
                ..at
            },
            "bytes of one op's output",
            output as u64,
        ),
    ] {
        match load(&over) {
            Err(Error::LimitExceeded {
                what: w, value: v, ..
            }) => assert_eq!((w, v), (what, value)),
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
    }
}
