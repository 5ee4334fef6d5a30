//! Faster kernel variants, each with the same signature as its reference and tested
//! against it by the op's test macro.
//!
//! They are portable Rust written in the shape the Cortex-M4 DSP extension (and host
//! auto-vectorisers) like: several output rows (or channels × columns of a conv) per pass
//! so each input is loaded once, and int8 products taken as 16-bit multiply-accumulates. Every variant is bit-exact with its
//! reference — f32 variants keep each output's summation order, int8 sums are exact — so
//! choosing one never changes a sample.

pub mod add;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod dense;
pub mod dsp;
pub mod upsample;
