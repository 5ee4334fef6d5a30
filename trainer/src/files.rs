//! Writing files so that a reader (a watcher, a resumed run, a crash) never sees half of
//! one: write beside the final name, then rename into place.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::Module;

use crate::error::{Result, TrainError};

/// A name suffix no other writer uses at the same time: this process's id and a counter,
/// so two processes (or two writes in one) never share a temporary file.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// The environment variable of the disk-full test hook: `EDGEGAN_TRAIN_FAIL_WRITE=N`
/// makes the `N`th file write of the process (counting from 1 every write of
/// [`write_file`] and [`append_file`]: checkpoints, `state.json`, `latest`, metrics lines,
/// configs, sample grids) write half its bytes and fail with ENOSPC, as a disk that fills
/// during that write would. Unset, writes are plain writes.
pub const FAIL_WRITE_ENV: &str = "EDGEGAN_TRAIN_FAIL_WRITE";

/// Whether this write is the one [`FAIL_WRITE_ENV`] asks to fail.
fn injected_disk_full() -> bool {
    static FAIL_AT: OnceLock<Option<u64>> = OnceLock::new();
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let Some(at) = *FAIL_AT.get_or_init(|| {
        std::env::var(FAIL_WRITE_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    }) else {
        return false;
    };
    WRITES.fetch_add(1, Ordering::Relaxed) + 1 == at
}

/// ENOSPC, "No space left on device".
fn disk_full() -> std::io::Error {
    if cfg!(unix) {
        // ENOSPC on Linux, macOS and the BSDs
        std::io::Error::from_raw_os_error(28)
    } else {
        std::io::Error::from(std::io::ErrorKind::StorageFull)
    }
}

/// Writes `module`'s weights (Burn's burnpack) to `path` through [`write_file`].
pub fn save_module<M: Module>(module: M, path: &Path) -> Result<()> {
    let bytes = module
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("{e:?}"),
        })?;
    write_file(path, &bytes).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` (created or truncated): the trainer's one whole-file write,
/// where the disk-full hook ([`FAIL_WRITE_ENV`]) applies.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if injected_disk_full() {
        std::fs::write(path, &bytes[..bytes.len() / 2])?;
        return Err(disk_full());
    }
    std::fs::write(path, bytes)
}

/// Appends `bytes` to `file` (the disk-full hook applies, as for [`write_file`]).
pub fn append_file(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    if injected_disk_full() {
        file.write_all(&bytes[..bytes.len() / 2])?;
        return Err(disk_full());
    }
    file.write_all(bytes)
}

/// Writes `bytes` to `path` atomically (a uniquely named temp file in the same folder,
/// then rename); on failure the temp file is removed, `path` is untouched and the error
/// names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", unique_suffix()));
    if let Err(e) = write_file(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(TrainError::io(path)(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::io(path)(e)
    })
}

/// Saves `module` as `dir/file` (Burn's burnpack) through a temporary folder `dir/tmp-…`
/// (made unique per process and call) and a rename, so `dir/file` is either the old file
/// or the complete new one.
pub fn save_module_atomic<M: Module>(module: M, dir: &Path, tmp: &str, file: &str) -> Result<()> {
    let tmp_dir = dir.join(format!("{tmp}-{}", unique_suffix()));
    std::fs::create_dir_all(&tmp_dir).map_err(TrainError::io(&tmp_dir))?;
    save_module(module, &tmp_dir.join(file))?;
    std::fs::rename(tmp_dir.join(file), dir.join(file)).map_err(TrainError::io(&dir.join(file)))?;
    // an empty leftover folder is harmless; removing it is tidiness, not correctness
    let _ = std::fs::remove_dir(&tmp_dir);
    Ok(())
}
