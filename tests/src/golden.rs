//! Golden files: the case list's inputs and the reference engine's outputs, stored as
//! `.npy` under `<model>/golden/<case>/`, with a manifest `golden/golden.toml`.
//!
//! ```text
//! golden/golden.toml          reference engine, the ONNX file's SHA-256, the command, the cases
//! golden/<case>/z.npy         float32 [N, Z]
//! golden/<case>/label.npy     int64 [N]              (label-conditioned models)
//! golden/<case>/mask.npy      float32 [N, C, H, W]   (mask-conditioned models)
//! golden/<case>/masked.npy    float32 [N, C, H, W]   (mask-conditioned models)
//! golden/<case>/x.npy         float32 [N, ..]        the reference engine's output
//! golden/<case>/egm-<fmt>.npy float32 [N, ..]        the device runtime's output on
//!                                                    model.<fmt>.egm, for each one present
//! ```
//!
//! The device runtime's outputs are golden for the `.egm` file they came from (the
//! manifest records its SHA-256): `egm-w8a8` must reproduce them bit for bit (integer
//! arithmetic), `egm-f32` and `egm-w8a32` to [`crate::engine::F32_TOLERANCE`].
//!
//! Writing is deterministic (same model, same engine, same bytes) and atomic: a new
//! folder is filled next to the old one and renamed over it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::case::{CaseInputs, CaseSpec, Condition, case_specs};
use crate::engine::{Engine, EngineError};
use crate::engines::egm::{EgmEngine, FORMATS, WeightFormat, engine_name, file_name};
use crate::model::{ModelDir, ModelError, sha256_hex};
use crate::npy;

/// Name of the manifest in the golden folder.
pub const MANIFEST: &str = "golden.toml";

/// `golden/golden.toml`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// the engine whose outputs are stored
    pub reference: String,
    /// SHA-256 of the `generator.onnx` the outputs belong to
    pub onnx_sha256: String,
    /// the command that wrote this folder
    pub command: String,
    /// one entry per case, in case-list order
    pub cases: Vec<ManifestCase>,
    /// the compiled device models whose outputs are stored (`egm-<format>.npy`)
    #[serde(default)]
    pub egm: Vec<ManifestEgm>,
}

/// One device model whose outputs the golden folder holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEgm {
    /// `f32`, `w8a32` or `w8a8`
    pub format: String,
    /// the model file, e.g. `model.w8a8.egm`
    pub file: String,
    /// SHA-256 of that file when the outputs were written
    pub sha256: String,
}

/// The golden output file of the device runtime on `format` in a case folder.
pub fn egm_output_file(format: WeightFormat) -> String {
    format!("{}.npy", engine_name(format))
}

/// One case of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCase {
    /// folder name
    pub name: String,
    /// N
    pub batch: usize,
    /// input seed
    pub seed: u64,
    /// condition variant
    pub condition: String,
}

impl From<&CaseSpec> for ManifestCase {
    fn from(s: &CaseSpec) -> Self {
        ManifestCase {
            name: s.name(),
            batch: s.batch,
            seed: s.seed,
            condition: s.condition.as_str().to_string(),
        }
    }
}

/// Reads and checks a model's golden manifest: it must exist (a model folder without
/// golden files is a failure, not a skip), belong to this `generator.onnx` and list exactly
/// the current case list.
pub fn read_manifest(model: &ModelDir) -> Result<Manifest, ModelError> {
    let dir = model.golden_dir();
    let regen = model.regen_command();
    let golden_err = |path: PathBuf, message: String| ModelError::Golden { path, message };
    if !dir.is_dir() {
        return Err(golden_err(
            dir,
            format!("the model folder has no golden files; write them with `{regen}`"),
        ));
    }
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        golden_err(
            path.clone(),
            format!("{e}; write the golden files with `{regen}`"),
        )
    })?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| golden_err(path.clone(), e.to_string()))?;
    if manifest.onnx_sha256 != model.info.sha256 {
        return Err(golden_err(
            path,
            format!(
                "written for a generator.onnx with SHA-256 {}, the folder's has {}; \
                 regenerate with `{regen}`",
                manifest.onnx_sha256, model.info.sha256
            ),
        ));
    }
    let expected: Vec<ManifestCase> = case_specs(&model.info).iter().map(Into::into).collect();
    if manifest.cases != expected {
        return Err(golden_err(
            path,
            format!(
                "lists cases {:?}, the case list is {:?}; regenerate with `{regen}`",
                manifest.cases.iter().map(|c| &c.name).collect::<Vec<_>>(),
                expected.iter().map(|c| &c.name).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(manifest)
}

/// The stored inputs of one golden case, read from `dir` (`golden/<case>/`). Which files
/// are read follows `like`'s condition kind.
pub fn read_inputs(dir: &Path, name: &str, like: &Condition) -> Result<CaseInputs, EngineError> {
    let z = read_npy::<f32>(&dir.join("z.npy"))?;
    let condition = match like {
        Condition::None => Condition::None,
        Condition::Label(_) => Condition::Label(read_npy::<i64>(&dir.join("label.npy"))?),
        Condition::Mask { .. } => Condition::Mask {
            mask: read_npy::<f32>(&dir.join("mask.npy"))?,
            masked: read_npy::<f32>(&dir.join("masked.npy"))?,
        },
    };
    Ok(CaseInputs {
        name: name.to_string(),
        z,
        condition,
    })
}

/// Reads one golden `.npy`, with the path in the error.
pub fn read_npy<T: npy::Element>(path: &Path) -> Result<Array<T>, EngineError> {
    if !path.is_file() {
        return Err(EngineError::Golden {
            path: path.to_path_buf(),
            message: "missing".into(),
        });
    }
    npy::read(path).map_err(|source| EngineError::Npy {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs the case list through `reference` (and the device runtime on every `.egm` file
/// present) and writes the golden folder of `model`, replacing the old one. Returns the
/// manifest written.
pub fn write_golden(model: &ModelDir, reference: &dyn Engine) -> Result<Manifest, ModelError> {
    let dir = model.golden_dir();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    let staging = model.dir.join(".golden.tmp");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let mut egm = Vec::new();
    let mut egm_engines = Vec::new();
    for format in FORMATS {
        let path = model.dir.join(file_name(format));
        if !path.is_file() {
            continue;
        }
        let engine = EgmEngine::load(model, format).map_err(|e| ModelError::Golden {
            path: path.clone(),
            message: e.to_string(),
        })?;
        egm.push(ManifestEgm {
            format: format.name().to_string(),
            file: file_name(format),
            sha256: sha256_hex(engine.bytes()),
        });
        egm_engines.push(engine);
    }
    let specs = case_specs(&model.info);
    for spec in &specs {
        let case = spec.inputs(&model.info);
        let x = reference.run(&case).map_err(|e| ModelError::Golden {
            path: staging.clone(),
            message: format!("the reference engine failed: {e}"),
        })?;
        let case_dir = staging.join(&case.name);
        std::fs::create_dir_all(&case_dir).map_err(io(&case_dir))?;
        let write_err = |path: PathBuf| {
            move |e: npy::NpyError| ModelError::Golden {
                path,
                message: e.to_string(),
            }
        };
        let put_f32 = |file: &str, a: &Array<f32>| {
            let p = case_dir.join(file);
            npy::write(&p, a).map_err(write_err(p.clone()))
        };
        put_f32("z.npy", &case.z)?;
        match &case.condition {
            Condition::None => {}
            Condition::Label(l) => {
                let p = case_dir.join("label.npy");
                npy::write(&p, l).map_err(write_err(p.clone()))?;
            }
            Condition::Mask { mask, masked } => {
                put_f32("mask.npy", mask)?;
                put_f32("masked.npy", masked)?;
            }
        }
        put_f32("x.npy", &x)?;
        for engine in &egm_engines {
            let y = engine.run(&case).map_err(|e| ModelError::Golden {
                path: engine.path().to_path_buf(),
                message: e.to_string(),
            })?;
            put_f32(&egm_output_file(engine.format()), &y)?;
        }
    }
    let manifest = Manifest {
        reference: reference.name().to_string(),
        onnx_sha256: model.info.sha256.clone(),
        command: model.regen_command(),
        cases: specs.iter().map(Into::into).collect(),
        egm,
    };
    let text = toml::to_string(&manifest).map_err(|e| ModelError::Golden {
        path: staging.join(MANIFEST),
        message: e.to_string(),
    })?;
    let manifest_path = staging.join(MANIFEST);
    std::fs::write(
        &manifest_path,
        format!("# Written by regen-golden: regenerate, do not edit.\n{text}"),
    )
    .map_err(io(&manifest_path))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&staging, &dir).map_err(io(&dir))?;
    Ok(manifest)
}
