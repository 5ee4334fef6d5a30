//! firmware-sim: try an edgegan generator before it touches a board.
//!
//! The same `.egm` model runs two ways: on the host through the device runtime
//! ([`host`], the exact no_std code path, with an arena of
//! [`DeviceModel::arena_bytes`](edgegan_runtime::DeviceModel::arena_bytes)), and as the real
//! firmware (`firmware-sim/firmware/`) built for `thumbv7em-none-eabihf` against a device
//! [`profiles`] budget and run in QEMU's `mps2-an386` Cortex-M4 ([`firmware`]). The firmware's
//! samples must be bit-identical to the host's; its flash, RAM and instruction cost are
//! measured, not estimated.
//!
//! Mask-conditioned (inpainting) models take their masks from files ([`inputs`]) or draw
//! them from seeds ([`maskgen`], the device runtime's generator, which the firmware runs
//! too); [`card`] reads class names from a model's card, [`compiled_card`] the part of it
//! that `compile` writes (names, units, hashes), [`bundle`] writes a compiled set
//! all-or-nothing. [`demo`] writes small generators
//! with the runtime's `GraphBuilder`.

pub mod bundle;
pub mod c_example;
pub mod card;
pub mod compiled_card;
pub mod cross;
pub mod demo;
pub mod elf;
pub mod firmware;
pub mod host;
pub mod inputs;
pub mod label;
pub mod lint;
pub mod output;
pub mod peer;
pub mod picture;
pub mod profiles;
pub mod report;
pub mod samples;

/// The seeded mask generator, from the device runtime so that host and firmware draw the
/// same masks from one copy of the code.
pub use edgegan_runtime::mask as maskgen;

use std::path::{Path, PathBuf};

/// `map_err` for an I/O failure of `action` ("reading", "writing", ...) on `path`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// What can go wrong in firmware-sim's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done ("reading", "writing").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model did not load (corrupt, truncated, not an `.egm`).
    #[error("{} is not a valid .egm model", path.display())]
    BadModel {
        /// The file.
        path: PathBuf,
        /// The runtime's verdict.
        source: edgegan_runtime::Error,
    },
    /// The model (or its file) asks for more than this host allows.
    #[error("{}: {reason} (firmware-sim's limits: --max-arena, --max-macs)", path.display())]
    ModelLimit {
        /// The file.
        path: PathBuf,
        /// Which limit, the model's figure and the limit.
        reason: String,
    },
    /// Sampling failed (a bad condition, usually).
    #[error("sampling failed")]
    Sample(#[from] edgegan_runtime::Error),
    /// A device profile name that is not known.
    #[error("unknown device profile `{name}` (known: {known})")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// A model card (`model.toml`) that cannot be used.
    #[error("model card {}: {reason}", path.display())]
    Card {
        /// The card.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An input file (mask, masked object, picture) that does not fit the model.
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No `--model` and no default model.
    #[error("{0}")]
    DefaultModel(String),
    /// A class that the model does not have, or a class for a model without labels.
    #[error("{0}")]
    Condition(String),
    /// An output format that does not fit the model's output.
    #[error("{0}")]
    Output(String),
    /// Writing a demo model.
    #[error("writing the demo model: {0}")]
    Build(#[from] edgegan_compiler::builder::BuildError),
    /// A missing tool (QEMU, the Rust target).
    #[error("{what} not found: run scripts/setup.sh to install it")]
    MissingTool {
        /// The tool.
        what: String,
    },
    /// The model does not fit the profile (the firmware link failed on its memory.x).
    #[error("{0}")]
    DoesNotFit(String),
    /// The firmware build failed for another reason.
    #[error("building the firmware failed:\n{0}")]
    FirmwareBuild(String),
    /// `cargo fmt --check` or `cargo clippy` failed on a firmware crate.
    #[error("{0}")]
    Lint(String),
    /// QEMU or the firmware failed, hung or printed something unexpected.
    #[error("{0}")]
    Firmware(String),
    /// The firmware's samples differ from the host's.
    #[error("{0}")]
    Mismatch(String),
    /// An ELF file that could not be parsed.
    #[error("bad ELF {}: {reason}", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result with firmware-sim's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
