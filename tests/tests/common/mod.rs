//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use edgegan_tests::model::{ModelDir, discover, models_root};

/// Every shipped model, loaded; panics with the folder's problem when one is broken.
pub fn shipped_models() -> Vec<ModelDir> {
    let root = models_root();
    let dirs = discover(&root).unwrap_or_else(|e| panic!("discovering models: {e}"));
    assert!(
        !dirs.is_empty(),
        "no model folder (model.toml + generator.onnx) under {}",
        root.display()
    );
    dirs.iter()
        .map(|d| ModelDir::load(d).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The label-conditioned shipped model the bad-input tests mutate.
pub fn ring8() -> ModelDir {
    ModelDir::load(&models_root().join("ring8-cgan")).unwrap()
}

/// Copies a model folder (files and one level of subfolders, as golden/ has) into `to`.
pub fn copy_model(from: &Path, to: &Path) -> PathBuf {
    copy_dir(from, to);
    to.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
