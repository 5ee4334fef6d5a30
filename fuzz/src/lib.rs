//! A mutation fuzzer on stable Rust (no `cargo fuzz`, no nightly) for edgegan's two
//! untrusted-input entry points:
//!
//! - [`Target::Egm`]: `.egm` bytes through [`DeviceModel::from_bytes_with_limits`] under
//!   [`FUZZ_LIMITS`]; a model that loads is sampled once and must sample without error
//!   (the runtime's promise: validation leaves nothing for sampling to trip on).
//! - [`Target::Onnx`]: ONNX bytes through [`compile_onnx_bytes`] with its caps (default
//!   [`OnnxLimits`](edgegan_compiler::tract::OnnxLimits)); any `Ok` or `Err` is fine.
//!
//! A panic in either is a crash. Inputs are the shipped models' bytes (`models/*/`), each
//! mutated 1 to 4 times ([`mutate`]: bit flips, bytes, interesting 32-bit words at aligned
//! offsets, small deltas, truncation, copied and spliced ranges); `.egm` inputs get their
//! checksum recomputed 15 times out of 16 so that mutations reach the deep validation.
//! Everything is seeded: `(target, seed, execution)` names an input.
//!
//! [`Lane::Full`] samples every `.egm` model that loads and compiles every ONNX input
//! completely; [`Lane::Fast`] (the long runs') does the expensive half only for small
//! models. For `.egm` it loads and validates every input the same way but samples only the
//! models of at most [`FAST_SAMPLE_MAX_MACS`] multiply-accumulates, and seals with a
//! table-per-byte CRC: sampling the conv models and the device's 16-entry-table CRC were
//! most of a full-lane execution. For ONNX it checks the caps, loads, declutters and
//! lowers every input and writes it as an f32 `.egm` (the writer's own validation), and
//! runs the rest of a compile (calibration, the quantised writes, tract's run for the
//! error report) only for models of at most [`FAST_SAMPLE_MAX_MACS`].
//!
//! The short run is `cargo test --release -p edgegan-fuzz`; the long ones
//! `cargo run --release -p edgegan-fuzz -- egm --fast --execs 10000000` and
//! `… -- onnx --fast`.

use std::path::{Path, PathBuf};

use edgegan_compiler::builder::{AlignedBytes, WriteOptions};
use edgegan_compiler::compile::{
    CompileError, CompileOptions, compile_onnx_bytes, lower_onnx_bytes,
};
use edgegan_runtime::noise::Pcg32;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Limits};

/// The limits the `.egm` target loads with: [`Limits::HOST`] scaled down so that one
/// execution stays short (the largest shipped model needs a 0.2 MiB arena and about 10^7
/// multiply-accumulates).
pub const FUZZ_LIMITS: Limits = Limits {
    max_arena_bytes: 8 << 20,
    max_macs: 200_000_000,
    max_op_output_bytes: 8 << 20,
};

/// The fast lane's bound: a loaded `.egm` model of more multiply-accumulates than this is
/// validated but not sampled in [`Lane::Fast`], an ONNX model lowered and written as f32
/// but not calibrated, quantised or run by tract (the shipped point models are sampled and
/// compiled, the image models are not; mutations that shrink an image model still are).
pub const FAST_SAMPLE_MAX_MACS: u64 = 100_000;

/// How much of each path an execution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// `.egm`: load with the limits, then sample every model that loads. ONNX: compile.
    Full,
    /// `.egm`: load with the limits, then sample only models of at most
    /// [`FAST_SAMPLE_MAX_MACS`]. ONNX: lower and write f32, then compile only those.
    Fast,
}

/// CRC-32 (the `.egm` checksum, the same as [`edgegan_runtime::crc32`]) with a 256-entry
/// table: one look-up per byte, for sealing mutated inputs quickly.
pub fn fast_crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    // One byte `b` from the initial register !0 leaves T[0xFF ^ b] ^ 0x00FF_FFFF before the
    // final inversion: the table is read off the runtime's own CRC.
    let table = TABLE.get_or_init(|| {
        std::array::from_fn(|x| !edgegan_runtime::crc32(&[0xFF ^ x as u8]) ^ 0x00FF_FFFF)
    });
    let mut c = !0u32;
    for &b in bytes {
        c = table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// [`edgegan_runtime::format::seal`] with [`fast_crc32`].
fn seal(bytes: &mut [u8]) {
    use edgegan_runtime::format::{PREAMBLE_LEN, header};
    if let Some(rest) = bytes.get(PREAMBLE_LEN..) {
        let crc = fast_crc32(rest);
        bytes[header::CRC32..header::CRC32 + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// What is fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The `.egm` parser and one sample.
    Egm,
    /// The ONNX compiler.
    Onnx,
}

/// One input of the corpus: a shipped model file.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The repository's `models/` folder.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The shipped models of `target` under `dir` (`model.*.egm` or `generator.onnx` of each
/// model folder), smallest first.
///
/// # Errors
///
/// A message if the folder cannot be read or holds none.
pub fn corpus(dir: &Path, target: Target) -> Result<Vec<Seed>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut seeds = vec![];
    for entry in entries {
        let folder = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let names: Vec<&str> = match target {
            Target::Egm => vec!["model.f32.egm", "model.w8a32.egm", "model.w8a8.egm"],
            Target::Onnx => vec!["generator.onnx"],
        };
        for name in names {
            let path = folder.join(name);
            if let Ok(bytes) = std::fs::read(&path) {
                seeds.push(Seed { path, bytes });
            }
        }
    }
    if seeds.is_empty() {
        return Err(format!(
            "no {target:?} models under {} (model.*.egm, generator.onnx)",
            dir.display()
        ));
    }
    seeds.sort_by_key(|s| (s.bytes.len(), s.path.clone()));
    Ok(seeds)
}

/// 32-bit values that sit on the edges of size and index checks.
const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    3,
    4,
    16,
    0x7F,
    0xFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

/// Applies 1 to 4 random mutations to `bytes`; `other` is another corpus input for
/// splicing.
pub fn mutate(bytes: &mut Vec<u8>, other: &[u8], rng: &mut Pcg32) {
    let n = 1 + rng.next_u32() % 4;
    for _ in 0..n {
        let len = bytes.len();
        if len == 0 {
            bytes.extend_from_slice(&other[..other.len().min(64)]);
            continue;
        }
        let at = |rng: &mut Pcg32| rng.next_u32() as usize % len;
        match rng.next_u32() % 8 {
            0 => {
                let i = at(rng);
                bytes[i] ^= 1 << (rng.next_u32() % 8);
            }
            1 => {
                let i = at(rng);
                bytes[i] = rng.next_u32() as u8;
            }
            2 | 3 => {
                // a word at an aligned offset: header fields and record fields
                let i = at(rng) & !3;
                if i + 4 <= len {
                    let v = match rng.next_u32() % 4 {
                        0 => rng.next_u32(),
                        1 => len as u32,
                        _ => INTERESTING[rng.next_u32() as usize % INTERESTING.len()],
                    };
                    bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            4 => {
                let i = at(rng) & !3;
                if i + 4 <= len {
                    let mut w = [0u8; 4];
                    w.copy_from_slice(&bytes[i..i + 4]);
                    let delta = (rng.next_u32() % 33) as i32 - 16;
                    let v = u32::from_le_bytes(w).wrapping_add_signed(delta);
                    bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            5 => bytes.truncate(at(rng)),
            6 => {
                // copy a range over another (duplicated records, shifted tables)
                let (from, to) = (at(rng), at(rng));
                let n = (rng.next_u32() as usize % 256)
                    .min(len - from)
                    .min(len - to);
                bytes.copy_within(from..from + n, to);
            }
            _ => {
                // splice a range of another model in
                if !other.is_empty() {
                    let from = rng.next_u32() as usize % other.len();
                    let to = at(rng);
                    let n = (rng.next_u32() as usize % 512)
                        .min(other.len() - from)
                        .min(len - to);
                    bytes[to..to + n].copy_from_slice(&other[from..from + n]);
                }
            }
        }
    }
}

/// What one execution did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The input was refused with an error.
    Rejected,
    /// The input was accepted (loaded and sampled, or compiled).
    Accepted,
    /// The input loaded (`.egm`) or lowered and was written as f32 (ONNX); [`Lane::Fast`]
    /// went no further (too many MACs).
    Loaded,
}

/// Runs the `.egm` target on `bytes` in `lane`.
///
/// # Errors
///
/// A message when a model that loaded fails to sample: a bug in the runtime's validation.
pub fn run_egm(bytes: &[u8], lane: Lane) -> Result<Outcome, String> {
    let aligned = AlignedBytes::new(bytes);
    let Ok(model) = DeviceModel::from_bytes_with_limits(aligned.as_slice(), &FUZZ_LIMITS) else {
        return Ok(Outcome::Rejected);
    };
    if lane == Lane::Fast && model.macs() > FAST_SAMPLE_MAX_MACS {
        return Ok(Outcome::Loaded);
    }
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut out = vec![0.0f32; model.output_len()];
    let mask = vec![0.5f32; model.condition().mask_len()];
    let condition = match model.condition() {
        ConditionKind::None => Condition::None,
        ConditionKind::Label { classes } => Condition::Label(classes - 1),
        ConditionKind::Mask { .. } => Condition::Mask {
            mask: &mask,
            masked: &mask,
        },
    };
    model
        .sample(7, condition, &mut arena, &mut out)
        .map_err(|e| format!("a model that loaded failed to sample: {e}"))?;
    Ok(Outcome::Accepted)
}

/// Compile options that keep one ONNX execution short (one calibration and evaluation
/// seed, no per-layer report); the caps are the defaults.
pub fn quick_compile_options() -> CompileOptions {
    CompileOptions {
        calibration_seeds: 1,
        evaluation_seeds: 1,
        per_layer_report: false,
        ..CompileOptions::default()
    }
}

/// Runs the ONNX target on `bytes` in `lane`: compiled (or, fast, lowered and written) or
/// refused, never a panic.
///
/// # Errors
///
/// A message when the compiler caught a panic ([`CompileError::Panic`]): it keeps the
/// process alive, but the panic is still a bug this fuzzer reports.
pub fn run_onnx(bytes: &[u8], options: &CompileOptions, lane: Lane) -> Result<Outcome, String> {
    let refused = |e: CompileError| match e {
        CompileError::Panic(message) => {
            Err(format!("panicked (caught by the compiler): {message}"))
        }
        _ => Ok(Outcome::Rejected),
    };
    if lane == Lane::Fast {
        // what every compile does first: caps, tract's load and declutter, the lowering
        // and the f32 writer (which loads what it wrote with the runtime)
        let graph = match lower_onnx_bytes(bytes, (-1.0, 1.0)) {
            Ok(graph) => graph,
            Err(e) => return refused(e),
        };
        let Ok(f32) = graph.write(&WriteOptions::f32()) else {
            return Ok(Outcome::Rejected);
        };
        match DeviceModel::from_bytes(AlignedBytes::new(&f32).as_slice()) {
            Ok(m) if m.macs() <= FAST_SAMPLE_MAX_MACS => {}
            Ok(_) => return Ok(Outcome::Loaded),
            Err(_) => return Ok(Outcome::Rejected),
        }
    }
    match compile_onnx_bytes(bytes, options) {
        Ok(_) => Ok(Outcome::Accepted),
        Err(e) => refused(e),
    }
}

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Executions.
    pub execs: u64,
    /// Inputs accepted (loaded and sampled, or compiled).
    pub accepted: u64,
    /// Inputs loaded and validated but not sampled or compiled ([`Lane::Fast`]).
    pub loaded: u64,
    /// Inputs refused.
    pub rejected: u64,
}

impl Stats {
    /// The counts of `self` and `other` together.
    pub fn plus(&self, other: &Stats) -> Stats {
        Stats {
            execs: self.execs + other.execs,
            accepted: self.accepted + other.accepted,
            loaded: self.loaded + other.loaded,
            rejected: self.rejected + other.rejected,
        }
    }
}

/// A crash: the input and what happened.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The execution that found it.
    pub exec: u64,
    /// The counts of the executions before it.
    pub before: Stats,
    /// The input.
    pub input: Vec<u8>,
    /// The panic message or the broken promise.
    pub message: String,
}

/// The input of execution `exec` of `target` under `seed`: a corpus model, mutated.
pub fn input(target: Target, seeds: &[Seed], seed: u64, exec: u64) -> Vec<u8> {
    let mut rng = Pcg32::new(seed, exec);
    // Small models most of the time: the largest (hundreds of KB) cost 10-100 times more.
    let pick = |rng: &mut Pcg32| {
        let r = rng.next_u32() as usize;
        if r.is_multiple_of(16) {
            r / 16 % seeds.len()
        } else {
            r / 16 % seeds.len().div_ceil(2)
        }
    };
    let base = &seeds[pick(&mut rng)].bytes;
    let other = &seeds[pick(&mut rng)].bytes;
    let mut bytes = base.clone();
    mutate(&mut bytes, other, &mut rng);
    if target == Target::Egm && !rng.next_u32().is_multiple_of(16) {
        seal(&mut bytes);
    }
    bytes
}

/// Runs `execs` executions from `first` on in `lane`; stops at the
/// first crash. `progress` is called every `every` executions with the counts so far.
#[allow(clippy::too_many_arguments)]
pub fn run(
    target: Target,
    lane: Lane,
    seeds: &[Seed],
    seed: u64,
    first: u64,
    execs: u64,
    every: u64,
    mut progress: impl FnMut(&Stats),
) -> Result<Stats, Box<Crash>> {
    let options = quick_compile_options();
    let mut stats = Stats::default();
    for exec in first..first.saturating_add(execs) {
        let bytes = input(target, seeds, seed, exec);
        let result = std::panic::catch_unwind(|| match target {
            Target::Egm => run_egm(&bytes, lane),
            Target::Onnx => run_onnx(&bytes, &options, lane),
        });
        let outcome = match result {
            Ok(Ok(o)) => o,
            Ok(Err(message)) => {
                return Err(Box::new(Crash {
                    exec,
                    before: stats,
                    input: bytes,
                    message,
                }));
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "a panic".into());
                return Err(Box::new(Crash {
                    exec,
                    before: stats,
                    input: bytes,
                    message: format!("panicked: {message}"),
                }));
            }
        };
        stats.execs += 1;
        match outcome {
            Outcome::Accepted => stats.accepted += 1,
            Outcome::Loaded => stats.loaded += 1,
            Outcome::Rejected => stats.rejected += 1,
        }
        if every > 0 && stats.execs.is_multiple_of(every) {
            progress(&stats);
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_seeded_and_changes_the_bytes() {
        let base: Vec<u8> = (0..=255).collect();
        let seeds = [Seed {
            path: "x".into(),
            bytes: base.clone(),
        }];
        let a = input(Target::Onnx, &seeds, 1, 5);
        assert_eq!(a, input(Target::Onnx, &seeds, 1, 5));
        let changed = (0..100)
            .filter(|&e| input(Target::Onnx, &seeds, 1, e) != base)
            .count();
        assert!(changed > 90, "{changed} of 100 inputs changed");
    }

    #[test]
    fn the_fast_crc_and_seal_equal_the_runtimes() {
        let mut rng = Pcg32::new(3, 4);
        for len in [0, 1, 15, 16, 17, 100, 4099] {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            assert_eq!(
                fast_crc32(&bytes),
                edgegan_runtime::crc32(&bytes),
                "{len} bytes"
            );
            let (mut a, mut b) = (bytes.clone(), bytes);
            seal(&mut a);
            edgegan_runtime::format::seal(&mut b);
            assert_eq!(a, b, "{len} bytes sealed");
        }
    }
}
