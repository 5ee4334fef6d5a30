//! Writing files so that a reader (a watcher, a resumed run, a crash) never sees half of
//! one: write beside the final name, then rename into place.

use std::path::Path;

use burn::module::Module;

use crate::error::{Result, TrainError};

/// Writes `bytes` to `path` atomically (temp file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(TrainError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(TrainError::io(path))
}

/// Saves `module` as `dir/file` (Burn's burnpack) through a temporary folder `dir/tmp`
/// and a rename, so `dir/file` is either the old file or the complete new one.
pub fn save_module_atomic<M: Module>(module: M, dir: &Path, tmp: &str, file: &str) -> Result<()> {
    let tmp_dir = dir.join(tmp);
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
