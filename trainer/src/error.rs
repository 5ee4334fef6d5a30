//! The trainer's typed errors. Each names the file (and row/column/index where it
//! applies) so a user can fix the input without reading the source.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the trainer library.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the OS error
        source: std::io::Error,
    },
    /// A config value is invalid.
    #[error("invalid config: {0}")]
    Config(String),
    /// The training device asked for is not there.
    #[error("device: {0}")]
    Device(String),
    /// What a command would need is above the memory limit (`--max-memory`).
    #[error("not enough memory: {0}")]
    Memory(String),
    /// A config file is malformed or invalid.
    #[error("config {path}: {message}")]
    ConfigFile {
        /// the config file
        path: PathBuf,
        /// what is wrong
        message: String,
    },
    /// A data file is malformed.
    #[error("data {path}: {message}")]
    Data {
        /// the data file
        path: PathBuf,
        /// what is wrong, with row and column where it applies
        message: String,
    },
    /// A class label is outside the model's class count.
    #[error("label {label} is out of range: the model has {classes} classes")]
    LabelOutOfRange {
        /// the offending label
        label: i64,
        /// the number of classes
        classes: usize,
    },
    /// A class name that is not one of the model's classes.
    #[error("unknown class `{name}`: the classes are {} (a name or an index 0..{})", .names.join(", "), .names.len().saturating_sub(1))]
    UnknownClass {
        /// what the user asked for
        name: String,
        /// the model's class names
        names: Vec<String>,
    },
    /// A checkpoint is corrupt, truncated, or from a different model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// the checkpoint file or folder
        path: PathBuf,
        /// what is wrong
        message: String,
    },
    /// A run folder is missing, or exists where a new run would overwrite it.
    #[error("run folder {path}: {message}")]
    Run {
        /// the run folder
        path: PathBuf,
        /// what is wrong
        message: String,
    },
    /// Another process holds a run folder's lock.
    #[error(
        "run folder {path} is in use by another edgegan-train process (training, resuming, \
         evaluating or shipping it); wait for it to finish"
    )]
    RunInUse {
        /// the run folder
        path: PathBuf,
    },
    /// A shipped model folder cannot be written where asked.
    #[error("model folder {path}: {message}")]
    ModelFolder {
        /// the model folder
        path: PathBuf,
        /// what is wrong, and what to do
        message: String,
    },
    /// Training diverged: a loss became NaN or infinite.
    #[error(
        "training diverged at step {step}: {what} is {value}; the last good checkpoint is kept{hint}"
    )]
    Diverged {
        /// the step at which it happened
        step: usize,
        /// which quantity
        what: &'static str,
        /// its value
        value: f32,
        /// where the last checkpoint is, if any
        hint: String,
    },
    /// An evaluation metric could not be computed.
    #[error("evaluation: {0}")]
    Metrics(#[from] crate::evaluation::metrics::MetricsError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::plots::PlotError),
    /// Burn failed to read a tensor back.
    #[error("tensor read: {0}")]
    Tensor(String),
    /// ONNX export failed, produced a model that breaks the contract, or an ONNX file
    /// could not be read or run.
    #[error("ONNX {path}: {message}")]
    Export {
        /// the ONNX file
        path: PathBuf,
        /// what is wrong, and what to do about it where there is a fix
        message: String,
    },
}

impl TrainError {
    /// `map_err` adapter: an OS error on `path` becomes [`TrainError::Io`] naming it.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A malformed data file: [`TrainError::Data`] naming it.
    pub fn data(path: &Path, message: impl Into<String>) -> Self {
        Self::Data {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Shorthand for results in the trainer.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// The message of a caught panic (`&str` or `String` payloads; anything else has none),
/// for errors that report a third-party library's panic instead of crashing.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
