//! The generator's ONNX contract, one home for every producer and consumer (the trainer's
//! export, the compiler, the tract sampler, the tests): the graph's input and output
//! names, the `edgegan.*` metadata keys, and what a sample is conditioned on.
//!
//! - inputs: [`Z`] float32 `[N, Z]`; for label conditioning [`LABEL`] int64 `[N]`; for
//!   mask conditioning [`MASK`] float32 `[N, C, H, W]` (1 = known) and [`MASKED`]
//!   float32 `[N, C, H, W]`
//! - output: [`X`] float32 `[N, ...]`, scaled to the model's value range
//! - `metadata_props`: the [`keys`] (parsed into a typed struct by the compiler crate's
//!   `contract` module, which has `std`)
//!
//! Core-only: consts and plain types, usable on the device.

use core::fmt;

use crate::Error;

/// The noise input: float32 `[N, Z]`.
pub const Z: &str = "z";
/// The class-label input: int64 `[N]`.
pub const LABEL: &str = "label";
/// The mask input (1 = known): float32 `[N, C, H, W]`.
pub const MASK: &str = "mask";
/// The masked-object input: float32 `[N, C, H, W]`.
pub const MASKED: &str = "masked";
/// The generated object: float32 `[N, ...]`.
pub const X: &str = "x";

/// The `edgegan.*` keys of a generator's ONNX `metadata_props`.
pub mod keys {
    /// What every key starts with.
    pub const PREFIX: &str = "edgegan.";
    /// The version of this metadata layout ([`VERSION`](super::VERSION)).
    pub const CONTRACT_VERSION: &str = "edgegan.contract_version";
    /// Z of input `z`, decimal.
    pub const NOISE_DIM: &str = "edgegan.noise_dim";
    /// The condition: `none`, `label` or `mask` ([`ConditionName`](super::ConditionName)).
    pub const CONDITION: &str = "edgegan.condition";
    /// The class count, decimal (0 without labels).
    pub const CLASSES: &str = "edgegan.classes";
    /// The class names, a JSON array of strings (index = label).
    pub const CLASS_NAMES: &str = "edgegan.class_names";
    /// The names of the values of one point sample, a JSON array (`[]` for images).
    pub const COLUMN_NAMES: &str = "edgegan.column_names";
    /// The shape of one sample, a JSON array.
    pub const OUTPUT_SHAPE: &str = "edgegan.output_shape";
    /// `[C, H, W]` of inputs `mask` and `masked`, a JSON array (mask conditioning only).
    pub const MASK_SHAPE: &str = "edgegan.mask_shape";
    /// What the mask's values mean, a sentence (mask conditioning only).
    pub const MASK_CONVENTION: &str = "edgegan.mask_convention";
    /// `[-1, 1]` for a tanh output, `unbounded` otherwise.
    pub const VALUE_RANGE: &str = "edgegan.value_range";
    /// The affine map back to data units (JSON: `center`, `scale`).
    pub const NORMALIZER: &str = "edgegan.normalizer";
    /// The training run.
    pub const RUN: &str = "edgegan.run";
    /// The training step of the exported weights.
    pub const STEP: &str = "edgegan.step";
    /// SHA-256 of the run's resolved config.
    pub const CONFIG_SHA256: &str = "edgegan.config_sha256";
}

/// [`keys::CONTRACT_VERSION`]: the version of the metadata layout.
pub const VERSION: &str = "1";

/// [`keys::VALUE_RANGE`] of a generator bounded to `[-1, 1]`.
pub const BOUNDED_RANGE: &str = "[-1, 1]";

/// [`keys::VALUE_RANGE`] of a generator with a linear output.
pub const UNBOUNDED_RANGE: &str = "unbounded";

/// The condition as the metadata names it ([`keys::CONDITION`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionName {
    /// `none`: input `z` only.
    None,
    /// `label`: inputs `z` and `label`.
    Label,
    /// `mask`: inputs `z`, `mask` and `masked`.
    Mask,
}

impl ConditionName {
    /// The metadata spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionName::None => "none",
            ConditionName::Label => "label",
            ConditionName::Mask => "mask",
        }
    }

    /// The condition for a metadata spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ConditionName::None,
            ConditionName::Label,
            ConditionName::Mask,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What a model is conditioned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionKind {
    /// Noise only.
    None,
    /// A class label below `classes`.
    Label {
        /// Number of classes.
        classes: u32,
    },
    /// A mask (1 = known) and the masked object, both `[channels, height, width]`.
    Mask {
        /// Channels.
        channels: u32,
        /// Height.
        height: u32,
        /// Width.
        width: u32,
    },
}

impl ConditionKind {
    /// The metadata name of this kind.
    pub const fn name(&self) -> ConditionName {
        match self {
            ConditionKind::None => ConditionName::None,
            ConditionKind::Label { .. } => ConditionName::Label,
            ConditionKind::Mask { .. } => ConditionName::Mask,
        }
    }

    /// The code in the `.egm` header.
    pub const fn code(&self) -> u8 {
        match self {
            ConditionKind::None => 0,
            ConditionKind::Label { .. } => 1,
            ConditionKind::Mask { .. } => 2,
        }
    }

    /// The kind for the header's code, class count and mask shape (the fields of other
    /// kinds are not read here; the parser checks they are zero).
    pub const fn from_header(code: u8, classes: u32, mask: [u32; 3]) -> Option<Self> {
        match code {
            0 => Some(ConditionKind::None),
            1 => Some(ConditionKind::Label { classes }),
            2 => Some(ConditionKind::Mask {
                channels: mask[0],
                height: mask[1],
                width: mask[2],
            }),
            _ => None,
        }
    }

    /// The header's class count and mask shape for this kind (zero where unused).
    pub const fn header_fields(&self) -> (u32, [u32; 3]) {
        match *self {
            ConditionKind::None => (0, [0; 3]),
            ConditionKind::Label { classes } => (classes, [0; 3]),
            ConditionKind::Mask {
                channels,
                height,
                width,
            } => (0, [channels, height, width]),
        }
    }

    /// Elements of each mask input (0 unless `Mask`).
    pub const fn mask_len(&self) -> usize {
        match *self {
            ConditionKind::Mask {
                channels,
                height,
                width,
            } => (channels as usize)
                .saturating_mul(height as usize)
                .saturating_mul(width as usize),
            _ => 0,
        }
    }
}

impl ConditionKind {
    /// Checks `condition` against this kind: the same kind, a label below the class
    /// count, masks of [`mask_len`](Self::mask_len) elements.
    ///
    /// # Errors
    ///
    /// [`Error::WrongCondition`], [`Error::LabelOutOfRange`] or [`Error::ShapeMismatch`].
    pub fn check(&self, condition: &Condition<'_>) -> Result<(), Error> {
        let expected = *self;
        match (expected, condition) {
            (ConditionKind::None, Condition::None) => Ok(()),
            (ConditionKind::Label { classes }, &Condition::Label(label)) => {
                if label < classes {
                    Ok(())
                } else {
                    Err(Error::LabelOutOfRange { label, classes })
                }
            }
            (ConditionKind::Mask { .. }, Condition::Mask { mask, masked }) => {
                let n = expected.mask_len();
                for found in [mask.len(), masked.len()] {
                    if found != n {
                        return Err(Error::ShapeMismatch { expected: n, found });
                    }
                }
                Ok(())
            }
            _ => Err(Error::WrongCondition { expected }),
        }
    }
}

impl fmt::Display for ConditionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConditionKind::None => f.write_str("no condition"),
            ConditionKind::Label { classes } => write!(f, "a class label below {classes}"),
            ConditionKind::Mask {
                channels,
                height,
                width,
            } => {
                write!(
                    f,
                    "a mask and a masked object of {channels}x{height}x{width}"
                )
            }
        }
    }
}

/// The condition of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition<'c> {
    /// For unconditional models.
    None,
    /// A class label, for label-conditioned models.
    Label(u32),
    /// For mask-conditioned (inpainting) models: `mask` (1 = known, 0 = to generate) and the
    /// `masked` object, each with [`ConditionKind::mask_len`] elements in `[C, H, W]` order.
    Mask {
        /// 1 where the object is known.
        mask: &'c [f32],
        /// The known object (values under mask 0 are ignored by a well-trained model).
        masked: &'c [f32],
    },
}
