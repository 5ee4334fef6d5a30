//! edgegan's host trainer: GANs and conditional GANs with Burn, from the seed's
//! algorithm (Goodfellow et al. 2014) to the run folder a researcher watches.
//!
//! - [`config`]: the run's TOML configuration (defaults = the seed's algorithm)
//! - [`data`]: built-in synthetic datasets, CSV, image datasets (IDX, picture folders),
//!   inpainting masks, sample grids
//! - [`networks`]: the generator/discriminator interface, MLP and convolutional networks
//! - [`training`]: the adversarial step, losses, checkpoints, the run folder
//! - [`evaluation`]: deterministic evaluation (mode coverage; classifier features)
//! - [`export`]: ONNX export per the contract, shipped model folders
//! - [`plots`]: PNG plots

pub mod config;
pub mod data;
pub mod error;
pub mod evaluation;
pub mod export;
pub mod networks;
pub mod plots;
pub mod training;

pub use error::{Result, TrainError};
/// The shipped-model reader under its earlier path (`edgegan_train::shipped`), which the
/// cross-engine tests (`tests/`) use.
pub use export::shipped;
