//! The one Cargo command line for the crates that are built for a device, outside the
//! workspace (the Rust firmware, the burn-onnx peer, the C API's static library for the C
//! example): the same flags, the same cleaned environment and the same reading of a
//! failure, whether it builds or lints.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::{Error, Result};

/// Lines of Cargo's stderr kept in a build error (the end holds the compiler's verdict).
const STDERR_TAIL: usize = 40;

/// `cargo <subcommand> --release --target <target>` in `dir`, into `target_dir`.
///
/// Flags meant for the host build would replace the firmware's own (`-Tlink.x`), and a
/// `CARGO_BUILD_TARGET` would override `--target`, so the command drops them. Add the
/// crate's own environment (its build script's inputs) and any trailing arguments.
pub fn cargo(subcommand: &str, dir: &Path, target: &str, target_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([subcommand, "--release", "--target", target])
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end and returns what it printed (a failure exit is not an error here:
/// the caller reads stderr first, see [`failure`]).
///
/// # Errors
///
/// [`Error::FirmwareBuild`] if Cargo cannot be started.
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .map_err(|e| Error::FirmwareBuild(format!("running cargo: {e}")))
}

/// The error for a failed cross build: [`Error::MissingTool`] when the Rust target is not
/// installed, else [`Error::FirmwareBuild`] with the end of Cargo's stderr.
pub fn failure(stderr: &str, target: &str) -> Error {
    if stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
    {
        return Error::MissingTool {
            what: format!("the Rust target {target} (rustup target add {target})"),
        };
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines.len().saturating_sub(STDERR_TAIL);
    Error::FirmwareBuild(lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_target_is_named_and_other_failures_keep_the_end_of_stderr() {
        let err = failure(
            "error[E0463]: can't find crate for `core`",
            "thumbv6m-none-eabi",
        );
        assert_eq!(
            err.to_string(),
            "the Rust target thumbv6m-none-eabi (rustup target add thumbv6m-none-eabi) not \
             found: run scripts/setup.sh to install it"
        );
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let Error::FirmwareBuild(tail) = failure(&long, "x") else {
            panic!("a build failure");
        };
        assert_eq!(tail.lines().count(), STDERR_TAIL);
        assert!(tail.ends_with("line 99"));
    }

    #[test]
    fn host_flags_do_not_reach_the_cross_build() {
        let cmd = cargo(
            "build",
            Path::new("."),
            "thumbv7em-none-eabihf",
            Path::new("t"),
        );
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            ["build", "--release", "--target", "thumbv7em-none-eabihf"]
        );
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(removed.contains(&"RUSTFLAGS".to_string()), "{removed:?}");
        assert!(removed.contains(&"CARGO_BUILD_TARGET".to_string()));
    }
}
