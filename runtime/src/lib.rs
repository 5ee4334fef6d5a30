//! The edgegan device runtime: samples a trained generator on a microcontroller.
//!
//! A generator compiled to a `.egm` model (see `docs/egm.md`) runs here with no heap, no
//! panics and no surprises:
//!
//! - **No allocation.** The crate is `#![no_std]` without `alloc`. The model is borrowed
//!   (from flash, or a file read on a host) and every activation lives in one
//!   caller-provided arena of [`DeviceModel::arena_bytes`] bytes, placed by a memory plan
//!   computed when the model was written.
//! - **Validate once, then run blindly.** [`DeviceModel::from_bytes`] checks the magic,
//!   version, checksum, every section, tensor and op parameter, every weight slice and
//!   arena offset, and that every op reads what its producer wrote. After that, sampling
//!   fails only on the caller's inputs, with a typed [`Error`], never a panic.
//! - **Deterministic.** The noise `z` comes from PCG32 and Box–Muller on `libm`
//!   ([`noise`]), so `(model, seed, condition)` names a sample. int8 (w8a8) models compute
//!   with integers only, bit-exact with TFLite Micro's rounding, on every target.
//! - **Three formats.** f32, w8a32 (int8 per-channel weights, f32 activations) and w8a8
//!   (int8 everything, tanh/sigmoid by table).
//!
//! Nothing here needs `std` or a feature: the host-only writer, memory plan, ONNX compiler
//! and tract sampler live in the `edgegan-compiler` crate, which depends on this one. Two
//! host-only features exist: `std` (run-time AVX2 detection for the int8 kernels of
//! [`kernels::host`], and `BatchSampler`: a batch run op by op, the int8 Dense as one
//! GEMM) and `parallel` (`ParallelSampler`: batches over rayon's threads).
//!
//! # Examples
//!
//! On a host, from bytes read from a file (the compiler crate's `AlignedBytes` keeps them
//! 4-byte aligned):
//!
//! ```
//! use edgegan_runtime::{Condition, DeviceModel, Error, Sampler};
//!
//! fn first_sample(bytes: &[u8]) -> Result<Vec<f32>, Error> {
//!     let model = DeviceModel::from_bytes(bytes)?;
//!     let mut arena = vec![0u8; model.arena_bytes()];
//!     let mut sampler = Sampler::new(&model, &mut arena)?;
//!     let mut x = vec![0.0f32; model.output_len()];
//!     sampler.sample(42, Condition::None, &mut x)?;
//!     Ok(x)
//! }
//! # let _ = first_sample;
//! ```
//!
//! On a device the model is embedded with [`include_model!`] and the arena is an
//! [`Arena`] sized at build time (a `const` the model's build step emits):
//!
//! ```text
//! static MODEL: &[u8] = edgegan_runtime::include_model!("model.w8a8.egm");
//! const ARENA_BYTES: usize = 2048; // emitted from the model header
//!
//! let model = DeviceModel::from_bytes(MODEL)?;
//! let mut arena = Arena::<ARENA_BYTES>::new(); // or a `static` behind a critical section
//! let mut sampler = Sampler::new(&model, arena.as_mut_slice())?;
//! let mut pixels = [0u8; 784];
//! sampler.sample_u8(seed, Condition::Label(7), &mut pixels)?;
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// `deny`, not `forbid`: the one exception is `kernels::cortex_m::dsp`, whose `asm!` DSP
// instructions (only with the `cortex-m-dsp` feature on Arm) and `VSQRT` (hard-float Arm)
// allow it for themselves alone.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::cast_lossless, clippy::semicolon_if_nothing_returned)]

#[cfg(any(test, feature = "std"))]
mod batch;
pub mod contract;
mod crc;
mod error;
pub mod format;
pub mod kernels;
pub mod mask;
mod model;
pub mod noise;
pub mod ops;
#[cfg(feature = "parallel")]
mod parallel;
pub mod quant;
mod sampler;

#[cfg(any(test, feature = "std"))]
pub use batch::{BatchSampler, Noise};
pub use contract::{Condition, ConditionKind};
pub use crc::crc32;
pub use error::Error;
pub use format::{DType, OpKind, Storage, TensorInfo};
pub use model::{DeviceModel, Limits, WeightFormat};
#[cfg(feature = "parallel")]
pub use parallel::ParallelSampler;
pub use sampler::Sampler;

impl<'a> DeviceModel<'a> {
    /// Samples once with a temporary [`Sampler`] (see [`Sampler::sample`]).
    ///
    /// # Errors
    ///
    /// [`Error::ArenaTooSmall`], and the errors of [`Sampler::sample`].
    pub fn sample(
        &self,
        seed: u64,
        condition: Condition<'_>,
        arena: &mut [u8],
        out: &mut [f32],
    ) -> Result<(), Error> {
        Sampler::new(self, arena)?.sample(seed, condition, out)
    }

    /// Samples once as `u8` pixels (see [`Sampler::sample_u8`]).
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample).
    pub fn sample_u8(
        &self,
        seed: u64,
        condition: Condition<'_>,
        arena: &mut [u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        Sampler::new(self, arena)?.sample_u8(seed, condition, out)
    }

    /// Samples `count` times for consecutive seeds (see [`Sampler::sample_batch`]).
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample).
    pub fn sample_batch(
        &self,
        first_seed: u64,
        count: usize,
        condition: Condition<'_>,
        arena: &mut [u8],
        out: &mut [f32],
    ) -> Result<(), Error> {
        Sampler::new(self, arena)?.sample_batch(first_seed, count, condition, out)
    }
}

/// Bytes aligned for the runtime: wrap a model (`Aligned<[u8; N]>`, or the unsized
/// `Aligned<[u8]>` behind a reference) so that it starts on a 16-byte boundary.
///
/// # Examples
///
/// ```
/// use edgegan_runtime::Aligned;
/// static BYTES: &Aligned<[u8]> = &Aligned([0u8; 32]);
/// assert_eq!(BYTES.0.as_ptr() as usize % 16, 0);
/// ```
#[repr(C, align(16))]
pub struct Aligned<B: ?Sized>(pub B);

/// Embeds a `.egm` file as a 16-byte aligned `&'static [u8]` (like `include_bytes!`, which
/// guarantees no alignment).
///
/// ```text
/// static MODEL: &[u8] = edgegan_runtime::include_model!("../models/mlp/model.w8a8.egm");
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr) => {{
        static ALIGNED: &$crate::Aligned<[u8]> = &$crate::Aligned(*include_bytes!($path));
        &ALIGNED.0
    }};
}

/// A 16-byte aligned arena of `N` bytes that can live in a `static`.
///
/// Size it from the model's [`arena_bytes`](DeviceModel::arena_bytes) (the writer can emit
/// it as a `const` for the firmware build).
///
/// # Examples
///
/// ```
/// use edgegan_runtime::Arena;
/// let mut arena = Arena::<64>::new();
/// assert_eq!(arena.as_mut_slice().len(), 64);
/// ```
#[repr(C, align(16))]
pub struct Arena<const N: usize>([u8; N]);

impl<const N: usize> Arena<N> {
    /// A zeroed arena.
    pub const fn new() -> Self {
        Arena([0; N])
    }

    /// The arena's bytes, to pass to [`Sampler::new`].
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}
