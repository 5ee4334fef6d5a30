//! Caps on untrusted ONNX files (issue #12): every tract entry point refuses, before tract
//! builds anything, a file whose declared sizes are too large, naming the tensor, node or
//! input; and a 10,000-node chain neither overflows the stack nor hangs.

#[allow(dead_code)]
#[path = "common/onnx.rs"]
mod onnx;

use edgegan_compiler::compile::{CompileError, CompileOptions, compile_onnx_bytes};
use edgegan_compiler::tract::{OnnxLimitError, OnnxLimits, TypedOnnx};
use onnx::{FLOAT, model, node, tensor_i64, value_info};

/// z[N, `z_dim`] -> Tanh -> x.
fn tanh_model(z_dim: i64) -> Vec<u8> {
    model(
        vec![node("Tanh", "tanh", &["z"], &["x"], vec![])],
        vec![],
        vec![value_info("z", FLOAT, &[z_dim])],
        vec![value_info("x", FLOAT, &[z_dim])],
    )
}

fn compile_err(bytes: &[u8], options: &CompileOptions) -> CompileError {
    match compile_onnx_bytes(bytes, options) {
        Ok(_) => panic!("compiled a model over the caps"),
        Err(e) => e,
    }
}

#[test]
fn a_huge_input_dimension_is_refused_before_tract() {
    // The 77-byte model: z[N, 2^26] ran for minutes at 800 MB.
    let bytes = tanh_model(1 << 26);
    let e = compile_err(&bytes, &CompileOptions::default());
    assert!(
        matches!(
            &e,
            CompileError::Limit(OnnxLimitError::InputTooLarge { name, elements: 67_108_864, limit: 4_194_304 }) if name == "z"
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "input `z` has 67108864 elements per sample, the limit is 4194304"
    );
    let e = TypedOnnx::from_bytes(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("input `z` has 67108864 elements per sample"),
        "{e}"
    );
    // Under the cap the same graph compiles.
    assert!(compile_onnx_bytes(&tanh_model(16), &CompileOptions::default()).is_ok());
}

#[test]
fn a_huge_constant_of_shape_is_refused_naming_the_node() {
    // 60000 x 60000 x 1000 floats (14 TB): tract folded it while typing.
    let bytes = model(
        vec![
            node("ConstantOfShape", "blowup", &["shape"], &["c"], vec![]),
            node("Add", "add", &["z", "c"], &["x"], vec![]),
        ],
        vec![tensor_i64("shape", &[3], &[60_000, 60_000, 1000])],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[4])],
    );
    let e = compile_err(&bytes, &CompileOptions::default()).to_string();
    assert_eq!(
        e,
        "ConstantOfShape node `blowup` has 3600000000000 elements, the limit is 268435456"
    );
    let e = TypedOnnx::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("ConstantOfShape node `blowup`"), "{e}");
}

#[test]
fn a_declared_huge_initializer_is_refused() {
    // The dims claim [2^15, 2^15] (2^30 elements); the data is not even there.
    let bytes = model(
        vec![node("Add", "add", &["z", "w"], &["x"], vec![])],
        vec![tensor_i64("w", &[1 << 15, 1 << 15], &[])],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[4])],
    );
    let e = compile_err(&bytes, &CompileOptions::default()).to_string();
    assert_eq!(
        e,
        "initializer `w` has 1073741824 elements, the limit is 268435456"
    );
}

/// z[N, 4] -> `n` × Relu -> x.
fn relu_chain(n: usize) -> Vec<u8> {
    let names: Vec<String> = (0..=n)
        .map(|i| if i == 0 { "z".into() } else { format!("h{i}") })
        .collect();
    let mut nodes: Vec<_> = (0..n)
        .map(|i| {
            node(
                "Relu",
                &format!("relu{i}"),
                &[&names[i]],
                &[&names[i + 1]],
                vec![],
            )
        })
        .collect();
    nodes.push(node("Tanh", "tanh", &[&names[n]], &["x"], vec![]));
    model(
        nodes,
        vec![],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[4])],
    )
}

#[test]
fn too_many_nodes_are_refused() {
    let options = CompileOptions {
        limits: OnnxLimits {
            max_nodes: 100,
            ..OnnxLimits::default()
        },
        ..CompileOptions::default()
    };
    assert!(compile_onnx_bytes(&relu_chain(99), &options).is_ok());
    let e = compile_err(&relu_chain(100), &options).to_string();
    assert_eq!(e, "the graph has more than 100 nodes");
}

#[test]
fn a_10000_node_chain_does_not_overflow_the_stack() {
    // Run on a thread with a small (256 KiB) stack: the walks must not recurse per node.
    let bytes = relu_chain(10_000);
    let r = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            compile_onnx_bytes(&bytes, &CompileOptions::default()).map(|c| c.graph.ops.len())
        })
        .unwrap()
        .join()
        .expect("compiling a 10,000-node chain panicked");
    // tract merges the chain of Relu (Max(x, 0)) or the writer refuses more ops than a
    // device model may hold: either way a result, not a crash.
    match r {
        Ok(ops) => assert!(ops <= edgegan_runtime::format::MAX_OPS, "{ops} ops"),
        Err(e) => assert!(e.to_string().contains("op"), "{e}"),
    }
}

#[test]
fn a_panic_inside_tract_is_an_error_not_a_crash() {
    // the fuzzer's input (the corpus, seed 5, execution 2517), reduced: an Unsqueeze axis
    // past the output's rank makes tract's shape inference insert out of bounds
    let bytes = model(
        vec![node("Unsqueeze", "u", &["z", "axes"], &["x"], vec![])],
        vec![tensor_i64("axes", &[1], &[5])],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[4])],
    );
    let e = compile_err(&bytes, &CompileOptions::default());
    assert!(
        matches!(&e, CompileError::Panic(m) if m.contains("index exceeds length")),
        "{e}"
    );
    assert!(e.to_string().contains("malformed"), "{e}");
}

#[test]
fn a_node_whose_typed_output_is_huge_is_refused_naming_it_before_declutter() {
    // the fuzzer's input (the corpus, seed 6, execution 10,656), reduced: a reflect Pad's
    // computed amount mutated to 2^30 + 1 rows; tract's declutter of the Resize after it
    // asked for 32 GiB. The caps on the protobuf cannot see a computed shape; the typed
    // shapes are checked before declutter.
    let bytes = model(
        vec![
            node("Pad", "pad", &["z", "pads"], &["p"], vec![]),
            node("Tanh", "tanh", &["p"], &["x"], vec![]),
        ],
        vec![tensor_i64("pads", &[4], &[0, 0, 0, 1 << 30])],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[(1 << 30) + 4])],
    );
    let e = compile_err(&bytes, &CompileOptions::default()).to_string();
    assert_eq!(
        e,
        "the output of node `pad` has 1073741828 elements, the limit is 268435456"
    );
    let e = TypedOnnx::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("the output of node `pad`"), "{e}");
}
