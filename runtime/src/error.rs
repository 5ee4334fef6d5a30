//! The runtime's one error type.

use crate::contract::ConditionKind;

/// Everything that can go wrong when loading a `.egm` model or sampling from it.
///
/// Loading ([`DeviceModel::from_bytes`](crate::DeviceModel::from_bytes)) reports what is wrong
/// with the model bytes; sampling reports what is wrong with the caller's inputs (condition,
/// arena, output buffer). A model that loaded cannot make sampling fail.
///
/// The enum is `Copy` and holds no heap data, so it can travel through firmware error paths.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes do not start with the `.egm` magic (`b"EGMF"`).
    #[error("not an .egm model (bad magic)")]
    BadMagic,
    /// The format version is not one this runtime reads.
    #[error("unsupported .egm version {found} (this runtime reads version {supported})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this runtime reads.
        supported: u16,
    },
    /// The bytes end before a structure that should be there.
    #[error("model truncated: needs {needed} bytes, has {available}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The model bytes do not start at an address aligned as the format requires.
    ///
    /// Embed models with [`include_model!`](crate::include_model) or
    /// [`Aligned`](crate::Aligned).
    #[error("model bytes must start at a {required}-byte aligned address")]
    Misaligned {
        /// Required alignment of the first byte, in bytes.
        required: usize,
    },
    /// The CRC32 stored in the header does not match the bytes.
    #[error("checksum mismatch: header says {expected:#010x}, bytes give {found:#010x}")]
    ChecksumMismatch {
        /// CRC32 stored in the header.
        expected: u32,
        /// CRC32 computed over the bytes.
        found: u32,
    },
    /// A header field holds a value the format does not allow.
    #[error("bad header field `{field}`")]
    BadHeader {
        /// Name of the field, as in `docs/egm.md`.
        field: &'static str,
    },
    /// A section (tensor table, op table, weights blob) is out of bounds, misaligned or
    /// overlaps another.
    #[error("bad section `{section}`")]
    BadSection {
        /// Name of the section.
        section: &'static str,
    },
    /// A tensor record is invalid.
    #[error("tensor {index}: {reason}")]
    BadTensor {
        /// Index in the tensor table.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// An op record is invalid (unknown kind, bad parameters, inconsistent shapes, a weight
    /// slice outside the blob, a buffer read before it is written, ...).
    #[error("op {index}: {reason}")]
    BadOp {
        /// Index in the op table.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// The model is valid but asks for more than the loader's
    /// [`Limits`](crate::Limits) allow (see
    /// [`DeviceModel::from_bytes_with_limits`](crate::DeviceModel::from_bytes_with_limits)).
    #[error("the model's {what} ({value}) exceed the limit of {limit}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// What the model asks for.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// The running target is big-endian; `.egm` weights are little-endian and read in place.
    #[error("big-endian targets are not supported")]
    BigEndianTarget,
    /// A caller-provided input has the wrong number of elements.
    #[error("shape mismatch: expected {expected} elements, found {found}")]
    ShapeMismatch {
        /// Elements the model expects.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// The class label is not below the model's class count.
    #[error("label {label} out of range: the model has {classes} classes")]
    LabelOutOfRange {
        /// The label given.
        label: u32,
        /// The model's class count.
        classes: u32,
    },
    /// The condition's kind does not match the model's (for example a label for an
    /// unconditional model).
    #[error("wrong condition: the model expects {expected}")]
    WrongCondition {
        /// The kind of condition the model takes.
        expected: ConditionKind,
    },
    /// The arena is smaller than the model needs.
    #[error("arena too small: needs {needed} bytes, has {available}")]
    ArenaTooSmall {
        /// Bytes needed (including alignment padding for this arena's address).
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The output buffer is smaller than the samples asked for.
    #[error("output buffer too small: needs {needed} elements, has {available}")]
    OutputTooSmall {
        /// Elements needed.
        needed: usize,
        /// Elements given.
        available: usize,
    },
    /// The runtime found an inconsistency that validation should have rejected. This is a
    /// bug in the runtime; please report it with the model.
    #[error("internal error: validated model could not run (runtime bug)")]
    Internal,
}
