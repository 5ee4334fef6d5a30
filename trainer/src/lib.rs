//! edgegan's host trainer: GANs and conditional GANs with Burn, from the seed's
//! algorithm (Goodfellow et al. 2014) to the run folder a researcher watches.
//!
//! - [`config`]: the run's TOML configuration (defaults = the seed's algorithm)
//! - [`data`]: built-in synthetic datasets and CSV
//! - [`model`]: the generator/discriminator interface and the MLP pair, exportable to ONNX
//! - [`conv`]: convolutional generators (label, inpainting) and discriminator
//! - [`images`]: IDX / picture-folder datasets, inpainting masks, sample grids
//! - [`loss`]: BCE (seed), least squares, hinge
//! - [`training`]: the adversarial step with G/D freezing
//! - [`checkpoint`]: atomic checkpoints and resume
//! - [`run`]: the run folder, logging, plots
//! - [`eval`]: deterministic evaluation
//! - [`metrics`], [`plots`]: pure metric functions and PNG plots
//! - [`classifier`], [`image_eval`], [`image_metrics`]: the image evaluation (classifier
//!   features: Fréchet distance, precision/recall, label accuracy, inpainting error)

pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod conv;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod image_eval;
pub mod image_metrics;
pub mod images;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plots;
pub mod run;
pub mod shipped;
pub mod training;

pub use error::{Result, TrainError};
