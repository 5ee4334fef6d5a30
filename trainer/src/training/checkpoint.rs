//! Checkpoints: G, D, both optimisers' state (Burn burnpack `.bpk`), the EMA generator,
//! the step and the RNG state — everything a resumed run needs to continue
//! bit-identically.
//!
//! A checkpoint is a folder `checkpoints/step-NNNNNNN/`. It is written under a temporary
//! name and renamed into place when complete, and `checkpoints/latest` (itself written to
//! a temporary file and renamed) names the newest one, so a crash at any point leaves the
//! previous checkpoint intact and findable.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::gan::{Gan, adam_for};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::files::{save_module, unique_suffix, write_atomic, write_file};

const FORMAT_VERSION: u32 = 1;
const GENERATOR: &str = "generator.bpk";
const DISCRIMINATOR: &str = "discriminator.bpk";
const G_OPTIMIZER: &str = "g_optimizer.bpk";
const D_OPTIMIZER: &str = "d_optimizer.bpk";
const GENERATOR_EMA: &str = "generator_ema.bpk";
const STATE: &str = "state.json";
const LATEST: &str = "latest";

/// The non-tensor part of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// checkpoint layout version
    pub format_version: u32,
    /// completed steps
    pub step: usize,
    /// the run RNG, exactly where training left it
    pub rng: Pcg64,
    /// the config the networks were built from
    pub config: TrainConfig,
}

fn ckpt_err(path: &Path, message: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Name of the checkpoint folder for `step`.
pub fn folder_name(step: usize) -> String {
    format!("step-{step:07}")
}

/// Saves the GAN's full training state under `root/step-NNNNNNN/`, points
/// `root/latest` at it, and prunes all but the newest `keep` checkpoints.
pub fn save(gan: &Gan, root: &Path, keep: usize) -> Result<PathBuf> {
    std::fs::create_dir_all(root).map_err(TrainError::io(root))?;
    let name = folder_name(gan.step);
    let final_dir = root.join(&name);
    // the run folder's lock makes this process its only writer: a `.tmp-*` folder left
    // here is a killed writer's, and is removed
    remove_stale_temps(root)?;
    let tmp_dir = root.join(format!(".tmp-{name}-{}", unique_suffix()));
    std::fs::create_dir_all(&tmp_dir).map_err(TrainError::io(&tmp_dir))?;
    let result = write_into(gan, &tmp_dir);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp_dir);
    }
    result?;

    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(TrainError::io(&final_dir))?;
    }
    std::fs::rename(&tmp_dir, &final_dir).map_err(TrainError::io(&final_dir))?;
    write_atomic(&root.join(LATEST), name.as_bytes())?;
    prune(root, keep)?;
    Ok(final_dir)
}

/// Removes the `.tmp-*` folders a killed checkpoint writer left under `root`.
fn remove_stale_temps(root: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root).map_err(TrainError::io(root))? {
        let entry = entry.map_err(TrainError::io(root))?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(TrainError::io(&entry.path()))?;
        }
    }
    Ok(())
}

/// Writes every file of a checkpoint of `gan` into `tmp_dir`; an error names the file
/// (a full disk: "No space left on device").
fn write_into(gan: &Gan, tmp_dir: &Path) -> Result<()> {
    save_module(gan.generator.clone(), &tmp_dir.join(GENERATOR))?;
    save_module(gan.discriminator.clone(), &tmp_dir.join(DISCRIMINATOR))?;
    let save_optimizer = |optimizer: &ModuleOptimizer, file: &str| {
        let path = tmp_dir.join(file);
        let bytes = optimizer
            .into_bytes()
            .map_err(|e| ckpt_err(&path, format!("{e:?}")))?;
        write_file(&path, &bytes).map_err(|e| ckpt_err(&path, e))
    };
    save_optimizer(&gan.g_optimizer, G_OPTIMIZER)?;
    save_optimizer(&gan.d_optimizer, D_OPTIMIZER)?;
    if let Some(ema) = &gan.generator_ema {
        save_module(ema.clone(), &tmp_dir.join(GENERATOR_EMA))?;
    }
    let state = CheckpointState {
        format_version: FORMAT_VERSION,
        step: gan.step,
        rng: gan.rng.clone(),
        config: gan.config.clone(),
    };
    let path = tmp_dir.join(STATE);
    let json = serde_json::to_vec_pretty(&state).map_err(|e| ckpt_err(&path, e))?;
    write_file(&path, &json).map_err(|e| ckpt_err(&path, e))
}

/// Completed checkpoint folders under `root`, oldest first.
pub fn list(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !root.exists() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(root).map_err(TrainError::io(root))? {
        let entry = entry.map_err(TrainError::io(root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("step-") && entry.path().is_dir() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn prune(root: &Path, keep: usize) -> Result<()> {
    let all = list(root)?;
    let excess = all.len().saturating_sub(keep);
    for old in &all[..excess] {
        std::fs::remove_dir_all(old).map_err(TrainError::io(old))?;
    }
    Ok(())
}

/// The checkpoint `root/latest` names or, when that pointer was never written (a full disk
/// or a kill between a checkpoint's rename and its pointer), the newest checkpoint folder:
/// a `step-*` folder is only ever renamed into place complete.
pub fn latest(root: &Path) -> Result<PathBuf> {
    let pointer = root.join(LATEST);
    let name = match std::fs::read_to_string(&pointer) {
        Ok(name) => name,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return list(root)?
                .pop()
                .ok_or_else(|| ckpt_err(&pointer, format!("no checkpoint to resume from ({e})")));
        }
        Err(e) => {
            return Err(ckpt_err(
                &pointer,
                format!("no checkpoint to resume from ({e})"),
            ));
        }
    };
    let name = name.trim();
    if !name.starts_with("step-") || name.contains(['/', '\\']) {
        return Err(ckpt_err(
            &pointer,
            format!("`{name}` is not a checkpoint name"),
        ));
    }
    Ok(root.join(name))
}

/// Reads a checkpoint's `state.json`.
pub fn read_state(dir: &Path) -> Result<CheckpointState> {
    let path = dir.join(STATE);
    let text = std::fs::read(&path).map_err(|e| ckpt_err(&path, e))?;
    let state: CheckpointState =
        serde_json::from_slice(&text).map_err(|e| ckpt_err(&path, format!("malformed: {e}")))?;
    if state.format_version != FORMAT_VERSION {
        return Err(ckpt_err(
            &path,
            format!(
                "format version {} is not supported (expected {FORMAT_VERSION})",
                state.format_version
            ),
        ));
    }
    Ok(state)
}

/// Loads a checkpoint into a GAN built from the same config. Nothing of `gan` changes
/// unless every part loads: a corrupt, truncated or mismatched file is an error naming it.
pub fn load(gan: &mut Gan, dir: &Path) -> Result<()> {
    let state = read_state(dir)?;
    let state_path = dir.join(STATE);
    if !same_model(&state.config, &gan.config) {
        return Err(ckpt_err(
            &state_path,
            "it was written by a run with a different model or data config",
        ));
    }
    let load_module = |file: &str| {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(ckpt_err(&path, "missing"));
        }
        Ok(path)
    };
    let generator = load_network(gan.generator.clone(), &load_module(GENERATOR)?)?;
    let discriminator = load_network(gan.discriminator.clone(), &load_module(DISCRIMINATOR)?)?;
    let load_opt = |file: &str, settings| -> Result<ModuleOptimizer> {
        let path = load_module(file)?;
        adam_for(settings)
            .load(&path)
            .map_err(|e| ckpt_err(&path, format!("{e}")))
    };
    let g_optimizer = load_opt(G_OPTIMIZER, &gan.config.g_optimizer)?;
    let d_optimizer = load_opt(D_OPTIMIZER, &gan.config.d_optimizer)?;
    let generator_ema = match &gan.generator_ema {
        Some(ema) => {
            let path = load_module(GENERATOR_EMA)?;
            Some(
                ema.clone()
                    .try_load_file(&path)
                    .map_err(|e| ckpt_err(&path, format!("{e}")))?,
            )
        }
        None => None,
    };
    gan.generator = generator;
    gan.discriminator = discriminator;
    gan.g_optimizer = g_optimizer;
    gan.d_optimizer = d_optimizer;
    gan.generator_ema = generator_ema;
    gan.rng = state.rng;
    gan.step = state.step;
    Ok(())
}

/// Loads G's or D's weights from `path` into `network`; a failure names the file and,
/// via [`with_layout_hint`], the likely cause (a different model).
fn load_network<M: Module>(network: M, path: &Path) -> Result<M> {
    network
        .try_load_file(path)
        .map_err(|e| ckpt_err(path, with_layout_hint(e.to_string())))
}

/// Weights written before the image networks (edgegan-train before commit bcbe130) name
/// MLP tensors without the architecture prefix (`hidden.0.weight`, now
/// `Mlp.hidden.0.weight`); say so instead of leaving a bare list of missing tensors.
fn with_layout_hint(message: String) -> String {
    if message.contains("Missing") && message.contains("Mlp.") {
        format!(
            "{message} (this checkpoint predates the image networks, whose weights are \
             stored per architecture, e.g. `Mlp.hidden.0.weight`: retrain the run with this \
             edgegan-train)"
        )
    } else {
        message
    }
}

/// Whether two configs build the same networks on the same data (the step count,
/// logging and checkpoint cadence may differ: a resumed run may train longer).
pub fn same_model(a: &TrainConfig, b: &TrainConfig) -> bool {
    a.seed == b.seed
        && a.batch_size == b.batch_size
        && a.data == b.data
        && a.generator == b.generator
        && a.discriminator == b.discriminator
        && a.algorithm == b.algorithm
        && a.g_optimizer == b.g_optimizer
        && a.d_optimizer == b.d_optimizer
}
