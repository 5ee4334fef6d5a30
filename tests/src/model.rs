//! Shipped model folders: discovery under `models/`, the card (`model.toml`) and what the
//! exported ONNX says about itself in its `edgegan.*` metadata.
//!
//! The tests take every fact about a model (noise dimension, condition, classes, output
//! shape) from the ONNX metadata, the one place every producer writes, so a new model
//! folder needs no code change. The card is checked against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgegan_compiler::contract::Metadata;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tract_onnx::prelude::Framework;

/// File name of the exported generator in a model folder.
pub const ONNX_FILE: &str = "generator.onnx";
/// File name of the model card in a model folder.
pub const CARD_FILE: &str = "model.toml";
/// Folder of the golden cases in a model folder.
pub const GOLDEN_DIR: &str = "golden";

/// What can go wrong with a model folder.
#[derive(Debug, Error)]
pub enum ModelError {
    /// a file could not be read or written
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
    /// the folder is not a complete model folder
    #[error("{path}: {message}")]
    Folder {
        /// the folder
        path: PathBuf,
        /// what is missing
        message: String,
    },
    /// the ONNX file cannot be parsed or its metadata breaks the contract
    #[error("{path}: {message}")]
    Metadata {
        /// the ONNX file
        path: PathBuf,
        /// what is wrong
        message: String,
    },
    /// the card cannot be parsed
    #[error("{path}: {message}")]
    Card {
        /// the card
        path: PathBuf,
        /// what is wrong
        message: String,
    },
    /// the golden folder is missing, incomplete or stale
    #[error("{path}: {message}")]
    Golden {
        /// the golden folder or file
        path: PathBuf,
        /// what is wrong, and the command that regenerates it
        message: String,
    },
}

/// The repository root (the parent of this crate), so tests and tools find `models/` and
/// `.deps/` from any working directory.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<repo>/models`
pub fn models_root() -> PathBuf {
    repo_root().join("models")
}

/// Every model folder under `root`: each subfolder holding `model.toml` and
/// `generator.onnx`, sorted by name. A folder with one of the two but not the other is an
/// error (a half-shipped model), a folder with neither is not a model and is passed over.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let io = |source| ModelError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if !path.is_dir() {
            continue;
        }
        let card = path.join(CARD_FILE).is_file();
        let onnx = path.join(ONNX_FILE).is_file();
        match (card, onnx) {
            (true, true) => found.push(path),
            (false, false) => {}
            (true, false) | (false, true) => {
                return Err(ModelError::Folder {
                    message: format!(
                        "a model folder needs both {CARD_FILE} and {ONNX_FILE}; it has only {}",
                        if card { CARD_FILE } else { ONNX_FILE }
                    ),
                    path,
                });
            }
        }
    }
    found.sort();
    Ok(found)
}

/// How the generator is conditioned (`edgegan.condition`): the contract's type.
pub use edgegan_compiler::contract::MetadataCondition as ConditionKind;

/// What an exported generator says about itself in its `edgegan.*` metadata_props.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Z of input `z` `[N, Z]`
    pub noise_dim: usize,
    /// the condition inputs
    pub condition: ConditionKind,
    /// shape of one sample (output `x` is `[N, ..output_shape]`)
    pub output_shape: Vec<usize>,
    /// whether outputs are bounded to [-1, 1] (a tanh output)
    pub bounded: bool,
    /// every `edgegan.*` entry, as written
    pub metadata: BTreeMap<String, String>,
    /// SHA-256 of the ONNX file (hex), to tie golden files and the card to this export
    pub sha256: String,
    /// size of the ONNX file in bytes
    pub bytes: u64,
}

impl ModelInfo {
    /// Reads the metadata of the ONNX file at `path`.
    pub fn from_onnx(path: &Path) -> Result<ModelInfo, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let meta_err = |message: String| ModelError::Metadata {
            path: path.to_path_buf(),
            message,
        };
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| meta_err(format!("not a readable ONNX model: {e:#}")))?;
        let meta = Metadata::from_props(
            proto
                .metadata_props
                .iter()
                .map(|e| (e.key.as_str(), e.value.as_str())),
        )
        .map_err(meta_err)?;
        Ok(ModelInfo {
            noise_dim: meta.noise_dim,
            condition: meta.condition,
            output_shape: meta.output_shape,
            bounded: meta.bounded,
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
            metadata: meta.entries,
        })
    }

    /// shape of `x` for a batch of `n`
    pub fn output_shape_for(&self, n: usize) -> Vec<usize> {
        std::iter::once(n)
            .chain(self.output_shape.iter().copied())
            .collect()
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The parts of a model card (`model.toml`) the tests check against the artifacts. The
/// card holds more (training commands, metrics); unknown keys are allowed so the card can
/// grow without code changes.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelCard {
    /// the folder name
    pub name: String,
    /// the exported file
    pub onnx: CardOnnx,
    /// architecture summary
    pub architecture: CardArchitecture,
    /// allowed max |a - b| per engine pair, keyed `a~b` with the names sorted
    #[serde(default)]
    pub tolerances: BTreeMap<String, f32>,
}

/// `[onnx]` of the card
#[derive(Debug, Clone, Deserialize)]
pub struct CardOnnx {
    /// file size in bytes
    pub bytes: u64,
    /// SHA-256 (hex)
    pub sha256: String,
}

/// `[architecture]` of the card
#[derive(Debug, Clone, Deserialize)]
pub struct CardArchitecture {
    /// Z
    pub noise_dim: usize,
    /// `none`, `label` or `mask`
    pub condition: String,
    /// class names of a label-conditioned model
    #[serde(default)]
    pub class_names: Vec<String>,
    /// shape of one sample
    pub output_shape: Vec<usize>,
    /// generator parameters
    pub parameters: u64,
}

/// One shipped model folder, loaded.
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// the folder
    pub dir: PathBuf,
    /// the folder's name
    pub name: String,
    /// the card
    pub card: ModelCard,
    /// the ONNX metadata
    pub info: ModelInfo,
}

impl ModelDir {
    /// Loads the card and the ONNX metadata of the folder `dir`.
    pub fn load(dir: &Path) -> Result<ModelDir, ModelError> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ModelError::Folder {
                path: dir.to_path_buf(),
                message: "not a folder name".into(),
            })?;
        let card_path = dir.join(CARD_FILE);
        let text = std::fs::read_to_string(&card_path).map_err(|source| ModelError::Io {
            path: card_path.clone(),
            source,
        })?;
        let card: ModelCard = toml::from_str(&text).map_err(|e| ModelError::Card {
            path: card_path.clone(),
            message: e.to_string(),
        })?;
        let info = ModelInfo::from_onnx(&dir.join(ONNX_FILE))?;
        Ok(ModelDir {
            dir: dir.to_path_buf(),
            name,
            card,
            info,
        })
    }

    /// `<dir>/generator.onnx`
    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(ONNX_FILE)
    }

    /// `<dir>/golden`
    pub fn golden_dir(&self) -> PathBuf {
        self.dir.join(GOLDEN_DIR)
    }

    /// The command that regenerates this folder's golden files, for error messages.
    pub fn regen_command(&self) -> String {
        let shown = self
            .dir
            .strip_prefix(repo_root())
            .unwrap_or(&self.dir)
            .display()
            .to_string();
        format!("cargo run --release -p edgegan-tests --bin regen-golden -- {shown}")
    }

    /// Differences between the card and the ONNX file, one line each (empty: consistent).
    pub fn card_mismatches(&self) -> Vec<String> {
        let (card, info) = (&self.card, &self.info);
        let mut out = Vec::new();
        let mut check = |what: &str, card_value: String, onnx_value: String| {
            if card_value != onnx_value {
                out.push(format!(
                    "{what}: the card says {card_value}, {ONNX_FILE} has {onnx_value}"
                ));
            }
        };
        check("name", card.name.clone(), self.name.clone());
        check(
            "onnx.bytes",
            card.onnx.bytes.to_string(),
            info.bytes.to_string(),
        );
        check("onnx.sha256", card.onnx.sha256.clone(), info.sha256.clone());
        check(
            "architecture.noise_dim",
            card.architecture.noise_dim.to_string(),
            info.noise_dim.to_string(),
        );
        check(
            "architecture.condition",
            card.architecture.condition.clone(),
            info.condition.as_str().to_string(),
        );
        let names = match &info.condition {
            ConditionKind::Label { class_names } => class_names.clone(),
            ConditionKind::None | ConditionKind::Mask => Vec::new(),
        };
        check(
            "architecture.class_names",
            format!("{:?}", card.architecture.class_names),
            format!("{names:?}"),
        );
        check(
            "architecture.output_shape",
            format!("{:?}", card.architecture.output_shape),
            format!("{:?}", info.output_shape),
        );
        out
    }
}
