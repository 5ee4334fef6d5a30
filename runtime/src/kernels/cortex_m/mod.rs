//! Faster kernel variants, each with the same signature as its reference and tested
//! against it by the op's test macro.
//!
//! They are portable Rust written in the shape the Cortex-M4 DSP extension (and host
//! auto-vectorisers) like: several output rows (or channels × columns of a conv) per pass
//! so each input is loaded once, and int8 products taken as 16-bit multiply-accumulates. Every variant is bit-exact with its
//! reference — f32 variants keep each output's summation order, int8 sums are exact — so
//! choosing one never changes a sample.

pub mod add;

/// Whether this build links the int8 fallback kernels: the kernels for the Conv2d and Dense
/// shapes the DSP kernels do not cover ([`conv2d::needs_fallback`]: the conv patch kernel
/// and the reference conv; [`dense::needs_fallback`]: the reference Dense). Every build but a DSP one
/// (`cortex-m-dsp` on Arm) has them; a DSP build only with the `int8-fallbacks` feature,
/// which a firmware leaves off when its model needs none (`firmware-sim` asks
/// `DeviceModel::needs_int8_fallbacks`): 2.2 KB of code on fashion-inpaint. Without them a
/// model with such an op fails to load, so the kernels never meet an op they do not cover.
pub const INT8_FALLBACKS: bool =
    cfg!(feature = "int8-fallbacks") || !cfg!(all(target_arch = "arm", feature = "cortex-m-dsp"));

pub mod conv2d;
pub mod conv_transpose2d;
pub mod dense;
pub mod dsp;
pub mod upsample;
