//! edgegan's host trainer: GANs and conditional GANs with Burn, from the seed's
//! algorithm (Goodfellow et al. 2014) to the run folder a researcher watches.
//!
//! Modules from the top (what a user runs) to the bottom (shared helpers); each uses only
//! modules below it:
//!
//! - [`export`]: the generator as ONNX per the contract, checked with tract; shipped
//!   model folders
//! - [`evaluation`]: deterministic evaluation (mode coverage; classifier features)
//! - [`training`]: the adversarial step, losses, EMA, checkpoints, the run folder and its
//!   training loop and progress plots
//! - [`networks`]: the generator/discriminator interface, MLP and convolutional networks
//! - [`data`]: built-in synthetic datasets, CSV, image datasets, inpainting masks
//! - [`device`]: where training runs (CPU, or a GPU through Burn's Vulkan backend)
//! - [`plots`]: PNG charts (pure drawing)
//! - [`config`]: the run's TOML configuration (defaults = the seed's algorithm)
//! - [`error`], [`files`], [`tensors`]: the error type, atomic file writes, tensor
//!   read-back

pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod evaluation;
pub mod export;
pub mod files;
pub mod networks;
pub mod plots;
pub mod tensors;
pub mod training;

#[cfg(test)]
mod test_support;

pub use error::{Result, TrainError};
/// The shipped-model reader under its earlier path (`edgegan_train::shipped`), which the
/// cross-engine tests (`tests/`) use.
pub use export::shipped;
