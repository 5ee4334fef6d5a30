//! [`Sampler`]: runs a [`DeviceModel`] in a caller-provided arena.

use crate::Error;
use crate::contract::Condition;
use crate::format::{DATA_ALIGN, Storage, TensorInfo};
use crate::kernels::{self, broadcast::Side, cortex_m};
use crate::model::{BinaryOp, DeviceModel, Kernel, PreparedOp};

/// A model bound to an arena that was checked once.
///
/// The arena holds every activation of one sample; [`DeviceModel::arena_bytes`] says how
/// large it must be. Any `&mut [u8]` works: the sampler uses the part that starts at a
/// 4-byte aligned address, so an unaligned arena needs up to 3 bytes more (an
/// [`Arena`](crate::Arena) is always aligned).
///
/// # Examples
///
/// ```
/// use edgegan_runtime::{Condition, DeviceModel, Error, Sampler};
/// fn ten_samples(model: &DeviceModel<'_>) -> Result<Vec<f32>, Error> {
///     let mut arena = vec![0u8; model.arena_bytes()];
///     let mut sampler = Sampler::new(model, &mut arena)?;
///     let mut x = vec![0.0f32; 10 * model.output_len()];
///     sampler.sample_batch(42, 10, Condition::None, &mut x)?;
///     Ok(x)
/// }
/// # let _ = ten_samples;
/// ```
#[derive(Debug)]
pub struct Sampler<'m, 'r> {
    model: DeviceModel<'m>,
    arena: &'r mut [u8],
}

/// `arena[..n]` from its first 4-byte aligned byte, or `ArenaTooSmall`.
fn aligned_arena(arena: &mut [u8], needed: usize) -> Result<&mut [u8], Error> {
    let skip = (DATA_ALIGN - (arena.as_ptr() as usize) % DATA_ALIGN) % DATA_ALIGN;
    let available = arena.len();
    let too_small = Error::ArenaTooSmall {
        needed: needed + skip,
        available,
    };
    let end = skip.checked_add(needed).ok_or(too_small)?;
    arena.get_mut(skip..end).ok_or(too_small)
}

fn f32s(b: &[u8]) -> Result<&[f32], Error> {
    bytemuck::try_cast_slice(b).map_err(|_| Error::Internal)
}

fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32], Error> {
    bytemuck::try_cast_slice_mut(b).map_err(|_| Error::Internal)
}

fn i8s(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}

/// The arena split around one op's output: bytes before it, the output, bytes after it.
struct Io<'x> {
    lo: &'x [u8],
    out: &'x mut [u8],
    hi: &'x [u8],
    out_start: usize,
    out_end: usize,
    blob: &'x [u8],
}

impl<'x> Io<'x> {
    fn split(arena: &'x mut [u8], output: &TensorInfo, blob: &'x [u8]) -> Result<Self, Error> {
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
    fn input(&self, t: &TensorInfo) -> Result<&'x [u8], Error> {
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
    fn load_in_place(&mut self, t: &TensorInfo, in_place: bool) -> Result<(), Error> {
        if !in_place {
            let src = self.input(t)?;
            let dst = self.out.get_mut(..src.len()).ok_or(Error::Internal)?;
            dst.copy_from_slice(src);
        }
        Ok(())
    }
}

impl<'m, 'r> Sampler<'m, 'r> {
    /// Binds `model` to `arena`.
    ///
    /// # Errors
    ///
    /// [`Error::ArenaTooSmall`] if the arena (from its first 4-byte aligned byte) is shorter
    /// than [`DeviceModel::arena_bytes`].
    pub fn new(model: &DeviceModel<'m>, arena: &'r mut [u8]) -> Result<Self, Error> {
        let arena = aligned_arena(arena, model.arena_bytes())?;
        Ok(Sampler {
            model: *model,
            arena,
        })
    }

    /// The model.
    pub fn model(&self) -> &DeviceModel<'m> {
        &self.model
    }

    /// Generates one sample for `seed` and `condition` into `out[..output_len]`.
    ///
    /// The same `(model, seed, condition)` gives the same bits on every target for int8
    /// models, and for f32/w8a32 models wherever the same kernels run (they do by default).
    ///
    /// # Errors
    ///
    /// [`Error::WrongCondition`] if the condition's kind is not the model's,
    /// [`Error::LabelOutOfRange`] for a label past the class count,
    /// [`Error::ShapeMismatch`] for a mask of the wrong length,
    /// [`Error::OutputTooSmall`] if `out` is shorter than [`DeviceModel::output_len`].
    pub fn sample(
        &mut self,
        seed: u64,
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let out = output_prefix(out, self.model.output_len())?;
        self.check_condition(&condition)?;
        self.run(seed, &condition)?;
        out.copy_from_slice(self.output()?);
        Ok(())
    }

    /// Like [`sample`](Self::sample), with the noise `z` given instead of drawn from a
    /// seed: `z` has [`DeviceModel::noise_dim`] elements. It lets a host feed the exact
    /// inputs another engine ran (the cross-engine tests do); `sample(seed, ..)` equals
    /// `sample_with_noise(z, ..)` when `z` is [`noise::fill`](crate::noise::fill)`(seed)`.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `z` does not have `noise_dim` elements, and the errors
    /// of [`sample`](Self::sample).
    pub fn sample_with_noise(
        &mut self,
        z: &[f32],
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let out = output_prefix(out, self.model.output_len())?;
        if z.len() != self.model.noise_dim() {
            return Err(Error::ShapeMismatch {
                expected: self.model.noise_dim(),
                found: z.len(),
            });
        }
        self.check_condition(&condition)?;
        self.write_input(self.model.noise_tensor, z)?;
        self.run_graph(&condition)?;
        out.copy_from_slice(self.output()?);
        Ok(())
    }

    /// Like [`sample`](Self::sample), with the output mapped from the model's value range
    /// to `0..=255` (`round((v − min) / (max − min) · 255)`, clamped; NaN gives 0).
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample).
    pub fn sample_u8(
        &mut self,
        seed: u64,
        condition: Condition<'_>,
        out: &mut [u8],
    ) -> Result<(), Error> {
        let out = output_prefix(out, self.model.output_len())?;
        self.check_condition(&condition)?;
        self.run(seed, &condition)?;
        let (lo, hi) = self.model.value_range();
        let k = 255.0 / (hi - lo);
        for (dst, &v) in out.iter_mut().zip(self.output()?) {
            // `as u8` saturates and maps NaN to 0.
            *dst = libm::roundf((v - lo) * k) as u8;
        }
        Ok(())
    }

    /// Generates `count` samples for seeds `first_seed, first_seed + 1, …` (wrapping), one
    /// after another in `out[..count · output_len]`.
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample); the condition is checked before any sample is made.
    pub fn sample_batch(
        &mut self,
        first_seed: u64,
        count: usize,
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.model.output_len();
        let needed = count.saturating_mul(n);
        if out.len() < needed {
            return Err(Error::OutputTooSmall {
                needed,
                available: out.len(),
            });
        }
        self.check_condition(&condition)?;
        let mut seed = first_seed;
        for chunk in out.chunks_exact_mut(n.max(1)).take(count) {
            self.run(seed, &condition)?;
            chunk.copy_from_slice(self.output()?);
            seed = seed.wrapping_add(1);
        }
        Ok(())
    }

    /// Generates one sample per seed in `seeds`, one after another in `out`.
    ///
    /// # Errors
    ///
    /// As [`sample_batch`](Self::sample_batch).
    pub fn sample_seeds(
        &mut self,
        seeds: &[u64],
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.model.output_len();
        let needed = seeds.len().saturating_mul(n);
        if out.len() < needed {
            return Err(Error::OutputTooSmall {
                needed,
                available: out.len(),
            });
        }
        self.check_condition(&condition)?;
        for (&seed, chunk) in seeds.iter().zip(out.chunks_exact_mut(n.max(1))) {
            self.run(seed, &condition)?;
            chunk.copy_from_slice(self.output()?);
        }
        Ok(())
    }

    fn check_condition(&self, condition: &Condition<'_>) -> Result<(), Error> {
        self.model.condition().check(condition)
    }

    fn output(&self) -> Result<&[f32], Error> {
        let t = self.model.tensor_checked(self.model.output_tensor)?;
        f32s(self.arena.get(t.range()).ok_or(Error::Internal)?)
    }

    /// The values of f32 tensor `t` after the last run (calibration reads every
    /// activation of a model written without memory reuse).
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] for a tensor index past the model's or an int8 tensor.
    pub fn tensor_f32(&self, t: u32) -> Result<&[f32], Error> {
        let info = self.model.tensor_checked(t)?;
        let bytes = match info.storage {
            Storage::Arena => self.arena.get(info.range()),
            Storage::Const => self.model.blob().get(info.range()),
        };
        f32s(bytes.ok_or(Error::Internal)?)
    }

    fn write_input(&mut self, t: u32, values: &[f32]) -> Result<(), Error> {
        let info = self.model.tensor_checked(t)?;
        let dst = f32s_mut(self.arena.get_mut(info.range()).ok_or(Error::Internal)?)?;
        dst.get_mut(..values.len())
            .ok_or(Error::Internal)?
            .copy_from_slice(values);
        Ok(())
    }

    /// Runs the graph once; the condition has been checked.
    fn run(&mut self, seed: u64, condition: &Condition<'_>) -> Result<(), Error> {
        let noise = self.model.tensor_checked(self.model.noise_tensor)?;
        crate::noise::fill(
            seed,
            f32s_mut(self.arena.get_mut(noise.range()).ok_or(Error::Internal)?)?,
        );
        self.run_graph(condition)
    }

    /// Runs the graph once on the noise already in the arena; the condition has been
    /// checked.
    fn run_graph(&mut self, condition: &Condition<'_>) -> Result<(), Error> {
        let mut label = 0usize;
        match *condition {
            Condition::Label(l) => label = l as usize,
            Condition::Mask { mask, masked } => {
                self.write_input(self.model.mask_tensor, mask)?;
                self.write_input(self.model.masked_tensor, masked)?;
            }
            Condition::None => {}
        }
        for i in 0..self.model.op_count() {
            let op = self.model.prepare(i)?;
            exec(&op, self.arena, self.model.blob(), label)?;
        }
        Ok(())
    }
}

/// Runs one prepared op.
fn exec(op: &PreparedOp<'_>, arena: &mut [u8], blob: &[u8], label: usize) -> Result<(), Error> {
    let mut io = Io::split(arena, &op.output, blob)?;
    let x0 = op.inputs.first().ok_or(Error::Internal)?;
    match op.kernel {
        Kernel::DenseF32 { p, w, bias } => {
            let x = f32s(io.input(x0)?)?;
            cortex_m::dense::dense_f32_rows4(&p, x, w, bias, f32s_mut(io.out)?);
        }
        Kernel::DenseW8A32 { p, w, scale, bias } => {
            let x = f32s(io.input(x0)?)?;
            kernels::dense::dense_w8a32(&p, x, w, scale, bias, f32s_mut(io.out)?);
        }
        Kernel::DenseI8 {
            p,
            w,
            bias,
            mult,
            shift,
        } => {
            let x = i8s(io.input(x0)?);
            cortex_m::dense::dense_i8_rows4(&p, x, w, bias, mult, shift, i8s_mut(io.out));
        }
        Kernel::Conv2dF32 { p, w, bias } => {
            let x = f32s(io.input(x0)?)?;
            cortex_m::conv2d::conv2d_f32_tiled(&p, x, w, bias, f32s_mut(io.out)?);
        }
        Kernel::Conv2dW8A32 { p, w, scale, bias } => {
            let x = f32s(io.input(x0)?)?;
            cortex_m::conv2d::conv2d_w8a32_tiled(&p, x, w, scale, bias, f32s_mut(io.out)?);
        }
        Kernel::Conv2dI8 {
            p,
            q,
            w,
            bias,
            mult,
            shift,
        } => {
            let x = i8s(io.input(x0)?);
            #[cfg(target_arch = "arm")]
            let conv = cortex_m::conv2d::conv2d_i8_m4;
            #[cfg(not(target_arch = "arm"))]
            let conv = cortex_m::conv2d::conv2d_i8_tiled;
            conv(&p, &q, x, w, bias, mult, shift, i8s_mut(io.out));
        }
        Kernel::Upsample { p } => {
            let x = io.input(x0)?;
            match x0.dtype {
                crate::format::DType::F32 => {
                    kernels::upsample::upsample_nearest(&p, f32s(x)?, f32s_mut(io.out)?);
                }
                crate::format::DType::I8 => kernels::upsample::upsample_nearest(&p, x, io.out),
            }
        }
        Kernel::Relu
        | Kernel::LeakyRelu { .. }
        | Kernel::Tanh
        | Kernel::Sigmoid
        | Kernel::Lut { .. }
        | Kernel::Reshape => {
            let in_place = x0.storage == Storage::Arena && x0.range() == op.output.range();
            io.load_in_place(x0, in_place)?;
            match op.kernel {
                Kernel::Relu => kernels::relu::relu_f32(f32s_mut(io.out)?),
                Kernel::LeakyRelu { alpha } => {
                    kernels::leaky_relu::leaky_relu_f32(alpha, f32s_mut(io.out)?);
                }
                Kernel::Tanh => kernels::tanh::tanh_f32(f32s_mut(io.out)?),
                Kernel::Sigmoid => kernels::sigmoid::sigmoid_f32(f32s_mut(io.out)?),
                Kernel::Lut { table } => kernels::lut::lut_i8(table, i8s_mut(io.out)),
                _ => {}
            }
        }
        Kernel::Concat => {
            // Byte-wise concat is element-wise concat for any dtype.
            let mut parts: [&[u8]; 4] = [&[]; 4];
            for (part, t) in parts.iter_mut().zip(&op.inputs[..op.n_inputs]) {
                *part = io.input(t)?;
            }
            kernels::concat::concat(&parts[..op.n_inputs], io.out);
        }
        Kernel::GatherF32 { table, row } => {
            kernels::gather::gather(table, row, label, f32s_mut(io.out)?);
        }
        Kernel::GatherI8 { table, row } => {
            kernels::gather::gather(table, row, label, i8s_mut(io.out));
        }
        Kernel::Binary {
            op: bop,
            side,
            in_place,
            other,
        } => {
            let (full, rest) = match side {
                Side::First => (&op.inputs[0], &op.inputs[1]),
                Side::Second => (&op.inputs[1], &op.inputs[0]),
            };
            io.load_in_place(full, in_place)?;
            let o = io.input(rest)?;
            match bop {
                BinaryOp::AddF32 => kernels::add::add_f32(f32s_mut(io.out)?, f32s(o)?, other),
                BinaryOp::SubF32 => kernels::sub::sub_f32(side, f32s_mut(io.out)?, f32s(o)?, other),
                BinaryOp::MulF32 => kernels::mul::mul_f32(f32s_mut(io.out)?, f32s(o)?, other),
                BinaryOp::AddI8(p) => {
                    kernels::add::add_i8(&p, side, i8s_mut(io.out), i8s(o), other);
                }
                BinaryOp::SubI8(p) => {
                    kernels::sub::sub_i8(&p, side, i8s_mut(io.out), i8s(o), other);
                }
                BinaryOp::MulI8(p) => {
                    kernels::mul::mul_i8(&p, side, i8s_mut(io.out), i8s(o), other);
                }
            }
        }
        Kernel::Quantize { scale, zero_point } => {
            let x = f32s(io.input(x0)?)?;
            kernels::quantize::quantize_f32(scale, zero_point, x, i8s_mut(io.out));
        }
        Kernel::Dequantize { scale, zero_point } => {
            let x = i8s(io.input(x0)?);
            kernels::quantize::dequantize_i8_to_f32(scale, zero_point, x, f32s_mut(io.out)?);
        }
    }
    Ok(())
}

/// `out[..n]`, or [`Error::OutputTooSmall`] when `out` is shorter.
fn output_prefix<T>(out: &mut [T], n: usize) -> Result<&mut [T], Error> {
    let available = out.len();
    out.get_mut(..n).ok_or(Error::OutputTooSmall {
        needed: n,
        available,
    })
}
