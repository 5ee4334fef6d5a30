//! `firmware-sim run --c`: the same run as [`firmware::run`], with the C example firmware
//! (`firmware-sim/c-example/`: `main.c` and a Makefile) instead of the Rust one. It links
//! the C API's static library (`runtime-c`, built for the same target as the Rust
//! firmware with the same size profile) with Debian's `gcc-arm-none-eabi` and newlib,
//! and embeds the model with `.incbin`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use edgegan_runtime::DeviceModel;

use crate::firmware::{self, Report, RunOptions, TARGET, overflow_message, write_if_changed};
use crate::host::{Batch, MaskSource, Pair};
use crate::profiles::{CORTEX_M4, Profile};
use crate::{Error, Result, cross};

/// The C cross compiler (Debian package `gcc-arm-none-eabi`).
pub const CC: &str = "arm-none-eabi-gcc";

/// The C example's folder.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c-example")
}

/// Where the C example and its static library are built: `<workspace target>/c-example`.
pub fn target_dir() -> PathBuf {
    firmware::sibling_target_dir("c-example")
}

/// Checks for `make`, the cross compiler and its newlib.
///
/// # Errors
///
/// [`Error::MissingTool`], which tells the user to run `scripts/setup.sh`.
pub fn check_tools() -> Result<()> {
    let runs = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs(Command::new("make").arg("--version")) {
        return Err(Error::MissingTool {
            what: "make (Debian package make)".into(),
        });
    }
    if !runs(Command::new(CC).arg("--version")) {
        return Err(Error::MissingTool {
            what: format!("the C cross compiler {CC} (Debian package gcc-arm-none-eabi)"),
        });
    }
    // gcc prints the bare name back when it cannot find the library
    let nano = Command::new(CC)
        .args(["-mthumb", "-mcpu=cortex-m4", "-print-file-name=libc_nano.a"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !Path::new(&nano).is_absolute() {
        return Err(Error::MissingTool {
            what: "newlib for arm-none-eabi (Debian package libnewlib-arm-none-eabi)".into(),
        });
    }
    Ok(())
}

/// Builds the C API's static library for [`TARGET`] with the Rust firmware's size profile;
/// returns its path.
fn build_static_lib(target_dir: &Path) -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = cross::output(
        cross::cargo("build", &workspace, TARGET, target_dir)
            .args(["-p", "edgegan-runtime-c", "--features", "cortex-m-dsp"])
            // the Rust firmware's profile (firmware/Cargo.toml), so the two compare
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
            .env("CARGO_PROFILE_RELEASE_LTO", "true")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
            .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
    )?;
    if !output.status.success() {
        return Err(cross::failure(
            &String::from_utf8_lossy(&output.stderr),
            TARGET,
        ));
    }
    Ok(target_dir
        .join(TARGET)
        .join("release")
        .join("libedgegan_runtime_c.a"))
}

/// `config.h` for `main.c`: buffer sizes from the model, the samples to make and, for
/// inpainting models, the picture the test masks apply to.
///
/// # Errors
///
/// [`Error::Condition`] for masks given as files (the firmware draws masks from seeds).
pub fn config_h(model: &DeviceModel<'_>, batch: &Batch) -> Result<String> {
    let mask_len = model.condition().mask_len();
    let [c, h, w] = match model.condition() {
        edgegan_runtime::ConditionKind::Mask {
            channels,
            height,
            width,
        } => [channels, height, width],
        _ => [0; 3],
    };
    let mut s = String::from("/* Written by firmware-sim run --c for main.c. */\n");
    let _ = writeln!(s, "#define ARENA_BYTES {}u", model.arena_bytes());
    let _ = writeln!(s, "#define OUTPUT_LEN {}u", model.output_len());
    let _ = writeln!(
        s,
        "#define MASK_C {c}u\n#define MASK_H {h}u\n#define MASK_W {w}u\n#define MASK_LEN {mask_len}u"
    );
    let _ = writeln!(s, "#define PAIR_COUNT {}u", batch.pairs.len());
    s.push_str("#define PAIRS_INIT { \\\n");
    for p in &batch.pairs {
        let (code, mask_seed) = pair_code(p)?;
        let _ = writeln!(s, "    {{{}u, {code}u, {mask_seed}u}}, \\", p.seed);
    }
    s.push_str("}\n#define PICTURE_INIT { \\\n");
    for row in batch.picture.chunks(8) {
        s.push_str("   ");
        for v in row {
            let _ = write!(s, " {},", c_float(*v));
        }
        s.push_str(" \\\n");
    }
    s.push_str("}\n");
    Ok(s)
}

/// `v` as a C `float` literal with the same bits: Rust's `{:e}` is the shortest decimal
/// that reads back to `v`, and C compilers read decimal literals correctly rounded.
fn c_float(v: f32) -> String {
    format!("{v:e}f")
}

/// `(label or mask kind, mask seed)` of a pair; `0xffffffff` for no condition.
fn pair_code(p: &Pair) -> Result<(u32, u64)> {
    match (p.label, p.mask) {
        (Some(l), _) => Ok((l, 0)),
        (None, Some(MaskSource::Generated { kind, seed })) => Ok((kind, seed)),
        (None, Some(MaskSource::Given(_))) => Err(Error::Condition(
            "the C example draws its masks from seeds: give `run` a picture with --image and \
             --mask-kind/--mask-seed, not --mask/--masked files"
                .into(),
        )),
        (None, None) => Ok((u32::MAX, 0)),
    }
}

/// Builds the static library and the C example for `model` (an absolute path) and
/// `profile`; returns the ELF's path.
fn build(
    model_path: &Path,
    model: &DeviceModel<'_>,
    profile: &Profile,
    batch: &Batch,
) -> Result<PathBuf> {
    if profile.core != CORTEX_M4 {
        return Err(Error::Condition(format!(
            "the C example is built for the {} only; profile {} is a {}",
            CORTEX_M4.name, profile.name, profile.core.name
        )));
    }
    check_tools()?;
    let target = target_dir();
    let out = target.join("build");
    std::fs::create_dir_all(&out).map_err(crate::io("creating", &out))?;
    let lib = build_static_lib(&target)?;
    let config = out.join("config.h");
    write_if_changed(&config, config_h(model, batch)?.as_bytes())?;
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(example_dir())
        .arg(format!("BUILD={}", out.display()))
        .arg(format!("MODEL={}", model_path.display()))
        .arg(format!("CONFIG={}", config.display()))
        .arg(format!("LIB={}", lib.display()))
        .arg(format!("FLASH_BYTES={}", profile.flash))
        .arg(format!("RAM_BYTES={}", profile.ram))
        .stdin(Stdio::null());
    let output = make
        .output()
        .map_err(|e| Error::FirmwareBuild(format!("running make: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(msg) = overflow_message(&stderr, profile, model.arena_bytes()) {
            return Err(Error::DoesNotFit(msg));
        }
        return Err(cross::failure(&stderr, TARGET));
    }
    Ok(out.join("edgegan-c-example.elf"))
}

/// Builds the C example, runs it in QEMU and checks it against the host runtime, as
/// [`firmware::run`] does for the Rust firmware.
///
/// # Errors
///
/// As [`firmware::run`].
pub fn run(opts: &RunOptions) -> Result<Report> {
    firmware::run_with(opts, |path, model| {
        build(path, model, &opts.profile, &opts.batch)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_codes_and_given_masks_are_refused() {
        let pair = |label, mask| Pair {
            seed: 1,
            label,
            mask,
        };
        assert_eq!(pair_code(&pair(Some(3), None)).unwrap(), (3, 0));
        assert_eq!(pair_code(&pair(None, None)).unwrap(), (u32::MAX, 0));
        let generated = MaskSource::Generated { kind: 2, seed: 9 };
        assert_eq!(pair_code(&pair(None, Some(generated))).unwrap(), (2, 9));
        assert!(pair_code(&pair(None, Some(MaskSource::Given(0)))).is_err());
    }

    #[test]
    fn picture_literals_read_back_to_the_same_bits() {
        for v in [
            0.1f32,
            -1.0,
            1.0 / 3.0,
            f32::MIN_POSITIVE,
            1e-45,
            -0.0,
            0.999_999_9,
        ] {
            let text = c_float(v);
            let back: f32 = text.trim_end_matches('f').parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
        }
    }
}
