//! The generator's contract as the device sees it: what a sample is conditioned on.
//!
//! Every producer and consumer of a generator keeps the same contract (see
//! `docs/ARCHITECTURE.md`): noise `z`, and a class label or a mask with the masked
//! object, in; the object `x` out.

use core::fmt;

use crate::Error;

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
