//! The peer bench (`firmware-sim bench-peer`, not in CI): the generator's ONNX through
//! burn-onnx's import as `no_std` + `alloc` Burn firmware (`firmware-sim/peer/`), built for
//! the same Cortex-M4F and run in the same QEMU on the same noise and labels as edgegan's
//! firmware, so flash, RAM, instructions and outputs can be put side by side.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cross;
use crate::elf::{self, Footprint};
use crate::firmware::{self, RAM_ORIGIN, TARGET};
use crate::host::Pair;
use crate::{Error, Result};

/// Heap the peer firmware reserves for Burn's tensors (a static; the peak use is measured).
pub const HEAP_BYTES: usize = 1024 * 1024;

/// The peer firmware crate's folder.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// Where the peer firmware is built: `<workspace target>/peer`.
pub fn target_dir() -> PathBuf {
    firmware::sibling_target_dir("peer")
}

/// What the peer firmware measured.
#[derive(Clone, Debug)]
pub struct PeerReport {
    /// The linked image (its static RAM includes the reserved heap).
    pub footprint: Footprint,
    /// Bytes of the embedded burnpack (the weights as burn-onnx stores them).
    pub model_bytes: u64,
    /// Heap bytes in use after loading the model.
    pub heap_loaded: u64,
    /// Peak heap bytes over loading and every sample.
    pub heap_peak: u64,
    /// Stack high-water mark.
    pub stack: u64,
    /// Instructions of each `forward`.
    pub instructions: Vec<u64>,
    /// The samples.
    pub samples: Vec<Vec<f32>>,
}

/// Builds the peer firmware for `onnx` with each pair's noise (`noise_dim` values from
/// [`edgegan_runtime::noise::fill`], what edgegan's sampler draws for the seed) and label,
/// runs it in QEMU and reads what it measured.
///
/// # Errors
///
/// [`Error::MissingTool`], [`Error::FirmwareBuild`] (e.g. the importer cannot lower the
/// model), [`Error::Firmware`].
pub fn run(
    onnx: &Path,
    noise_dim: usize,
    output_len: usize,
    pairs: &[Pair],
    timeout: Duration,
) -> Result<PeerReport> {
    firmware::check_tools()?;
    let onnx = std::fs::canonicalize(onnx).map_err(crate::io("resolving", onnx))?;
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(crate::io("creating", &target))?;
    let lock_path = target.join(".bench-peer.lock");
    let lock = File::create(&lock_path).map_err(crate::io("creating", &lock_path))?;
    lock.lock().map_err(crate::io("locking", &lock_path))?;

    let mut inputs = Vec::new();
    for p in pairs {
        if p.mask.is_some() {
            return Err(Error::Condition(
                "bench-peer feeds noise and labels only (no mask-conditioned models)".into(),
            ));
        }
        inputs.extend_from_slice(&p.label.map_or(-1, i64::from).to_le_bytes());
        let mut z = vec![0.0f32; noise_dim];
        edgegan_runtime::noise::fill(p.seed, &mut z);
        inputs.extend(z.iter().flat_map(|v| v.to_le_bytes()));
    }
    let inputs_path = target.join("inputs.bin");
    if std::fs::read(&inputs_path).ok().as_deref() != Some(&inputs[..]) {
        std::fs::write(&inputs_path, &inputs).map_err(crate::io("writing", &inputs_path))?;
    }

    let output = cross::output(
        cross::cargo("build", &peer_dir(), TARGET, &target)
            .env("PEER_ONNX", &onnx)
            .env("PEER_INPUTS", &inputs_path)
            .env("PEER_NOISE_DIM", noise_dim.to_string())
            .env("PEER_HEAP_BYTES", HEAP_BYTES.to_string()),
    )?;
    if !output.status.success() {
        return Err(cross::failure(
            &String::from_utf8_lossy(&output.stderr),
            TARGET,
        ));
    }
    let elf_path = target.join(TARGET).join("release/edgegan-peer-firmware");
    let elf_bytes = std::fs::read(&elf_path).map_err(crate::io("reading", &elf_path))?;
    let text = firmware::run_qemu(&elf_path, timeout)?;
    drop(lock);

    let fw = firmware::parse_output(&text, output_len)?;
    if fw.samples.len() != pairs.len() {
        return Err(Error::Firmware(format!(
            "the peer firmware printed {} samples, expected {}",
            fw.samples.len(),
            pairs.len()
        )));
    }
    let heap: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("HEAP "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let [heap_peak, heap_loaded] = heap[..] else {
        return Err(Error::Firmware(
            "the peer firmware printed no HEAP line".into(),
        ));
    };
    let per_tick = firmware::instructions_per_tick(fw.calibration)?;
    Ok(PeerReport {
        footprint: elf::footprint(&elf::sections(&elf_path, &elf_bytes)?, RAM_ORIGIN),
        model_bytes: burnpack_bytes(&target),
        heap_loaded,
        heap_peak,
        stack: fw.stack,
        instructions: fw
            .samples
            .iter()
            .map(|(ticks, _)| (*ticks as f64 * per_tick).round() as u64)
            .collect(),
        samples: fw.samples.into_iter().map(|(_, v)| v).collect(),
    })
}

/// Size of the burnpack the last build embedded (0 if it cannot be found).
fn burnpack_bytes(target: &Path) -> u64 {
    let build = target.join(TARGET).join("release/build");
    std::fs::read_dir(build)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("edgegan-peer-firmware-")
        })
        .filter_map(|e| std::fs::metadata(e.path().join("out/model/model.bpk")).ok())
        .max_by_key(|m| m.modified().ok())
        .map_or(0, |m| m.len())
}

/// Largest |a - b| over every value of every sample.
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_builds_beside_the_firmware_and_diffs_every_value() {
        assert_eq!(
            target_dir().parent(),
            firmware::target_dir().parent(),
            "one workspace target folder"
        );
        assert!(peer_dir().join("Cargo.toml").is_file());
        let a = vec![vec![0.0, 1.0], vec![2.0, -1.0]];
        let b = vec![vec![0.0, 1.5], vec![2.0, -3.0]];
        assert_eq!(max_abs_diff(&a, &b), 2.0);
    }
}
