//! Writing files so that a reader (a watcher, a resumed run, a crash) never sees half of
//! one: write beside the final name, then rename into place.

use std::path::Path;
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

/// Writes `bytes` to `path` atomically (a uniquely named temp file in the same folder,
/// then rename); on failure the temp file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", unique_suffix()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(TrainError::io(&tmp)(e));
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
    module
        .save_file(tmp_dir.join(file))
        .map_err(|e| TrainError::Checkpoint {
            path: tmp_dir.join(file),
            message: format!("{e:?}"),
        })?;
    std::fs::rename(tmp_dir.join(file), dir.join(file)).map_err(TrainError::io(&dir.join(file)))?;
    // an empty leftover folder is harmless; removing it is tidiness, not correctness
    let _ = std::fs::remove_dir(&tmp_dir);
    Ok(())
}
