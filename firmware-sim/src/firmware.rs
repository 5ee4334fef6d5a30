//! Builds the no_std firmware (`firmware-sim/firmware/`) for one model and profile, runs it
//! in QEMU's `mps2-an386` Cortex-M4 under a timeout, and checks it against the host.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgegan_runtime::DeviceModel;
use edgegan_runtime::format::OpFormat;

use crate::cross;
use crate::elf::{self, Footprint};
use crate::host::{self, Batch, MaskSource, ModelFile, Pair};
use crate::profiles::{CORTEX_M4, Core, Profile, kib};
use crate::{Error, Result};

/// The Rust target of the Cortex-M4F firmware (the default core; the peer and the C
/// example are built for it).
pub const TARGET: &str = CORTEX_M4.target;
/// Where the Cortex-M4F firmware's RAM starts (its `memory.x`; MPS2 SSRAM2).
pub const RAM_ORIGIN: u32 = CORTEX_M4.ram_origin;
/// The environment variable that overrides the QEMU binary (default `qemu-system-arm`).
pub const QEMU_ENV: &str = "FIRMWARE_SIM_QEMU";

/// The firmware crate's folder.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware")
}

/// Where the firmware is built: `<workspace target>/firmware` (CI caches the target folder).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("firmware")
}

/// `<workspace target>/<name>`: where another device build (the peer, the C example)
/// keeps its own target folder beside the firmware's.
pub fn sibling_target_dir(name: &str) -> PathBuf {
    target_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join(name)
}

/// `core`'s QEMU binary; for the Arm cores `FIRMWARE_SIM_QEMU` overrides it.
fn qemu_binary(core: &Core) -> String {
    match std::env::var(QEMU_ENV) {
        Ok(qemu) if core.qemu.0 == CORTEX_M4.qemu.0 => qemu,
        _ => core.qemu.0.to_string(),
    }
}

/// The QEMU command line for `elf` on the Cortex-M4F board (`-icount shift=0`: 1 ns of
/// virtual time per instruction).
pub fn qemu_command(elf: &Path) -> Command {
    qemu_command_for(elf, &CORTEX_M4)
}

/// The QEMU command line for `elf` on `core`'s machine.
pub fn qemu_command_for(elf: &Path, core: &Core) -> Command {
    let mut cmd = Command::new(qemu_binary(core));
    cmd.args(["-machine", core.machine]);
    match core.cpu {
        Some(cpu) => cmd.args(["-cpu", cpu]),
        // no firmware before ours (RISC-V virt would start OpenSBI)
        None => cmd.args(["-bios", "none"]),
    };
    cmd.args([
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
    ])
    .arg(elf);
    cmd
}

/// Checks that QEMU and the Cortex-M4F's Rust target are installed.
///
/// # Errors
///
/// [`Error::MissingTool`], which tells the user to run `scripts/setup.sh`.
pub fn check_tools() -> Result<()> {
    check_tools_for(&CORTEX_M4)
}

/// Checks that `core`'s QEMU and Rust target are installed.
///
/// # Errors
///
/// [`Error::MissingTool`], which tells the user to run `scripts/setup.sh`.
pub fn check_tools_for(core: &Core) -> Result<()> {
    let target = core.target;
    let qemu = qemu_binary(core);
    let found = Command::new(&qemu)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return Err(Error::MissingTool {
            what: format!("QEMU (`{qemu}`, Debian package {})", core.qemu.1),
        });
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_target = sysroot.is_some_and(|s| s.join("lib/rustlib").join(target).is_dir());
    if !has_target {
        return Err(Error::MissingTool {
            what: format!("the Rust target {target} (rustup target add {target})"),
        });
    }
    Ok(())
}

/// The `EDGEGAN_PAIRS` value for the firmware's build script: `seed:label`, `seed:-`
/// (no condition) or `seed:m<kind>:<mask seed>` (a mask drawn by `maskgen`).
///
/// # Errors
///
/// [`Error::Condition`] for masks given as files: the firmware draws its masks from seeds
/// (a table of masks would not fit a small flash).
pub fn pairs_env(pairs: &[Pair]) -> Result<String> {
    let items = pairs
        .iter()
        .map(|p| match (p.label, p.mask) {
            (Some(l), _) => Ok(format!("{}:{l}", p.seed)),
            (None, Some(MaskSource::Generated { kind, seed })) => {
                Ok(format!("{}:m{kind}:{seed}", p.seed))
            }
            (None, Some(MaskSource::Given(_))) => Err(Error::Condition(
                "the firmware draws its masks from seeds: give `run` a picture with --image \
                 and --mask-kind/--mask-seed, not --mask/--masked files"
                    .into(),
            )),
            (None, None) => Ok(format!("{}:-", p.seed)),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(items.join(","))
}

/// Writes `bytes` to `path` unless it already holds them, so that an unchanged input does
/// not make Cargo rebuild the firmware.
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

/// The runtime features the firmware is built with for `model`: the op formats it uses
/// (`f32`, `w8a32`, `w8a8`, in that order), then its op kinds (`op-dense`, …, in the
/// order of their first use), each once, then `int8-fallbacks` if one of its int8 ops
/// needs a fallback kernel on a DSP core (`DeviceModel::needs_int8_fallbacks`), as
/// `edgegan-runtime/<feature>`. With just these the other formats', ops' and fallback
/// kernels are not linked.
pub fn runtime_features(model: &DeviceModel<'_>) -> Vec<String> {
    let mut formats = [false; 3];
    let mut ops: Vec<&str> = vec![];
    for rec in (0..model.op_count()).filter_map(|i| model.op(i)) {
        formats[match rec.format {
            OpFormat::F32 => 0,
            OpFormat::W8A32 => 1,
            OpFormat::W8A8 => 2,
        }] = true;
        if !ops.contains(&rec.kind.feature()) {
            ops.push(rec.kind.feature());
        }
    }
    ["f32", "w8a32", "w8a8"]
        .into_iter()
        .zip(formats)
        .filter_map(|(name, on)| on.then_some(name))
        .chain(ops)
        .chain(model.needs_int8_fallbacks().then_some("int8-fallbacks"))
        .map(|f| format!("edgegan-runtime/{f}"))
        .collect()
}

/// Builds the firmware for `model` (an absolute path) and `profile` with the runtime
/// `features` ([`runtime_features`]); returns the ELF's path. The caller holds the build lock
/// until it is done with the ELF.
fn build(
    model: &Path,
    profile: &Profile,
    batch: &Batch,
    arena_bytes: usize,
    features: &[String],
) -> Result<PathBuf> {
    let target_dir = target_dir();
    let pairs = pairs_env(&batch.pairs)?;
    // The picture that generated masks apply to, little-endian f32 (empty without masks).
    let picture_path = target_dir.join("picture.f32");
    let picture: Vec<u8> = batch.picture.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_if_changed(&picture_path, &picture)?;
    let core = &profile.core;
    let mut cmd = cross::cargo("build", &firmware_dir(), core.target, &target_dir);
    if let Some(feature) = core.board_feature {
        cmd.args(["--features", feature]);
    }
    if core.dsp {
        cmd.args(["--features", "dsp"]);
    }
    // just the model's op formats and kinds (the firmware's default is all of them)
    cmd.arg("--no-default-features");
    for feature in features {
        cmd.args(["--features", feature]);
    }
    let output = cross::output(
        cmd.env("EDGEGAN_MODEL", model)
            .env("EDGEGAN_FLASH_ORIGIN", core.flash_origin.to_string())
            .env("EDGEGAN_RAM_ORIGIN", core.ram_origin.to_string())
            .env("EDGEGAN_FLASH_BYTES", profile.flash.to_string())
            .env("EDGEGAN_RAM_BYTES", profile.ram.to_string())
            .env("EDGEGAN_PAIRS", pairs)
            .env("EDGEGAN_PICTURE", &picture_path),
    )?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(msg) = overflow_message(&stderr, profile, arena_bytes) {
            return Err(Error::DoesNotFit(msg));
        }
        return Err(cross::failure(&stderr, core.target));
    }
    Ok(target_dir
        .join(core.target)
        .join("release")
        .join("edgegan-firmware"))
}

/// The linker's "section … will not fit in region 'X': overflowed by N bytes", as a
/// message naming what is needed and what the profile has.
pub fn overflow_message(stderr: &str, profile: &Profile, arena_bytes: usize) -> Option<String> {
    let mut over: BTreeMap<String, u64> = BTreeMap::new();
    for line in stderr.lines() {
        // rust-lld: "section '.bss' will not fit in region 'RAM': overflowed by N bytes";
        // GNU ld (the C example): "region `RAM' overflowed by N bytes"
        let Some(rest) = line
            .split("will not fit in region '")
            .nth(1)
            .or_else(|| line.split("region `").nth(1))
        else {
            continue;
        };
        let region = rest
            .split(['\'', '`'])
            .next()
            .unwrap_or_default()
            .to_string();
        let Some(n) = rest
            .split("overflowed by ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let e = over.entry(region).or_default();
        *e = (*e).max(n);
    }
    if over.is_empty() {
        return None;
    }
    let mut parts = vec![];
    for (region, have) in [("FLASH", profile.flash), ("RAM", profile.ram)] {
        let have = u64::from(have);
        match over.get(region) {
            Some(n) => {
                let extra = if region == "RAM" {
                    format!(" (the arena alone is {})", kib(arena_bytes as u64))
                } else {
                    String::new()
                };
                parts.push(format!(
                    "{} needs {} ({} B), {} has {}{extra}",
                    if region == "RAM" { "RAM" } else { "flash" },
                    kib(have + n),
                    have + n,
                    profile.name,
                    kib(have)
                ));
            }
            None => parts.push(format!(
                "{} fits",
                if region == "RAM" { "RAM" } else { "flash" }
            )),
        }
    }
    Some(format!(
        "the model does not fit device profile {} ({} flash / {} RAM): {}",
        profile.name,
        kib(u64::from(profile.flash)),
        kib(u64::from(profile.ram)),
        parts.join("; ")
    ))
}

/// What the firmware printed.
#[derive(Clone, Debug, PartialEq)]
pub struct FirmwareOutput {
    /// Arena bytes the firmware was built with.
    pub arena_bytes: u64,
    /// Instructions of the calibration loop, and the timer ticks it took.
    pub calibration: (u64, u64),
    /// Per sample: timer ticks and the values.
    pub samples: Vec<(u64, Vec<f32>)>,
    /// Timer ticks of each op in a run of the first sample (empty when the firmware does
    /// not profile, like the C example).
    pub op_ticks: Vec<u64>,
    /// Measured stack high-water mark in bytes.
    pub stack: u64,
}

/// Parses the firmware's output protocol (see `firmware-sim/firmware/src/main.rs`).
///
/// # Errors
///
/// [`Error::Firmware`] for an `ERR` line, a malformed line or a missing `DONE`.
pub fn parse_output(text: &str, output_len: usize) -> Result<FirmwareOutput> {
    let bad = |m: String| Error::Firmware(format!("unexpected firmware output: {m}"));
    let mut out = FirmwareOutput {
        arena_bytes: 0,
        calibration: (0, 0),
        samples: vec![],
        op_ticks: vec![],
        stack: 0,
    };
    let mut done = false;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let num = |t: Option<&str>| -> Result<u64> {
            t.and_then(|t| t.parse().ok())
                .ok_or_else(|| bad(format!("bad line {line:?}")))
        };
        match f.next() {
            Some("EGM") => out.arena_bytes = num(f.next())?,
            Some("CAL") => out.calibration = (num(f.next())?, num(f.next())?),
            Some("S") => {
                let index = num(f.next())?;
                if index != out.samples.len() as u64 {
                    return Err(bad(format!("sample {index} out of order")));
                }
                let ticks = num(f.next())?;
                let values = f
                    .map(|h| u32::from_str_radix(h, 16).map(f32::from_bits))
                    .collect::<Result<Vec<f32>, _>>()
                    .map_err(|_| bad(format!("bad hex in sample {index}")))?;
                if values.len() != output_len {
                    return Err(bad(format!(
                        "sample {index} has {} values, expected {output_len}",
                        values.len()
                    )));
                }
                out.samples.push((ticks, values));
            }
            Some("OP") => {
                let index = num(f.next())?;
                if index != out.op_ticks.len() as u64 {
                    return Err(bad(format!("op {index} out of order")));
                }
                out.op_ticks.push(num(f.next())?);
            }
            Some("STACK") => out.stack = num(f.next())?,
            Some("DONE") => done = true,
            Some("ERR") => {
                return Err(Error::Firmware(format!(
                    "the firmware failed: {}",
                    line.trim_start_matches("ERR").trim()
                )));
            }
            _ => {}
        }
    }
    if !done {
        return Err(bad("it ended without DONE".into()));
    }
    Ok(out)
}

/// Runs `elf` in QEMU; returns its stdout, or an error if it fails or outlives `timeout`.
///
/// # Errors
///
/// [`Error::MissingTool`] without QEMU, [`Error::Firmware`] on a failure exit or timeout.
pub fn run_qemu(elf: &Path, timeout: Duration) -> Result<String> {
    run_qemu_for(elf, &CORTEX_M4, timeout)
}

/// [`run_qemu`] on `core`'s machine.
///
/// # Errors
///
/// As [`run_qemu`].
pub fn run_qemu_for(elf: &Path, core: &Core, timeout: Duration) -> Result<String> {
    let mut child = qemu_command_for(elf, core)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| Error::MissingTool {
            what: format!("QEMU (`{}`)", qemu_binary(core)),
        })?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::Firmware(format!("waiting for QEMU: {e}")))?
        {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Firmware(format!(
                "QEMU did not finish within {} s (the firmware hung?)",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = out_reader.join().unwrap_or_default();
    let err_text = err_reader.join().unwrap_or_default();
    if !status.success() {
        let last: Vec<&str> = text.lines().filter(|l| l.starts_with("ERR")).collect();
        return Err(Error::Firmware(format!(
            "the firmware exited with failure ({status}){}{}",
            if last.is_empty() {
                String::new()
            } else {
                format!(": {}", last.join("; "))
            },
            if err_text.trim().is_empty() {
                String::new()
            } else {
                format!("\nQEMU: {}", err_text.trim())
            }
        )));
    }
    Ok(text)
}

/// Everything `firmware-sim run` measures.
#[derive(Clone, Debug)]
pub struct Report {
    /// The profile.
    pub profile: Profile,
    /// The pairs sampled.
    pub pairs: Vec<Pair>,
    /// The firmware's samples (bit-identical to the host's).
    pub samples: Vec<Vec<f32>>,
    /// The linked image.
    pub footprint: Footprint,
    /// Bytes of the embedded model (weights, tables, graph).
    pub model_bytes: u64,
    /// Bytes of the weights blob within it.
    pub weight_bytes: u64,
    /// Arena bytes.
    pub arena_bytes: u64,
    /// Output buffer bytes (a static in the firmware).
    pub output_bytes: u64,
    /// Mask and masked buffer bytes (statics in the firmware; 0 without masks).
    pub mask_bytes: u64,
    /// Bytes of the test picture in flash (0 without masks).
    pub picture_bytes: u64,
    /// Stack high-water mark.
    pub stack: u64,
    /// Instructions per sample, one entry per sample.
    pub instructions: Vec<u64>,
    /// Instructions of each op in a run of the first sample (empty if not measured).
    pub op_instructions: Vec<u64>,
    /// Instructions per timer tick, from the calibration loop (40 expected: 25 MHz timer,
    /// 1 instruction per ns).
    pub instructions_per_tick: f64,
    /// MACs per sample.
    pub macs: u64,
}

/// Options of one firmware run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The model file.
    pub model: PathBuf,
    /// The device profile.
    pub profile: Profile,
    /// The samples and their inputs.
    pub batch: Batch,
    /// How long QEMU may run.
    pub timeout: Duration,
    /// The host's caps on the model (arena, MACs, op outputs).
    pub limits: edgegan_runtime::Limits,
}

/// Builds and runs the firmware, and checks it against the host runtime.
///
/// # Errors
///
/// [`Error::MissingTool`], [`Error::BadModel`], [`Error::DoesNotFit`],
/// [`Error::FirmwareBuild`], [`Error::Firmware`], [`Error::Mismatch`].
pub fn run(opts: &RunOptions) -> Result<Report> {
    run_with(opts, |model_path, model| {
        let features = runtime_features(model);
        build(
            model_path,
            &opts.profile,
            &opts.batch,
            model.arena_bytes(),
            &features,
        )
    })
}

/// [`run`] with another firmware: `build` gets the model's absolute path and the parsed
/// model and returns the ELF to run (under the build lock, held until QEMU is done).
///
/// # Errors
///
/// As [`run`].
pub(crate) fn run_with(
    opts: &RunOptions,
    build: impl FnOnce(&Path, &DeviceModel<'_>) -> Result<PathBuf>,
) -> Result<Report> {
    let file = ModelFile::read_with_limits(&opts.model, opts.limits)?;
    let model = file.model()?;
    check_tools_for(&opts.profile.core)?;
    let host_samples = host::sample(&model, &opts.batch)?;
    let pairs = &opts.batch.pairs;
    // One firmware build at a time: they share one target folder and one ELF path.
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(|source| Error::Io {
        action: "creating",
        path: target.clone(),
        source,
    })?;
    let lock_path = target.join(".firmware-sim.lock");
    let lock = File::create(&lock_path).map_err(|source| Error::Io {
        action: "creating",
        path: lock_path.clone(),
        source,
    })?;
    lock.lock().map_err(|source| Error::Io {
        action: "locking",
        path: lock_path.clone(),
        source,
    })?;

    // The firmware embeds a copy of the bytes validated and sampled above, rewritten only
    // when they change: Cargo and make rebuild by file date, so a model replaced by an
    // older-dated file would otherwise run the previous model's firmware.
    let embedded = target.join("model.egm");
    write_if_changed(&embedded, model.bytes())?;
    let embedded = std::fs::canonicalize(&embedded).map_err(crate::io("resolving", &embedded))?;
    let elf_path = build(&embedded, &model)?;
    let elf_bytes = std::fs::read(&elf_path).map_err(|source| Error::Io {
        action: "reading",
        path: elf_path.clone(),
        source,
    })?;
    let text = run_qemu_for(&elf_path, &opts.profile.core, opts.timeout)?;
    drop(lock);

    let fw = parse_output(&text, model.output_len())?;
    if fw.samples.len() != pairs.len() {
        return Err(Error::Firmware(format!(
            "the firmware printed {} samples, expected {}",
            fw.samples.len(),
            pairs.len()
        )));
    }
    compare(pairs, &fw.samples, &host_samples)?;

    let footprint = elf::footprint(
        &elf::sections(&elf_path, &elf_bytes)?,
        opts.profile.core.ram_origin,
    );
    if footprint.static_ram + fw.stack >= u64::from(opts.profile.ram) {
        return Err(Error::DoesNotFit(format!(
            "the stack ran out of RAM on {}: {} B static + {} B stack (high-water mark) \
             >= {} B",
            opts.profile.name, footprint.static_ram, fw.stack, opts.profile.ram
        )));
    }
    if !fw.op_ticks.is_empty() && fw.op_ticks.len() != model.op_count() {
        return Err(Error::Firmware(format!(
            "the firmware timed {} ops, the model has {}",
            fw.op_ticks.len(),
            model.op_count()
        )));
    }
    let per_tick = instructions_per_tick(fw.calibration)?;
    let to_instructions = |ticks: u64| (ticks as f64 * per_tick).round() as u64;
    Ok(Report {
        profile: opts.profile,
        pairs: pairs.clone(),
        instructions: fw
            .samples
            .iter()
            .map(|(t, _)| to_instructions(*t))
            .collect(),
        op_instructions: fw.op_ticks.iter().map(|&t| to_instructions(t)).collect(),
        samples: fw.samples.into_iter().map(|(_, v)| v).collect(),
        footprint,
        model_bytes: model.bytes().len() as u64,
        weight_bytes: model.weight_bytes() as u64,
        arena_bytes: fw.arena_bytes,
        output_bytes: 4 * model.output_len() as u64,
        mask_bytes: 8 * model.condition().mask_len() as u64,
        picture_bytes: 4 * opts.batch.picture.len() as u64,
        stack: fw.stack,
        instructions_per_tick: per_tick,
        macs: model.macs(),
    })
}

/// Checks the firmware's samples bit for bit against the host's.
///
/// # Errors
///
/// [`Error::Mismatch`] naming the first differing sample and element.
pub fn compare(pairs: &[Pair], firmware: &[(u64, Vec<f32>)], host: &[Vec<f32>]) -> Result<()> {
    let mut differing = 0usize;
    let mut first = None;
    for (i, ((_, fw), h)) in firmware.iter().zip(host).enumerate() {
        if let Some(j) = fw
            .iter()
            .zip(h)
            .position(|(a, b)| a.to_bits() != b.to_bits())
        {
            differing += 1;
            first.get_or_insert((i, j));
        }
    }
    if let Some((i, j)) = first {
        let p = pairs[i];
        return Err(Error::Mismatch(format!(
            "{differing} of {} firmware samples differ from the host runtime; first: sample {i} \
             (seed {}, {}) element {j}: firmware {:#010x} ({}), host {:#010x} ({})",
            firmware.len(),
            p.seed,
            p.condition_text(),
            firmware[i].1[j].to_bits(),
            firmware[i].1[j],
            host[i][j].to_bits(),
            host[i][j],
        )));
    }
    Ok(())
}

/// Instructions per timer tick from the firmware's calibration loop `(instructions,
/// ticks)`; an error when the timer did not run.
pub(crate) fn instructions_per_tick((instructions, ticks): (u64, u64)) -> Result<f64> {
    if ticks == 0 {
        return Err(Error::Firmware(
            "the firmware's timer did not run (QEMU without -icount?)".into(),
        ));
    }
    Ok(instructions as f64 / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles;
    use edgegan_compiler::builder::{
        AlignedBytes, Conv2dSpec, GraphBuilder, TensorId, WriteOptions,
    };
    use edgegan_runtime::{Condition, ConditionKind};

    #[test]
    fn the_firmware_gets_just_the_op_formats_and_kinds_its_model_uses() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ring8-cgan");
        // int8 activations are quantised on the way in and back on the way out; w8a32 and
        // f32 models keep f32 activations
        // (its label embedding is folded into the first Dense's bias: no Gather, no Add)
        let int8 = ["quantize", "dense", "tanh", "dequantize"];
        let float = &int8[1..3];
        for (name, formats, ops) in [
            ("model.w8a8.egm", &["w8a8"][..], &int8[..]),
            ("model.w8a32.egm", &["f32", "w8a32"][..], float),
            ("model.f32.egm", &["f32"][..], float),
        ] {
            let file = ModelFile::read(&models.join(name)).unwrap();
            let got = runtime_features(&file.model().unwrap());
            let want: Vec<String> = formats
                .iter()
                .map(|f| format!("edgegan-runtime/{f}"))
                .chain(ops.iter().map(|o| format!("edgegan-runtime/op-{o}")))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    /// A w8a8 model of `z[noise] -> layer -> tanh`, its features.
    fn features_of(
        noise: usize,
        layer: impl FnOnce(&mut GraphBuilder, TensorId) -> TensorId,
    ) -> Vec<String> {
        let mut g = GraphBuilder::new(noise, ConditionKind::None);
        let z = g.noise();
        let y = layer(&mut g, z);
        let y = g.tanh(y).unwrap();
        let graph = g.finish(y, (-1.0, 1.0)).unwrap();
        let cal = graph
            .calibrate([(1, Condition::None), (2, Condition::None)])
            .unwrap();
        let bytes = AlignedBytes::new(&graph.write(&WriteOptions::w8a8(cal)).unwrap());
        runtime_features(&DeviceModel::from_bytes(bytes.as_slice()).unwrap())
    }

    #[test]
    fn the_int8_fallbacks_are_built_in_just_for_models_that_need_them() {
        let fallbacks = "edgegan-runtime/int8-fallbacks".to_string();
        let conv = |k: usize, stride: usize| {
            features_of(64, |g, z| {
                let x = g.reshape(z, &[4, 4, 4]).unwrap();
                let spec = Conv2dSpec {
                    out_channels: 2,
                    kernel: [k, k],
                    stride: [stride, stride],
                    padding: [k / 2; 4],
                };
                let w: Vec<f32> = (0..2 * 4 * k * k)
                    .map(|i| (i % 7) as f32 / 7.0 - 0.4)
                    .collect();
                g.conv2d(x, spec, &w, None).unwrap()
            })
        };
        let dense = |k: usize| {
            features_of(k, |g, z| {
                let w: Vec<f32> = (0..3 * k).map(|i| (i % 5) as f32 / 50.0 - 0.04).collect();
                g.dense(z, 3, &w, None).unwrap()
            })
        };
        // what the DSP kernels take: 3-wide convs at stride 1 or 2, Dense up to 259 inputs
        for features in [conv(3, 1), conv(3, 2), dense(256)] {
            assert!(!features.contains(&fallbacks), "{features:?}");
        }
        // 1x1 and 5x5 convs, and a wider Dense, run the fallbacks on a DSP core
        for features in [conv(1, 1), conv(5, 1), dense(300)] {
            assert_eq!(features.last(), Some(&fallbacks), "{features:?}");
        }
        // and the shipped models none
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        for name in [
            "ring8-cgan",
            "fashion-cgan",
            "fashion-inpaint",
            "foreign/torch-dcgan-fashion",
        ] {
            let file = ModelFile::read(&models.join(name).join("model.w8a8.egm")).unwrap();
            let features = runtime_features(&file.model().unwrap());
            assert!(!features.contains(&fallbacks), "{name}: {features:?}");
        }
    }

    #[test]
    fn linker_overflow_names_needed_and_available() {
        let stderr = "rust-lld: error: section '.bss' will not fit in region 'RAM': overflowed by 70000 bytes\n\
                      rust-lld: error: section '.uninit' will not fit in region 'RAM': overflowed by 70004 bytes\n";
        let p = profiles::find("m4-small").unwrap();
        let msg = overflow_message(stderr, &p, 131_072).unwrap();
        assert_eq!(
            msg,
            "the model does not fit device profile m4-small (512 KiB flash / 64 KiB RAM): \
             flash fits; RAM needs 132.4 KiB (135540 B), m4-small has 64 KiB (the arena alone \
             is 128 KiB)"
        );
        assert!(overflow_message("error: something else", &p, 0).is_none());
        let gnu_ld = "arm-none-eabi/bin/ld: x.elf section `.bss' will not fit in region `RAM'\n\
                      arm-none-eabi/bin/ld: region `RAM' overflowed by 70000 bytes\n";
        let msg = overflow_message(gnu_ld, &p, 131_072).unwrap();
        assert!(msg.contains("RAM needs 132.4 KiB (135536 B)"), "{msg}");
    }

    #[test]
    fn firmware_output_round_trips() {
        let text =
            "EGM 64 2 1\nCAL 1000 25\nOP 0 3\nOP 1 4\nS 0 7 3f800000 bf800000\nSTACK 512\nDONE\n";
        let out = parse_output(text, 2).unwrap();
        assert_eq!(out.samples, vec![(7, vec![1.0, -1.0])]);
        assert_eq!(out.op_ticks, vec![3, 4]);
        assert!(
            parse_output("OP 1 3\nDONE\n", 2).is_err(),
            "ops out of order"
        );
        assert_eq!(
            (out.arena_bytes, out.stack, out.calibration),
            (64, 512, (1000, 25))
        );
        assert!(parse_output("EGM 64 2 1\n", 2).is_err());
        let err = parse_output("ERR sample 3 failed\n", 2).unwrap_err();
        assert_eq!(err.to_string(), "the firmware failed: sample 3 failed");
    }

    /// Issue 12: a model replaced by an older-dated file ran the previous model's
    /// firmware. The embedded copy is rewritten (a new date: Cargo rebuilds) exactly when
    /// the bytes change, whatever the new file's date.
    #[test]
    fn the_embedded_model_changes_date_exactly_when_its_bytes_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.egm");
        write_if_changed(&path, b"model A").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let set_old = || {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        };
        set_old();
        let modified = || std::fs::metadata(&path).unwrap().modified().unwrap();
        // the same bytes: untouched, so nothing is rebuilt
        write_if_changed(&path, b"model A").unwrap();
        assert_eq!(modified(), old);
        // other bytes (an older-dated model file): rewritten now
        write_if_changed(&path, b"model B").unwrap();
        assert!(modified() > old, "the changed model kept its old date");
        assert_eq!(std::fs::read(&path).unwrap(), b"model B");
    }
}
