//! Training: the adversarial step and its losses, checkpoints, and the run folder a
//! user watches and resumes.

pub mod checkpoint;
pub mod gan;
pub mod loss;
pub mod run_dir;

pub use self::gan::{Gan, StepStats, adam_for};
pub(crate) use self::gan::{read_scalar, read_vec};
