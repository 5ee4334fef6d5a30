//! The engine adapters, and the list of all of them for a model folder.

pub mod burn;
pub mod burn_import;
pub mod egm;
pub mod golden;
pub mod ort;
pub mod tract;

use crate::engine::{Engine, EngineError};
use crate::model::ModelDir;

/// Every engine for `model`, in [`crate::engine::ENGINES`] order: Burn (the reference,
/// from the folder's checkpoint), tract and ONNX Runtime (from `generator.onnx`), the
/// golden files, Burn on the code burn-onnx's import generated from `generator.onnx`
/// (`burn-import`), and the device runtime on `model.{f32,w8a32,w8a8}.egm`. Any engine that
/// cannot be set up is an error (a missing `.egm` names `scripts/compile-models.sh`): the
/// suite never runs with fewer engines than it claims.
pub fn all(model: &ModelDir) -> Result<Vec<Box<dyn Engine>>, EngineError> {
    let mut engines: Vec<Box<dyn Engine>> = vec![
        Box::new(burn::BurnEngine::load(model)?),
        Box::new(tract::TractEngine::load(&model.onnx_path())?),
        Box::new(ort::OrtEngine::load(&model.onnx_path())?),
        Box::new(golden::GoldenEngine::open(model)?),
        Box::new(burn_import::BurnImportEngine::load(model)?),
    ];
    for format in egm::FORMATS {
        engines.push(Box::new(egm::EgmEngine::load(model, format)?));
    }
    Ok(engines)
}

/// The engine that writes golden outputs: Burn, the framework the model was trained in;
/// the ONNX engines are checked against it.
pub fn reference(model: &ModelDir) -> Result<Box<dyn Engine>, EngineError> {
    Ok(Box::new(burn::BurnEngine::load(model)?))
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}
