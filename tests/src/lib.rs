//! Cross-engine regression tests for edgegan's shipped generators.
//!
//! One case list ([`case::case_specs`]: seed × condition × batch, derived from each
//! model's ONNX metadata) runs through every engine behind one trait ([`engine::Engine`]):
//! Burn (the training framework, the reference), tract, ONNX Runtime, the golden files,
//! Burn on the code burn-onnx's import generates from each ONNX file (`burn-import`, built
//! by `build.rs`) and the device runtime.
//! Every folder under `models/` with a `model.toml` and a `generator.onnx` is a model
//! ([`model::discover`]); adding a folder adds it to the suite.
//!
//! The foreign-generator corpus (`tests/corpus/`) runs through the same engines
//! ([`foreign`]).
//!
//! `regen-golden` (a binary of this crate) rewrites a model's golden files.

pub mod alloc;
pub mod array;
pub mod case;
pub mod engine;
pub mod engines;
pub mod foreign;
pub mod golden;
pub mod model;
pub mod npy;
