//! Upsampling of `[C, H, W]` by integer factors: nearest-neighbour (any dtype: it copies)
//! or bilinear with half-pixel centres (f32, or int8 codes of the shared quantisation).

use super::{Ctx, Eval, Op, arith_f32s, arith_f32s_mut, i8s, i8s_mut};
use crate::Error;
use crate::format::{DType, PARAM_WORDS};
use crate::kernels::cortex_m::upsample::upsample_nearest_rows;
use crate::kernels::upsample::{UpsampleParams, upsample_bilinear_f32, upsample_bilinear_i8};

/// [`Params::mode`]: nearest neighbour (word 2 = 0; every model written before bilinear
/// existed has it).
pub const NEAREST: u32 = 0;
/// [`Params::mode`]: bilinear with half-pixel centres.
pub const BILINEAR: u32 = 1;

/// The record parameters of an Upsample op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Height factor.
    pub factor_h: u32,
    /// Width factor.
    pub factor_w: u32,
    /// [`NEAREST`] or [`BILINEAR`].
    pub mode: u32,
}

impl Params {
    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            factor_h: p[0],
            factor_w: p[1],
            mode: p[2],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.factor_h;
        p[1] = self.factor_w;
        p[2] = self.mode;
        p
    }
}

/// A prepared Upsample op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Upsample {
    p: UpsampleParams,
    bilinear: bool,
}

impl Op<'_> for Upsample {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(1)?;
        let (x, output) = (&cx.ins[0], &cx.output);
        let Params {
            factor_h,
            factor_w,
            mode,
        } = Params::decode(cx.params());
        if x.rank != 3 || output.rank != 3 || factor_h == 0 || factor_w == 0 {
            return Err("upsample needs [C, H, W] tensors and positive factors");
        }
        if mode != NEAREST && mode != BILINEAR {
            return Err("upsample mode is neither nearest nor bilinear");
        }
        let want = [
            Some(x.dims[0]),
            x.dims[1].checked_mul(factor_h),
            x.dims[2].checked_mul(factor_w),
        ];
        if want
            != [
                Some(output.dims[0]),
                Some(output.dims[1]),
                Some(output.dims[2]),
            ]
        {
            return Err("upsample output shape is not the input's times the factors");
        }
        if !cx.moves_data(x) {
            return Err("upsample tensors differ in dtype or quantisation, or overlap");
        }
        Ok(Upsample {
            p: UpsampleParams {
                channels: x.dims[0] as usize,
                in_h: x.dims[1] as usize,
                in_w: x.dims[2] as usize,
                factor_h: factor_h as usize,
                factor_w: factor_w as usize,
            },
            bilinear: mode == BILINEAR,
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x0 = cx.x0()?;
        let x = cx.io.input(x0)?;
        match (x0.dtype, self.bilinear) {
            (DType::F32, false) => {
                let (x, y) = (arith_f32s(x)?, arith_f32s_mut(cx.io.out)?);
                upsample_nearest_rows(&self.p, x, y);
            }
            (DType::I8, false) => upsample_nearest_rows(&self.p, x, cx.io.out),
            (DType::F32, true) => {
                upsample_bilinear_f32(&self.p, arith_f32s(x)?, arith_f32s_mut(cx.io.out)?);
            }
            (DType::I8, true) => upsample_bilinear_i8(&self.p, i8s(x), i8s_mut(cx.io.out)),
        }
        Ok(())
    }
}
