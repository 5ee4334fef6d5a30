//! `regen-golden MODEL_DIR...`: rewrites each model folder's `golden/` from its case list
//! with the reference engine (Burn, from the folder's checkpoint), and the device
//! runtime's outputs on every `model.<format>.egm` present.
//!
//! Deterministic: the same model and engine give the same bytes, so a regenerated folder
//! that `git diff` shows as changed means an engine's numbers changed.

use std::path::PathBuf;
use std::process::ExitCode;

use edgegan_tests::engines;
use edgegan_tests::golden::write_golden;
use edgegan_tests::model::ModelDir;

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() || dirs.iter().any(|d| d == "-h" || d == "--help") {
        eprintln!(
            "usage: regen-golden MODEL_DIR...\n\
             rewrites MODEL_DIR/golden/ (inputs and reference outputs as .npy, golden.toml)"
        );
        return ExitCode::from(2);
    }
    for dir in &dirs {
        if let Err(message) = regen(dir) {
            eprintln!("regen-golden: {message}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

fn regen(dir: &std::path::Path) -> Result<(), String> {
    let model = ModelDir::load(dir).map_err(|e| e.to_string())?;
    let reference = engines::reference(&model).map_err(|e| e.to_string())?;
    let manifest = write_golden(&model, reference.as_ref()).map_err(|e| e.to_string())?;
    let egm: Vec<&str> = manifest.egm.iter().map(|e| e.file.as_str()).collect();
    println!(
        "wrote {} ({} cases, reference {}; device models {})",
        model.golden_dir().display(),
        manifest.cases.len(),
        manifest.reference,
        if egm.is_empty() {
            "none: run scripts/compile-models.sh first".to_string()
        } else {
            egm.join(", ")
        }
    );
    Ok(())
}
