//! What Dense and Conv2d share: their weight arrays in each format, loaded from the
//! blob and checked once.

use super::{Ctx, requant_ok};
use crate::format::OpFormat;

/// The weight arrays of a linear op (`rows` output channels, `len` weights).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Weights<'a> {
    /// f32 weights and optional bias.
    F32 {
        w: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    /// int8 weights with one f32 scale per row, optional f32 bias.
    W8A32 {
        w: &'a [i8],
        scale: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    /// int8 weights, int32 bias, Q31 multiplier and shift per row.
    I8 {
        w: &'a [i8],
        bias: &'a [i32],
        mult: &'a [i32],
        shift: &'a [i32],
    },
}

/// Blob offsets of a linear op's arrays, from its record.
pub(crate) struct Offsets {
    pub weights: u32,
    pub bias: u32,
    pub scales: u32,
    pub shifts: u32,
    /// Bias rows of `rows` values each: 1, or a Dense's label-indexed bias table's
    /// classes (one row per label).
    pub bias_rows: usize,
}

/// Loads the arrays of the record's format: `len` weights, `rows` of everything else.
/// In w8a8, `acc_terms` (the terms of one accumulator) must stay within
/// [`MAX_ACC_TERMS`](crate::format::MAX_ACC_TERMS), or `too_wide` is the error.
pub(crate) fn load<'a>(
    cx: &Ctx<'_, 'a>,
    at: &Offsets,
    len: usize,
    rows: usize,
    acc_terms: usize,
    too_wide: &'static str,
) -> Result<Weights<'a>, &'static str> {
    let bias_len = rows
        .checked_mul(at.bias_rows)
        .ok_or("bias table too large")?;
    Ok(match cx.rec.format {
        OpFormat::F32 => Weights::F32 {
            w: cx.weights(at.weights, len)?,
            bias: cx.optional_weights(at.bias, bias_len)?,
        },
        OpFormat::W8A32 => Weights::W8A32 {
            w: cx.weights(at.weights, len)?,
            scale: cx.weights(at.scales, rows)?,
            bias: cx.optional_weights(at.bias, bias_len)?,
        },
        OpFormat::W8A8 => {
            if acc_terms > crate::format::MAX_ACC_TERMS {
                return Err(too_wide);
            }
            Weights::I8 {
                w: cx.weights(at.weights, len)?,
                bias: cx.weights(at.bias, bias_len)?,
                mult: cx.weights(at.scales, rows)?,
                shift: cx.weights(at.shifts, rows)?,
            }
        }
    })
}

impl Weights<'_> {
    /// Whether the op adds a bias (always in w8a8, where the bias carries zero points).
    pub fn has_bias(&self) -> bool {
        match self {
            Weights::F32 { bias, .. } | Weights::W8A32 { bias, .. } => bias.is_some(),
            Weights::I8 { .. } => true,
        }
    }

    /// The load-time checks of int8 arrays: requantisation a device can run, biases within
    /// ±2^30 (so adding them never overflows the accumulator).
    pub fn validate(&self) -> Result<(), &'static str> {
        let Weights::I8 {
            bias, mult, shift, ..
        } = self
        else {
            return Ok(());
        };
        if !requant_ok(mult, shift) {
            return Err("requantisation multiplier or shift out of range");
        }
        if !bias.iter().all(|&b| b.unsigned_abs() <= 1 << 30) {
            return Err("int32 bias beyond ±2^30");
        }
        Ok(())
    }
}

/// A w8a8 op's arrays: int8 weights, int32 bias, Q31 multipliers and shifts.
#[cfg(any(test, feature = "std"))]
pub(crate) type Int8Arrays<'a> = (&'a [i8], &'a [i32], &'a [i32], &'a [i32]);

impl<'a> Weights<'a> {
    /// The w8a8 arrays `(w, bias, multiplier, shift)`, `None` for the float formats (what the
    /// host's batch kernels take).
    #[cfg(any(test, feature = "std"))]
    pub fn int8(&self) -> Option<Int8Arrays<'a>> {
        match *self {
            Weights::I8 {
                w,
                bias,
                mult,
                shift,
            } => Some((w, bias, mult, shift)),
            _ => None,
        }
    }

    /// The arrays with row `row` of a bias table of `rows`-value rows in place of the
    /// table (a Dense's label-indexed bias); `None` if the table has no such row.
    pub fn with_bias_row(self, row: usize, rows: usize) -> Option<Self> {
        let pick = |b: &'a [f32]| b.get(row * rows..(row + 1) * rows);
        Some(match self {
            Weights::F32 { w, bias } => Weights::F32 {
                w,
                bias: match bias {
                    Some(b) => Some(pick(b)?),
                    None => None,
                },
            },
            Weights::W8A32 { w, scale, bias } => Weights::W8A32 {
                w,
                scale,
                bias: match bias {
                    Some(b) => Some(pick(b)?),
                    None => None,
                },
            },
            Weights::I8 {
                w,
                bias,
                mult,
                shift,
            } => Weights::I8 {
                w,
                bias: bias.get(row * rows..(row + 1) * rows)?,
                mult,
                shift,
            },
        })
    }
}
