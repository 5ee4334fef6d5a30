//! Host kernels (x86-64 and aarch64 only): the int8 Dense and Conv2d of w8a8 models, shaped
//! for 256-bit integer SIMD, for std edge boxes, `firmware-sim sample` and the tests; and
//! an int8 Add that reads each operand's rescaling from a table ([`add`]).
//!
//! Each kernel has one portable body (plain Rust in fixed-length loops over small arrays,
//! which LLVM vectorises for NEON and SSE2) and, on x86-64, an AVX2 body of the same shape
//! written with `core::arch` intrinsics (`vpmaddwd`: sixteen 16-bit multiply-accumulates per
//! instruction). The AVX2 body is chosen at run time:
//!
//! - with the `std` feature (and in the crate's tests) by `is_x86_feature_detected!`, which
//!   caches its answer;
//! - without `std` only when the build itself targets AVX2 (`-C target-cpu=x86-64-v3`).
//!
//! Why `core::arch` and one `unsafe` call rather than a SIMD crate or auto-vectorisation: the
//! pattern that gives `vpmaddwd` (two adjacent widened products added) is one LLVM matches
//! only sometimes, and `multiversion`/`pulp` would be new dependencies for one instruction.
//! Since Rust 1.87 the arithmetic intrinsics are safe to call inside a
//! `#[target_feature(enable = "avx2")]` function, and vectors are built from arrays with
//! `bytemuck::cast` (no pointer loads), so the kernels' bodies are safe code. What is
//! `unsafe` is calling such a function, since it must not run on a CPU without AVX2: that
//! call sits in [`conv2d`] and [`dense`] behind a [`Simd`] token, each with its own scoped
//! `#[allow(unsafe_code)]`.
//!
//! Integer sums are exact (wrapping, as in the references), so the order of the
//! multiply-accumulates does not matter: every kernel here equals its reference bit for
//! bit, tested against it, and a model's samples are those of the Cortex-M and RISC-V
//! builds. The MCU kernels are not touched.

pub mod add;
pub mod conv2d;
pub mod dense;
mod requant;

/// Which kernel bodies may run: a token only [`Simd::detect`] can make with AVX2 on, so a
/// safe function taking it cannot be told to run AVX2 code on a CPU without it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Simd {
    avx2: bool,
}

impl Simd {
    /// The portable bodies only (the tests run them on AVX2 machines too).
    #[cfg(test)]
    pub(crate) const PORTABLE: Simd = Simd { avx2: false };

    /// What this CPU can run.
    #[inline]
    pub(crate) fn detect() -> Simd {
        #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
        let avx2 = std::is_x86_feature_detected!("avx2");
        #[cfg(all(target_arch = "x86_64", not(any(test, feature = "std"))))]
        let avx2 = cfg!(target_feature = "avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Simd { avx2 }
    }

    /// Whether the AVX2 bodies may run (always false off x86-64).
    #[inline]
    pub(crate) fn avx2(self) -> bool {
        self.avx2
    }
}
