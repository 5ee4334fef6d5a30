//! Upper bounds on the sizes a config or a flag may ask for: far above any model this
//! tool trains for a microcontroller, far below what would exhaust a machine's memory or
//! run for days by mistake.

/// `steps`
pub const MAX_STEPS: usize = 10_000_000;
/// `algorithm.d_steps`
pub const MAX_D_STEPS: usize = 100;
/// `batch_size`
pub const MAX_BATCH_SIZE: usize = 65_536;
/// each of `generator.hidden`, `discriminator.hidden`, `*.channels`
pub const MAX_WIDTH: usize = 16_384;
/// the number of layers in `*.hidden` and `*.channels`
pub const MAX_DEPTH: usize = 64;
/// `generator.noise_dim`
pub const MAX_NOISE_DIM: usize = 16_384;
/// `generator.embedding_dim`, `discriminator.embedding_dim`
pub const MAX_EMBEDDING_DIM: usize = 16_384;
/// the classes of a conditional model's data
pub const MAX_CLASSES: usize = 10_000;
/// each side of `data.image_size`
pub const MAX_IMAGE_SIDE: usize = 4_096;
/// `data.channels`
pub const MAX_CHANNELS: usize = 4;
/// `eval --samples`, `sample -n`
pub const MAX_SAMPLES: usize = 1_000_000;
