//! The lowering walk (issue #12): demand-driven like a recursion, so the op order of the
//! `.egm` bytes is the order a node's lowering reads its inputs in, but on an explicit
//! stack, so no graph is deep enough to overflow the thread's stack.

#[allow(dead_code)]
#[path = "common/onnx.rs"]
mod onnx;

use edgegan_compiler::builder::{Graph, TensorId};
use edgegan_compiler::compile::lower_onnx_bytes;
use onnx::{Attr, FLOAT, gemm, model, node, tanh_chain, tensor_f32, value_info, weights};

/// The ops of `graph` as (name, inputs, output).
fn ops(graph: &Graph) -> Vec<(&'static str, Vec<TensorId>, TensorId)> {
    graph
        .ops
        .iter()
        .map(|(op, out)| (op.name(), op.inputs(), *out))
        .collect()
}

#[test]
fn a_10000_node_tanh_chain_lowers_on_a_small_stack_in_chain_order() {
    // 256 KiB of stack: a walk that recursed once per node would overflow it
    let bytes = tanh_chain(10_000);
    let graph = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || lower_onnx_bytes(&bytes, (-1.0, 1.0)))
        .unwrap()
        .join()
        .expect("lowering a 10,000-node chain panicked")
        .unwrap_or_else(|e| panic!("lowering a 10,000-node chain failed: {e}"));
    let ops = ops(&graph);
    assert_eq!(ops.len(), 10_000);
    // post-order: each Tanh reads the one before it, the first reads the noise
    let mut previous = graph.noise;
    for (i, (name, inputs, out)) in ops.iter().enumerate() {
        assert_eq!((*name, &inputs[..]), ("Tanh", &[previous][..]), "op {i}");
        previous = *out;
    }
    assert_eq!(graph.output, previous);
}

#[test]
fn ops_emitted_between_two_reads_keep_their_place_and_are_emitted_once() {
    // Concat(Gemm(z), Tanh(Gemm(z))): the Concat's lowering emits the pending Dense of
    // its first input, then reads its second, which is not lowered yet and reads the
    // Dense's output too. A recursive walk emits Dense, Tanh, Concat; the explicit stack
    // reruns the Concat after the Tanh and must neither emit the Dense again nor move it.
    let bytes = model(
        vec![
            gemm("fc", &["z", "w", "b"], &["h"]),
            node("Tanh", "tanh", &["h"], &["t"], vec![]),
            node(
                "Concat",
                "cat",
                &["h", "t"],
                &["x"],
                vec![Attr::Int("axis", 1)],
            ),
        ],
        vec![
            tensor_f32("w", &[4, 4], &weights(16, 1, 0.5)),
            tensor_f32("b", &[4], &weights(4, 2, 0.1)),
        ],
        vec![value_info("z", FLOAT, &[4])],
        vec![value_info("x", FLOAT, &[8])],
    );
    let graph = lower_onnx_bytes(&bytes, (-1.0, 1.0)).unwrap();
    let ops = ops(&graph);
    let names: Vec<&str> = ops.iter().map(|o| o.0).collect();
    assert_eq!(names, ["Dense", "Tanh", "Concat"], "{ops:?}");
    let (dense, tanh) = (ops[0].2, ops[1].2);
    assert_eq!(ops[0].1, [graph.noise]);
    assert_eq!(ops[1].1, [dense]);
    assert_eq!(ops[2].1, [dense, tanh]);
    assert_eq!(graph.output, ops[2].2);
}
