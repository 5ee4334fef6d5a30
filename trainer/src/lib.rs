//! edgegan's host trainer: GANs and conditional GANs with Burn, from the seed's
//! algorithm (Goodfellow et al. 2014) to the run folder a researcher watches.
//!
//! - [`config`]: the run's TOML configuration (defaults = the seed's algorithm)
//! - [`data`]: built-in synthetic datasets and CSV
//! - [`model`]: MLP generator/discriminator, exportable to ONNX
//! - [`loss`]: BCE (seed), least squares, hinge
//! - [`training`]: the adversarial step with G/D freezing
//! - [`checkpoint`]: atomic checkpoints and resume
//! - [`run`]: the run folder, logging, plots
//! - [`eval`]: deterministic evaluation
//! - [`metrics`], [`plots`]: pure metric functions and PNG plots

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plots;
pub mod run;
pub mod training;

pub use error::{Result, TrainError};
