//! Writing a compiled set (the three `.egm` files and the model card) all-or-nothing.
//!
//! Every file is first written into a staging folder inside the output folder (same file
//! system, so the final renames are cheap and cannot run out of space). Only when all are
//! written are the old files moved aside and the new ones renamed into place; if any rename
//! fails, the ones already placed are taken back and the old ones restored. A crash between
//! two renames can still leave a mixed set, which is why the card records every file's
//! hash and `inspect` checks it.

use std::path::{Path, PathBuf};

use edgegan_compiler::compile::CompiledModel;
use edgegan_compiler::contract::Metadata;
use edgegan_runtime::{DeviceModel, WeightFormat};

use crate::card::CARD;
use crate::compiled_card::{CompiledCard, EgmRecord, sha256_hex};
use crate::{Error, Result, io};

/// The `.egm` files of a compiled set, by format.
pub const EGM_FILES: [(WeightFormat, &str, &str); 3] = [
    (WeightFormat::F32, "f32", "model.f32.egm"),
    (WeightFormat::W8A32, "w8a32", "model.w8a32.egm"),
    (WeightFormat::W8A8, "w8a8", "model.w8a8.egm"),
];

/// What [`write_compiled`] wrote.
#[derive(Debug)]
pub struct Written {
    /// Each file and its size, in write order.
    pub files: Vec<(PathBuf, u64)>,
    /// The card's content.
    pub card: CompiledCard,
    /// Why some metadata was not used (for the user; the compile still succeeded).
    pub notes: Vec<String>,
}

/// The `edgegan.*` metadata of the ONNX in `bytes`: `Ok(None)` for a foreign ONNX without
/// any, `Err` (a note) for edgegan metadata that does not parse.
fn metadata(bytes: &[u8]) -> std::result::Result<Option<Metadata>, String> {
    let props = edgegan_compiler::contract::onnx_metadata_props(bytes)?;
    if !props
        .iter()
        .any(|(k, _)| k.starts_with(edgegan_runtime::contract::keys::PREFIX))
    {
        return Ok(None);
    }
    Metadata::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map(Some)
}

/// Writes `compiled` (from the ONNX `onnx`) into `out_dir` as `model.{f32,w8a32,w8a8}.egm`
/// and the model card `model.toml`, all-or-nothing. An existing card's hand-written part
/// (above [`crate::compiled_card::MARKER`]) is kept.
///
/// # Errors
///
/// [`Error::Io`] naming the file that could not be read or written (the folder's previous
/// set is then left as it was); [`Error::BadModel`] if the compiled f32 model does not
/// load (a compiler bug).
pub fn write_compiled(onnx: &Path, compiled: &CompiledModel, out_dir: &Path) -> Result<Written> {
    let onnx_bytes = std::fs::read(onnx).map_err(io("reading", onnx))?;
    let mut notes = vec![];
    let meta = metadata(&onnx_bytes).unwrap_or_else(|note| {
        notes.push(format!(
            "{}: edgegan metadata not usable ({note}); the card holds what the graph tells",
            onnx.display()
        ));
        None
    });
    let aligned = edgegan_compiler::AlignedBytes::new(compiled.bytes(WeightFormat::F32));
    let model = DeviceModel::from_bytes(aligned.as_slice()).map_err(|source| Error::BadModel {
        path: out_dir.join(EGM_FILES[0].2),
        source,
    })?;
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let mut records = vec![];
    for (format, key, name) in EGM_FILES {
        let bytes = compiled.bytes(format);
        records.push(EgmRecord {
            format: key.into(),
            file: name.into(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
        files.push((name.into(), bytes.to_vec()));
    }
    let (card, more) = CompiledCard::new(onnx, &onnx_bytes, meta.as_ref(), &model, records);
    notes.extend(more);
    let card_path = out_dir.join(CARD);
    let previous = match std::fs::read_to_string(&card_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading model card", &card_path)(e)),
    };
    files.push((CARD.into(), card.render(previous.as_deref()).into_bytes()));
    std::fs::create_dir_all(out_dir).map_err(io("creating", out_dir))?;
    commit(out_dir, &files, None)?;
    Ok(Written {
        files: files
            .iter()
            .map(|(n, b)| (out_dir.join(n), b.len() as u64))
            .collect(),
        card,
        notes,
    })
}

/// Puts `files` (name, bytes) into `dir` all-or-nothing (see the module docs).
/// `fail_at`: tests make the rename of that file fail to check the rollback.
fn commit(dir: &Path, files: &[(String, Vec<u8>)], fail_at: Option<usize>) -> Result<()> {
    let staging = dir.join(format!(".firmware-sim-compile.{}", std::process::id()));
    // A folder left by a crashed run of the same process id is stale.
    let _ = std::fs::remove_dir_all(&staging);
    let (new, old) = (staging.join("new"), staging.join("old"));
    let result = (|| {
        std::fs::create_dir_all(&new).map_err(io("creating", &new))?;
        std::fs::create_dir_all(&old).map_err(io("creating", &old))?;
        for (name, bytes) in files {
            let path = new.join(name);
            std::fs::write(&path, bytes).map_err(io("writing", &path))?;
        }
        place(dir, &new, &old, files, fail_at)
    })();
    // On success the staging folder holds only the replaced files; on failure nothing of
    // value (the old files are back in place).
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Moves the old files to `old`, then the new ones from `new` into `dir`; on any failure
/// undoes what was done.
fn place(
    dir: &Path,
    new: &Path,
    old: &Path,
    files: &[(String, Vec<u8>)],
    fail_at: Option<usize>,
) -> Result<()> {
    let mut moved_aside = vec![];
    let mut placed = vec![];
    let mut outcome = Ok(());
    for (name, _) in files {
        let target = dir.join(name);
        if target.exists() {
            match std::fs::rename(&target, old.join(name)) {
                Ok(()) => moved_aside.push(name),
                Err(e) => {
                    outcome = Err(io("moving aside", &target)(e));
                    break;
                }
            }
        }
    }
    if outcome.is_ok() {
        for (i, (name, _)) in files.iter().enumerate() {
            let target = dir.join(name);
            let renamed = if fail_at == Some(i) {
                Err(std::io::Error::other("injected failure"))
            } else {
                std::fs::rename(new.join(name), &target)
            };
            match renamed {
                Ok(()) => placed.push(name),
                Err(e) => {
                    outcome = Err(io("writing", &target)(e));
                    break;
                }
            }
        }
    }
    if outcome.is_err() {
        // Best effort: the error already names the cause; a failure here leaves the old
        // file in the staging folder's `old`, which is not removed in that case.
        for name in placed {
            let _ = std::fs::remove_file(dir.join(name));
        }
        for name in moved_aside {
            let _ = std::fs::rename(old.join(name), dir.join(name));
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tag: &str) -> Vec<(String, Vec<u8>)> {
        ["a.egm", "b.egm", "model.toml"]
            .iter()
            .map(|n| (n.to_string(), format!("{tag} {n}").into_bytes()))
            .collect()
    }

    fn read(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_rename_restores_the_previous_set() {
        let dir = tempfile::tempdir().unwrap();
        commit(dir.path(), &set("old"), None).unwrap();
        assert_eq!(read(dir.path()), set("old"));
        for fail in 0..3 {
            assert!(commit(dir.path(), &set("new"), Some(fail)).is_err());
            assert_eq!(read(dir.path()), set("old"), "failing at file {fail}");
        }
        commit(dir.path(), &set("new"), None).unwrap();
        assert_eq!(read(dir.path()), set("new"));
    }
}
