//! Training: the adversarial step, its losses and weight average, checkpoints, and the
//! run folder a user watches and resumes.
//!
//! - [`gan`]: one [`Gan`] holds both networks, both optimisers, the RNG and the step
//!   counter; a step is the seed's algorithm with G/D freezing
//! - [`loss`]: BCE (the seed's), least squares, hinge
//! - [`ema`]: the moving average of G's weights
//! - [`checkpoint`]: atomic checkpoints and bit-identical resume
//! - [`run_dir`]: the run folder (config, `metrics.jsonl`, checkpoints) and loading a run
//! - [`train_loop`]: steps a run to its end, logging, checkpointing, plotting
//! - [`progress`]: the plots and sample grids a user watches while it trains
//! - [`profile`]: wall time per phase of a step (off unless asked for)

pub mod checkpoint;
pub mod ema;
pub mod gan;
pub mod loss;
pub mod profile;
pub mod progress;
pub mod run_dir;
pub mod train_loop;

pub use self::gan::{Gan, StepStats, adam_for, standard_normal};
pub use self::profile::{Phase, PhaseTimes};
pub use self::run_dir::{LogRecord, RunDir, load_gan, load_gan_with};
pub use self::train_loop::{TrainOptions, train};
