//! The edgegan compiler (host only): turns a generator into `.egm` device models for the
//! [`edgegan_runtime`] crate, which samples them on the device.
//!
//! - [`builder`]: the `.egm` writer. A graph description in ([`GraphBuilder`]), model
//!   bytes out, in f32, w8a32 or w8a8 (calibrated, quantised, memory-planned).
//! - [`contract`]: the ONNX contract's `edgegan.*` metadata parsed into [`contract::Metadata`]
//!   (names and keys are the device crate's [`edgegan_runtime::contract`]).
//! - [`npy`]: NumPy `.npy` files, the one codec of the host tools (inputs, samples,
//!   golden files), shapes checked against the bytes before anything is read.
//! - [`plan`]: the static memory plan (liveness, in-place aliasing, greedy placement).
//! - [`compile`]: ONNX → `.egm`. tract parses and declutters the ONNX generator, one
//!   lowering per op family turns it into [`GraphBuilder`] calls, then the three formats
//!   are written and measured against each other and against tract.
//! - [`tract`]: [`TractSampler`], the device sampling API on std edge boxes running the
//!   ONNX itself through tract, and [`tract::OnnxRunner`] (and [`tract::run_onnx`]), one tract runner at any batch.
//!
//! # Examples
//!
//! Build a tiny generator with the writer, then sample it as a device would:
//!
//! ```
//! use edgegan_compiler::builder::{GraphBuilder, WriteOptions};
//! use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Sampler};
//!
//! // z[4] -> Dense(4 -> 6) -> Tanh, shaped [1, 2, 3]
//! let mut g = GraphBuilder::new(4, ConditionKind::None);
//! let z = g.noise();
//! let w: Vec<f32> = (0..24).map(|i| (i as f32 - 12.0) / 24.0).collect();
//! let h = g.dense(z, 6, &w, Some(&[0.0; 6]))?;
//! let y = g.tanh(h)?;
//! let y = g.reshape(y, &[1, 2, 3])?;
//! let graph = g.finish(y, (-1.0, 1.0))?;
//! let bytes = graph.write(&WriteOptions::f32())?;
//! let bytes = edgegan_compiler::builder::AlignedBytes::new(&bytes);
//!
//! let model = DeviceModel::from_bytes(bytes.as_slice())?;
//! let mut arena = vec![0u8; model.arena_bytes()];
//! let mut sampler = Sampler::new(&model, &mut arena)?;
//! let mut x = [0.0f32; 6];
//! sampler.sample(42, Condition::None, &mut x)?;
//! assert!(x.iter().all(|v| v.abs() <= 1.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::cast_lossless, clippy::semicolon_if_nothing_returned)]

pub mod builder;
pub mod compile;
pub mod contract;
pub mod npy;
pub mod plan;
pub mod tract;

pub use builder::{AlignedBytes, Graph, GraphBuilder, WriteOptions};
pub use tract::{TractError, TractSampler};
