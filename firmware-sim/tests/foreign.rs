//! `firmware-sim compile` on foreign generators (tests/corpus, from
//! scripts/make-corpus.py): roles inferred and printed, roles given by flag, and bad
//! graphs refused with exit code 2 and a message naming the node or input and the flag.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(rel)
}

fn compile(onnx: &str, flags: &[&str]) -> (Output, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
        .arg("compile")
        .arg(corpus(onnx))
        .arg("--out-dir")
        .arg(tmp.path())
        .args(flags)
        .output()
        .unwrap();
    (out, tmp)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 2 and every needle in stderr.
fn refused(onnx: &str, flags: &[&str], needles: &[&str]) {
    let (out, _tmp) = compile(onnx, flags);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{onnx} {flags:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{onnx} {flags:?}: expected {n:?} in {err}");
    }
}

#[test]
fn default_torch_names_are_inferred_and_printed() {
    let (out, tmp) = compile("torch-mlp-bn/generator.onnx", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"inferred roles: noise "onnx::Concat_0", label "input.1""#),
        "{stdout}"
    );
    for f in ["model.f32.egm", "model.w8a32.egm", "model.w8a8.egm"] {
        assert!(tmp.path().join(f).exists(), "{f}");
    }
}

#[test]
fn roles_by_flag_give_the_same_model_as_inferred_ones() {
    let (a, ta) = compile("torch-dcgan/generator.onnx", &[]);
    let flags = [
        "--noise", "noise", "--label", "class_id", "--output", "image",
    ];
    let (b, tb) = compile("torch-dcgan/generator.onnx", &flags);
    assert!(a.status.success() && b.status.success(), "{}", stderr(&b));
    assert!(!String::from_utf8_lossy(&b.stdout).contains("inferred roles"));
    let read = |d: &Path| std::fs::read(d.join("model.w8a8.egm")).unwrap();
    assert_eq!(read(ta.path()), read(tb.path()));
}

#[test]
fn bad_foreign_graphs_exit_2_naming_the_node_or_input_and_the_flag() {
    // every unsupported op in one report, by node name and ONNX op type
    refused(
        "bad/unsupported-ops.onnx",
        &[],
        &["node wave (ONNX Sin", "node squash (ONNX Erf"],
    );
    refused(
        "bad/two-floats.onnx",
        &[],
        &["\"a\"", "\"b\"", "--noise NAME"],
    );
    refused(
        "bad/float-label.onnx",
        &["--label", "c"],
        &["label input \"c\"", "integer"],
    );
    refused("bad/float-label.onnx", &[], &["\"c\"", "--label NAME"]);
    refused(
        "bad/dynamic-mask.onnx",
        &["--mask", "m", "--masked", "x"],
        &["mask input \"m\"", "dynamic spatial shapes"],
    );
    // variants of supported ops the compiler cannot lower: the node and why
    refused(
        "bad/resize-align-corners.onnx",
        &[],
        &["node up_ac", "half-pixel", "align_corners"],
    );
    refused(
        "bad/pad-channels.onnx",
        &[],
        &["node pad_channels (Pad)", "not the batch or channel axis"],
    );
    refused(
        "bad/transpose-6d.onnx",
        &[],
        &["shuffle_6d", "more than 4 axes"],
    );
    // dynamo's F.one_hot is Equal(label, 0..C); the label compared with 2..0 is not one
    refused(
        "bad/equal-not-onehot.onnx",
        &[],
        &["node eq_reversed", "0..classes (a one-hot)"],
    );
    // weights beside the model (dynamo's default): a clear way out, not tract's message
    refused(
        "bad/external-data.onnx",
        &[],
        &[
            "initializer `W`",
            "external-data.onnx.data",
            "external_data=False",
        ],
    );
    refused(
        "torch-mlp-bn/generator.onnx",
        &["--noise", "nope"],
        &["--noise \"nope\"", "onnx::Concat_0"],
    );
    refused(
        "torch-mlp-bn/generator.onnx",
        &["--output", "x"],
        &["--output \"x\"", "28"],
    );
}
