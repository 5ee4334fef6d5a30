//! The fuzzer's command line on bad input: exit 2 with a message naming the input, before
//! any execution.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fuzz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgegan-fuzz"))
        .args(args)
        .output()
        .expect("running edgegan-fuzz")
}

/// A fresh empty folder under the system's temporary folder.
fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgegan-fuzz-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temporary folder");
    dir
}

fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("executions"),
        "it ran before refusing"
    );
}

#[test]
fn a_missing_models_folder_is_refused_naming_it() {
    let missing = empty_dir("missing").join("nope");
    let out = fuzz(&[
        "egm",
        "--execs",
        "10",
        "--models",
        missing.to_str().unwrap(),
    ]);
    assert_refused(&out, &missing.display().to_string());
}

#[test]
fn a_models_folder_without_models_is_refused_naming_it() {
    let dir = empty_dir("empty");
    let out = fuzz(&["onnx", "--execs", "10", "--models", dir.to_str().unwrap()]);
    assert_refused(&out, &format!("no Onnx models under {}", dir.display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_crash_folder_is_refused_before_the_run() {
    let missing = empty_dir("crash").join("nope");
    let out = fuzz(&[
        "egm",
        "--execs",
        "10",
        "--crash-dir",
        missing.to_str().unwrap(),
    ]);
    assert_refused(
        &out,
        &format!("--crash-dir {}: not a folder", missing.display()),
    );
}

#[test]
fn a_bad_execution_count_is_a_usage_error() {
    let out = fuzz(&["egm", "--execs", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--execs"));
}
