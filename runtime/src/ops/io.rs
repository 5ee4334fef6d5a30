//! The arena split around one op's output, and typed views of byte slices.

use crate::Error;
use crate::format::{OpFormat, Storage, TensorInfo};

/// `b` as f32 values (`Internal` if misaligned: validation guarantees alignment).
pub(crate) fn f32s(b: &[u8]) -> Result<&[f32], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Internal)
}

/// `b` as mutable f32 values.
pub(crate) fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32], Error> {
    bytemuck::try_cast_slice_mut(b).map_err(|_| Error::Internal)
}

/// Whether this build has f32 arithmetic: the formats `f32` and `w8a32` (whose activations
/// are f32) need it; a w8a8-only build has none (its f32 values are only the model's input
/// and output, through Quantize and Dequantize).
const F32_ARITH: bool = OpFormat::F32.built() || OpFormat::W8A32.built();

/// `b` as f32 values for an op's f32 arithmetic: `Internal` in a build without f32
/// arithmetic (whose loader rejects such records, so it is never reached), which lets the
/// linker drop the f32 kernels behind it.
pub(crate) fn arith_f32s(b: &[u8]) -> Result<&[f32], Error> {
    if !F32_ARITH {
        return Err(Error::Internal);
    }
    f32s(b)
}

/// As [`arith_f32s`], mutable.
pub(crate) fn arith_f32s_mut(b: &mut [u8]) -> Result<&mut [f32], Error> {
    if !F32_ARITH {
        return Err(Error::Internal);
    }
    f32s_mut(b)
}

/// `Ok` if this build runs ops of `format` (`Internal` otherwise: never reached, as for
/// [`arith_f32s`]; the kernels of a format left out are dropped by the linker).
pub(crate) fn built(format: OpFormat) -> Result<(), Error> {
    if format.built() {
        Ok(())
    } else {
        Err(Error::Internal)
    }
}

/// `b` as int8 values.
pub(crate) fn i8s(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

/// `b` as mutable int8 values.
pub(crate) fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}

/// The arena split around one op's output: bytes before it, the output, bytes after it.
pub(crate) struct Io<'x> {
    lo: &'x [u8],
    pub out: &'x mut [u8],
    hi: &'x [u8],
    out_start: usize,
    out_end: usize,
    blob: &'x [u8],
}

impl<'x> Io<'x> {
    pub(crate) fn split(
        arena: &'x mut [u8],
        output: &TensorInfo,
        blob: &'x [u8],
    ) -> Result<Self, Error> {
        let r = output.range();
        let (lo, rest) = arena.split_at_mut_checked(r.start).ok_or(Error::Internal)?;
        let (out, hi) = rest.split_at_mut_checked(r.len()).ok_or(Error::Internal)?;
        Ok(Io {
            lo,
            out,
            hi,
            out_start: r.start,
            out_end: r.end,
            blob,
        })
    }

    /// The bytes of an input that does not overlap the output.
    pub(crate) fn input(&self, t: &TensorInfo) -> Result<&'x [u8], Error> {
        let r = t.range();
        let (lo, hi, blob): (&'x [u8], &'x [u8], &'x [u8]) = (self.lo, self.hi, self.blob);
        match t.storage {
            Storage::Const => blob.get(r),
            Storage::Arena if r.end <= self.out_start => lo.get(r),
            Storage::Arena if r.start >= self.out_end => {
                hi.get(r.start - self.out_end..r.end - self.out_end)
            }
            Storage::Arena => None,
        }
        .ok_or(Error::Internal)
    }

    /// For an op that works in place on its output: copies input `t` into the output unless
    /// it already is the output.
    pub(crate) fn load_in_place(&mut self, t: &TensorInfo, in_place: bool) -> Result<(), Error> {
        if !in_place {
            let src = self.input(t)?;
            let dst = self.out.get_mut(..src.len()).ok_or(Error::Internal)?;
            dst.copy_from_slice(src);
        }
        Ok(())
    }
}
