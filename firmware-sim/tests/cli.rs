//! The `firmware-sim` CLI end to end on models written by its own `demo-model` command.
//!
//! The QEMU tests build the real firmware and need `qemu-system-arm` and the
//! `thumbv7em-none-eabihf` target: without them they fail with a message to run
//! `scripts/setup.sh` (they never skip).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs firmware-sim with `args`, killing it after `limit`.
fn firmware_sim_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firmware-sim"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn firmware-sim");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("firmware-sim {args:?} ran past {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn firmware_sim(args: &[&str]) -> Output {
    firmware_sim_env(args, &[], Duration::from_secs(120))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts exit code 2 and a stderr containing `needle`.
fn assert_fails_with(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("firmware-sim: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn demo(dir: &Path, kind: &str, weights: &str) -> PathBuf {
    let path = dir.join(format!("{kind}.{weights}.egm"));
    let out = firmware_sim(&[
        "demo-model",
        "--kind",
        kind,
        "--weights",
        weights,
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_describes_the_model_and_its_fit() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path(), "mlp", "w8a8");
    let out = firmware_sim(&["inspect", s(&model)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "format:      w8a8",
        "condition:   a class label below 10",
        "Dense",
        "arena:       320 B",
        "MACs:        2560 per sample",
        "m4-small  fits",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in:\n{stdout}");
    }
}

#[test]
fn sample_writes_png_csv_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let conv = demo(dir.path(), "conv", "w8a8");
    let png = dir.path().join("grid.png");
    let out = firmware_sim(&["sample", "--model", s(&conv), "--n", "9", "--out", s(&png)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));

    let mlp = demo(dir.path(), "mlp", "f32");
    let csv = dir.path().join("points.csv");
    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&mlp),
        "--class",
        "7",
        "--seed",
        "5",
        "--n",
        "3",
        "--out",
        s(&csv),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = csv_text.lines().collect();
    assert_eq!(rows.len(), 4);
    assert!(
        rows[1].starts_with("5,7,") && rows[3].starts_with("7,7,"),
        "{csv_text}"
    );
    assert_eq!(rows[1].split(',').count(), 2 + 64);

    let npy = dir.path().join("points.npy");
    let out = firmware_sim(&["sample", "--model", s(&mlp), "--n", "2", "--out", s(&npy)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&npy).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"));
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!(bytes.len(), 10 + header_len + 2 * 64 * 4);
}

#[test]
fn bad_inputs_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = demo(dir.path(), "mlp", "w8a8");
    let csv = dir.path().join("x.csv");

    let out = firmware_sim(&["run", "--model", s(&mlp), "--profile", "m3"]);
    assert_fails_with(&out, "unknown device profile `m3` (known: m4-small");

    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&mlp),
        "--class",
        "10",
        "--out",
        s(&csv),
    ]);
    assert_fails_with(&out, "class 10 out of range: the model has 10 classes");
    let out = firmware_sim(&[
        "run",
        "--model",
        s(&mlp),
        "--profile",
        "m4-small",
        "--class",
        "12",
    ]);
    assert_fails_with(&out, "class 12 out of range");

    let conv = demo(dir.path(), "conv", "f32");
    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&conv),
        "--class",
        "1",
        "--out",
        s(&csv),
    ]);
    assert_fails_with(&out, "the model takes no class label");
    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&mlp),
        "--out",
        s(&dir.path().join("x.png")),
    ]);
    assert_fails_with(&out, "a PNG needs an image output");

    let mut bytes = std::fs::read(&mlp).unwrap();
    let corrupt = dir.path().join("corrupt.egm");
    bytes[200] ^= 0xFF;
    std::fs::write(&corrupt, &bytes).unwrap();
    let out = firmware_sim(&["inspect", s(&corrupt)]);
    assert_fails_with(&out, "is not a valid .egm model: checksum mismatch");
    let truncated = dir.path().join("truncated.egm");
    std::fs::write(&truncated, &bytes[..100]).unwrap();
    let out = firmware_sim(&["run", "--model", s(&truncated), "--profile", "m4-small"]);
    assert_fails_with(&out, "is not a valid .egm model");
    let out = firmware_sim(&["inspect", s(&dir.path().join("missing.egm"))]);
    assert_fails_with(&out, "reading model");

    let out = firmware_sim_env(
        &["run", "--model", s(&mlp), "--profile", "m4-small"],
        &[("FIRMWARE_SIM_QEMU", "/nonexistent/qemu-system-arm")],
        Duration::from_secs(60),
    );
    assert_fails_with(&out, "run scripts/setup.sh");
}

/// The first profile `inspect` estimates the model fits.
fn smallest_profile(model: &Path) -> String {
    let out = firmware_sim(&["inspect", s(model)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_suffix(" fits").map(|p| p.trim().to_string()))
        .expect("the model fits some profile")
}

/// Builds and runs the firmware in QEMU for `model` with 100 (seed, class) pairs and
/// checks the report; firmware-sim itself fails on any bit difference from the host.
fn qemu_matches_host(kind: &str, weights: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path(), kind, weights);
    let profile = smallest_profile(&model);
    let out = firmware_sim_env(
        &[
            "run",
            "--model",
            s(&model),
            "--profile",
            &profile,
            "--seed",
            "1000",
            "--n",
            "100",
            "--timeout",
            "120",
        ],
        &[],
        Duration::from_secs(900),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "firmware-sim run failed (QEMU or the thumbv7em target missing? run scripts/setup.sh)\n\
         stderr: {}\nstdout: {stdout}",
        text(&out.stderr)
    );
    println!("{stdout}");
    assert!(
        stdout.contains("samples:      100 from the firmware, bit-identical to the host runtime"),
        "{stdout}"
    );
    for needle in ["flash:", "ram:", "per MAC", "stack"] {
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    }
}

#[test]
fn qemu_w8a8_mlp_is_bit_identical_to_host() {
    qemu_matches_host("mlp", "w8a8");
}

#[test]
fn qemu_f32_mlp_is_bit_identical_to_host() {
    qemu_matches_host("mlp", "f32");
}

#[test]
fn qemu_model_too_big_for_profile_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let wide = demo(dir.path(), "wide", "f32");
    let out = firmware_sim_env(
        &[
            "run",
            "--model",
            s(&wide),
            "--profile",
            "m4-small",
            "--n",
            "1",
        ],
        &[],
        Duration::from_secs(900),
    );
    assert_fails_with(
        &out,
        "the model does not fit device profile m4-small (512 KiB flash / 64 KiB RAM): flash \
         fits; RAM needs",
    );
    assert_fails_with(&out, "m4-small has 64 KiB");
}
