//! [`Sampler`]: runs a [`DeviceModel`] in a caller-provided arena.

use crate::Error;
use crate::contract::Condition;
use crate::format::{DATA_ALIGN, Storage};
use crate::model::{DeviceModel, PreparedOp};
use crate::ops::{Eval, Io, f32s, f32s_mut};

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

    /// Like [`sample`](Self::sample), calling `at_op(i)` right before op `i` runs and
    /// `at_op(op_count)` right after the last one, so that a caller can time each op (the
    /// firmware's per-op instruction counts read a timer there): op `i` runs between the
    /// calls with `i` and `i + 1`. The sample is the one [`sample`](Self::sample) makes.
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample).
    pub fn sample_observed(
        &mut self,
        seed: u64,
        condition: Condition<'_>,
        out: &mut [f32],
        at_op: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
        let out = output_prefix(out, self.model.output_len())?;
        self.check_condition(&condition)?;
        self.fill_noise(seed)?;
        self.run_graph(&condition, at_op)?;
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
        self.run_graph(&condition, &mut |_| {})?;
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
        self.fill_noise(seed)?;
        self.run_graph(condition, &mut |_| {})
    }

    /// Draws the noise of `seed` into the noise tensor.
    fn fill_noise(&mut self, seed: u64) -> Result<(), Error> {
        let noise = self.model.tensor_checked(self.model.noise_tensor)?;
        crate::noise::fill(
            seed,
            f32s_mut(self.arena.get_mut(noise.range()).ok_or(Error::Internal)?)?,
        );
        Ok(())
    }

    /// Runs the graph once on the noise already in the arena, calling `at_op(i)` before op
    /// `i` and `at_op(op_count)` at the end; the condition has been checked.
    fn run_graph(
        &mut self,
        condition: &Condition<'_>,
        at_op: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
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
            at_op(i);
            let (arena, blob) = (&mut *self.arena, self.model.blob());
            let mut done = Ok(());
            self.model
                .prepare(i, &mut |op| done = exec(op, arena, blob, label))?;
            done?;
        }
        at_op(self.model.op_count());
        Ok(())
    }
}

/// Runs one prepared op through its op module.
fn exec(op: PreparedOp<'_, '_>, arena: &mut [u8], blob: &[u8], label: usize) -> Result<(), Error> {
    let mut cx = Eval {
        io: Io::split(arena, op.output, blob)?,
        inputs: op.inputs,
        output: op.output,
        label,
    };
    op.op.eval(&mut cx)
}

/// `out[..n]`, or [`Error::OutputTooSmall`] when `out` is shorter.
pub(crate) fn output_prefix<T>(out: &mut [T], n: usize) -> Result<&mut [T], Error> {
    let available = out.len();
    out.get_mut(..n).ok_or(Error::OutputTooSmall {
        needed: n,
        available,
    })
}
