//! `firmware-sim lint`: `cargo fmt --check` and `cargo clippy -D warnings` for the device
//! crates outside the workspace (the firmware with its board crate, and the burn-onnx
//! peer), each for its own target, as `scripts/test.sh` does for the workspace.
//!
//! Their build scripts embed a model named in the environment (`firmware-sim run` and
//! `bench-peer` set it for a real build), so the lint builds them for the shipped
//! ring8-cgan, the smallest model.

use std::path::{Path, PathBuf};
use std::process::Command;

use edgegan_runtime::DeviceModel;

use crate::firmware::{self, TARGET};
use crate::profiles::{CORTEX_M0, CORTEX_M4, CORTEX_M33, RISCV32};
use crate::{Error, Result, cross, peer};

/// The model folder the lint builds the firmware crates for.
pub fn lint_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ring8-cgan")
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let output = cross::output(cmd)?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Error::MissingTool { what } = cross::failure(&stderr, TARGET) {
        return Err(Error::MissingTool { what });
    }
    Err(Error::Lint(format!("{what}:\n{stdout}{stderr}")))
}

/// `cargo fmt --check` in `dir` (every member of that crate's workspace).
fn fmt_check(dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).args(["fmt", "--all", "--", "--check"]);
    cmd
}

/// Checks formatting and lints of the firmware (and its board crate) and of the peer;
/// returns one line per check that passed.
///
/// # Errors
///
/// [`Error::Lint`] with the tool's output for the first check that fails,
/// [`Error::MissingTool`] without the Rust target, [`Error::Io`] and
/// [`Error::BadModel`] for the shipped model it builds for.
pub fn lint() -> Result<Vec<String>> {
    let dir = lint_model_dir();
    let egm = dir.join("model.w8a8.egm");
    let onnx = dir.join("generator.onnx");
    let bytes = std::fs::read(&egm).map_err(|source| Error::Io {
        action: "reading",
        path: egm.clone(),
        source,
    })?;
    let model = DeviceModel::from_bytes(&bytes).map_err(|source| Error::BadModel {
        path: egm.clone(),
        source,
    })?;
    // One sample of label 0 and zero noise: the peer's build script only needs its shape.
    let noise_dim = model.noise_dim();
    let peer_target = peer::target_dir();
    std::fs::create_dir_all(&peer_target).map_err(|source| Error::Io {
        action: "creating",
        path: peer_target.clone(),
        source,
    })?;
    let inputs = peer_target.join("lint-inputs.bin");
    std::fs::write(&inputs, vec![0u8; 8 + 4 * noise_dim]).map_err(|source| Error::Io {
        action: "writing",
        path: inputs.clone(),
        source,
    })?;

    let mut passed = vec![];
    let fw = firmware::firmware_dir();
    run("cargo fmt --check (firmware, board)", &mut fmt_check(&fw))?;
    passed.push("fmt: firmware-sim/firmware, firmware-sim/board".to_string());
    // each core: its target and its board feature select different code
    for core in [CORTEX_M4, CORTEX_M0, CORTEX_M33, RISCV32] {
        let mut cmd = cross::cargo("clippy", &fw, core.target, &firmware::target_dir());
        if let Some(feature) = core.board_feature {
            cmd.args(["--features", feature]);
        }
        if core.dsp {
            cmd.args(["--features", "dsp"]);
        }
        run(
            &format!("cargo clippy (firmware, board; {})", core.name),
            cmd.args(["--workspace", "--", "-D", "warnings"])
                .env("EDGEGAN_MODEL", &egm)
                .env("EDGEGAN_PAIRS", "42:0"),
        )?;
        passed.push(format!(
            "clippy -D warnings ({}): firmware-sim/firmware, firmware-sim/board",
            core.target
        ));
    }
    let pd = peer::peer_dir();
    run("cargo fmt --check (peer)", &mut fmt_check(&pd))?;
    passed.push("fmt: firmware-sim/peer".to_string());
    run(
        "cargo clippy (peer)",
        cross::cargo("clippy", &pd, TARGET, &peer_target)
            .args(["--", "-D", "warnings"])
            .env("PEER_ONNX", &onnx)
            .env("PEER_INPUTS", &inputs)
            .env("PEER_NOISE_DIM", noise_dim.to_string())
            .env("PEER_HEAP_BYTES", peer::HEAP_BYTES.to_string()),
    )?;
    passed.push(format!("clippy -D warnings ({TARGET}): firmware-sim/peer"));
    Ok(passed)
}
