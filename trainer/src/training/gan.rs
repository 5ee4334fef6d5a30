//! The adversarial step: one [`Gan`] holds both networks, both optimisers, the RNG and
//! the step counter, and advances them one step at a time.
//!
//! A step is the seed's algorithm (Goodfellow et al. 2014, Algorithm 1):
//! 1. `d_steps` times, with G frozen (its output is detached and only D's gradients are
//!    kept): a generated batch labelled 0 and a real batch labelled 1, a gradient step on
//!    each (or one joint step), the two losses averaged for the log;
//! 2. with D frozen (only G's gradients are kept, D's optimiser does not run): fresh noise
//!    through D(G(z)) with target 1.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::ema::ema_update;
use super::loss::AdversarialLoss;
use super::profile::{Phase, PhaseTimes};
use crate::config::{AdamSettings, DUpdate, LossKind, TrainConfig};
use crate::data::images::masks::{apply_mask, random_masks};
use crate::data::{Dataset, Normalizer};
use crate::device::{TrainingDevice, on_cpu};
use crate::error::{Result, TrainError};
use crate::networks::{Condition, Discriminator, Generator};
use crate::tensors::{self, read_scalar, read_scalars, read_vec};

/// What one step measured (means over the step's batches).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// D loss: mean of its fake-batch and real-batch losses
    pub d_loss: f32,
    /// G loss through D(G(z)) with target 1
    pub g_loss: f32,
    /// mean D(x) on the real batch (probability for BCE)
    pub d_real: f32,
    /// mean D(G(z)) on the generated batch
    pub d_fake: f32,
}

/// A GAN in training.
pub struct Gan {
    /// the run's configuration
    pub config: TrainConfig,
    /// the training distribution
    pub dataset: Dataset,
    /// data <-> network units
    pub normalizer: Normalizer,
    /// where the networks train (`device` in the config); `device.device` is the
    /// autodiff device batches are made on
    pub device: TrainingDevice,
    /// the generator
    pub generator: Generator,
    /// the discriminator
    pub discriminator: Discriminator,
    /// EMA of G's weights (plain device), when enabled
    pub generator_ema: Option<Generator>,
    /// G's optimiser
    pub g_optimizer: ModuleOptimizer,
    /// D's optimiser
    pub d_optimizer: ModuleOptimizer,
    /// the run's RNG: data, labels and noise all come from it
    pub rng: Pcg64,
    /// completed steps
    pub step: usize,
    /// wall time per phase of the steps run while this is `Some` (off by default)
    pub phase_times: Option<PhaseTimes>,
    loss: AdversarialLoss,
}

/// A fresh Adam optimiser with the given settings.
pub fn adam_for(settings: &AdamSettings) -> ModuleOptimizer {
    AdamConfig::new()
        .with_beta_1(settings.beta1)
        .with_beta_2(settings.beta2)
        .with_epsilon(1e-8)
        .init()
}

impl Gan {
    /// Builds fresh networks and optimisers from the config, seeded by `config.seed`.
    pub fn new(config: TrainConfig, dataset: Dataset) -> Result<Self> {
        config.validate()?;
        let training_device = crate::device::resolve(config.device)?;
        let device = training_device.device.clone();
        device.seed(config.seed);
        let classes = config.data.conditional.then(|| dataset.classes());
        if let Some(n) = classes {
            crate::config::check_max(
                "the number of classes",
                n,
                crate::config::limits::MAX_CLASSES,
            )?;
        }
        let dim = dataset.dim();
        let shape = dataset.image_shape();
        let generator = Generator::from_config(&config, dim, shape, classes, &device)?;
        let discriminator = Discriminator::from_config(&config, dim, shape, classes, &device)?;
        let generator_ema = config.algorithm.ema_decay.map(|_| generator.valid());
        let loss = AdversarialLoss {
            kind: config.algorithm.loss,
            label_smoothing: config.algorithm.label_smoothing,
        };
        Ok(Self {
            normalizer: if config.data.normalize {
                dataset.normalizer()
            } else {
                Normalizer::identity(dataset.dim())
            },
            g_optimizer: adam_for(&config.g_optimizer),
            d_optimizer: adam_for(&config.d_optimizer),
            // a different stream from Burn's weight init, same seed
            rng: Pcg64::seed_from_u64(config.seed ^ 0x6564_6765_6761_6e00),
            step: 0,
            phase_times: None,
            config,
            dataset,
            device: training_device,
            generator,
            discriminator,
            generator_ema,
            loss,
        })
    }

    /// Whether G and D take a class label.
    pub fn conditional(&self) -> bool {
        self.config.data.conditional
    }

    /// `n` standard-normal noise vectors `[n, noise_dim]` from the run's RNG.
    pub fn noise(&mut self, n: usize) -> Vec<f32> {
        standard_normal(&mut self.rng, n * self.config.generator.noise_dim)
    }

    /// The label condition (or none) for a batch.
    fn label_condition(&self, labels: &[i64], device: &Device) -> Condition {
        if self.conditional() {
            Condition::Label(tensors::labels(labels, device))
        } else {
            Condition::None
        }
    }

    /// The inpainting condition for images `x` (network units, row-major `[n, dim]`) and
    /// masks of the same layout.
    pub fn mask_condition(&self, x: &[f32], masks: Vec<f32>, device: &Device) -> Condition {
        let n = masks.len() / self.dataset.dim().max(1);
        let masked = apply_mask(x, &masks);
        Condition::Mask {
            mask: tensors::matrix(masks, n, device),
            masked: tensors::matrix(masked, n, device),
        }
    }

    /// Masks for `n` images, drawn from the run's RNG.
    fn draw_masks(&mut self, n: usize) -> Vec<f32> {
        match (self.config.data.masks, self.dataset.image_shape()) {
            (Some(kind), Some(shape)) => random_masks(kind, n, shape, &mut self.rng),
            _ => Vec::new(),
        }
    }

    /// Whether G is conditioned on a mask (inpainting).
    pub fn inpainting(&self) -> bool {
        self.config.data.masks.is_some()
    }

    /// A real batch in network units and its condition.
    fn real_batch(&mut self) -> (Tensor<2>, Condition) {
        let n = self.config.batch_size;
        let mut batch = self.dataset.sample(&mut self.rng, n);
        self.normalizer.normalize(&mut batch.x);
        let condition = if self.inpainting() {
            let masks = self.draw_masks(n);
            self.mask_condition(&batch.x, masks, &self.device.device)
        } else {
            self.label_condition(&batch.labels, &self.device.device)
        };
        let x = tensors::matrix(batch.x, n, &self.device.device);
        (x, condition)
    }

    /// Noise and condition for a generated batch. For inpainting, the real images whose
    /// masked versions G completes are returned too (for the L1 term).
    fn fake_inputs(&mut self) -> (Tensor<2>, Condition, Option<Tensor<2>>) {
        let n = self.config.batch_size;
        if self.inpainting() {
            let (x, condition) = self.real_batch();
            let z = self.noise(n);
            let z = tensors::matrix(z, n, &self.device.device);
            return (z, condition, Some(x));
        }
        let labels = self.dataset.sample_labels(&mut self.rng, n);
        let z = self.noise(n);
        let z = tensors::matrix(z, n, &self.device.device);
        (z, self.label_condition(&labels, &self.device.device), None)
    }

    /// One discriminator update with G frozen. Returns (loss, D(real), D(fake)).
    pub fn d_step(&mut self) -> Result<(f32, f32, f32)> {
        let lr = self.config.d_optimizer.lr;
        let t = Instant::now();
        let (z, fake_condition, truth) = self.fake_inputs();
        let t = self.mark(Phase::Inputs, t);
        // G frozen: detach cuts the graph, so no gradient can reach G's parameters.
        let fake = self.generator.forward(z, &fake_condition).detach();
        let t = self.mark(Phase::GForwardForD, t);
        // inpainting: D compares the completion with the truth under the same mask
        let (real, real_condition) = match truth {
            Some(x) => (x, fake_condition.clone()),
            None => self.real_batch(),
        };
        let t = self.mark(Phase::Inputs, t);

        match self.config.algorithm.d_update {
            DUpdate::Separate => {
                // The seed: train_on_batch(X_p, 0), then train_on_batch(X_s, 1).
                let logits = self.discriminator.forward(fake, &fake_condition);
                let loss_fake = self.loss.d_fake(logits.clone());
                let t = self.mark(Phase::DForward, t);
                let d_fake = self.loss.score(logits.detach());
                let t = self.mark(Phase::ReadBack, t);
                let t = self.apply_d(lr, &loss_fake, t);
                let logits = self.discriminator.forward(real, &real_condition);
                let loss_real = self.loss.d_real(logits.clone());
                let t = self.mark(Phase::DForward, t);
                let d_real = self.loss.score(logits.detach());
                let t = self.mark(Phase::ReadBack, t);
                let t = self.apply_d(lr, &loss_real, t);
                // one read-back for the four numbers
                let [loss_fake, loss_real, d_real, d_fake] =
                    read_scalars([loss_fake.detach(), loss_real.detach(), d_real, d_fake])?;
                self.mark(Phase::ReadBack, t);
                Ok(((loss_fake + loss_real) / 2.0, d_real, d_fake))
            }
            DUpdate::Joint => {
                let logits_fake = self.discriminator.forward(fake, &fake_condition);
                let logits_real = self.discriminator.forward(real, &real_condition);
                let loss = (self.loss.d_fake(logits_fake.clone())
                    + self.loss.d_real(logits_real.clone()))
                .div_scalar(2.0);
                let t = self.mark(Phase::DForward, t);
                let d_fake = self.loss.score(logits_fake.detach());
                let d_real = self.loss.score(logits_real.detach());
                let t = self.mark(Phase::ReadBack, t);
                let t = self.apply_d(lr, &loss, t);
                let [loss, d_real, d_fake] = read_scalars([loss.detach(), d_real, d_fake])?;
                self.mark(Phase::ReadBack, t);
                Ok((loss, d_real, d_fake))
            }
        }
    }

    /// Backward pass of a D loss and D's Adam step; `t` is when the phase began.
    fn apply_d(&mut self, lr: f64, loss: &Tensor<1>, t: Instant) -> Instant {
        let grads = GradientsParams::from_grads(loss.backward(), &self.discriminator);
        let t = self.mark(Phase::DBackward, t);
        self.discriminator = self.d_optimizer.step(lr, self.discriminator.clone(), grads);
        self.mark(Phase::DOptimizer, t)
    }

    /// Adds the time since `since` to `phase` when profiling; returns the next phase's
    /// start.
    fn mark(&mut self, phase: Phase, since: Instant) -> Instant {
        match &mut self.phase_times {
            Some(times) => times.add(phase, since),
            None => since,
        }
    }

    /// One generator update with D frozen: only G's gradients are kept and only G's
    /// optimiser steps. Returns G's loss.
    pub fn g_step(&mut self) -> Result<f32> {
        let t = Instant::now();
        let (z, condition, truth) = self.fake_inputs();
        let t = self.mark(Phase::Inputs, t);
        let fake = self.generator.forward(z, &condition);
        let t = self.mark(Phase::GForward, t);
        // D frozen: its weights are untracked here, so backward computes no gradient for
        // them (only the gradient through D into G) and D's optimiser does not run.
        let frozen_d = self.discriminator.clone().no_grad();
        let mut loss = self.loss.g(frozen_d.forward(fake.clone(), &condition));
        if let (Some(truth), Condition::Mask { mask, .. }) = (truth, &condition) {
            let weight = self.config.algorithm.l1_weight;
            if weight > 0.0 {
                loss = loss + l1_unknown(fake, truth, mask.clone()).mul_scalar(weight);
            }
        }
        let t = self.mark(Phase::DForwardForG, t);
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        let t = self.mark(Phase::GBackward, t);
        self.generator =
            self.g_optimizer
                .step(self.config.g_optimizer.lr, self.generator.clone(), grads);
        if let (Some(decay), Some(ema)) =
            (self.config.algorithm.ema_decay, self.generator_ema.take())
        {
            self.generator_ema = Some(ema_update(ema, &self.generator, decay));
        }
        let t = self.mark(Phase::GOptimizer, t);
        let loss = read_scalar(loss.detach());
        self.mark(Phase::ReadBack, t);
        loss
    }

    /// One full step: `d_steps` D updates, then one G update. Stops with
    /// [`TrainError::Diverged`] if a loss or D output is NaN or infinite.
    pub fn train_step(&mut self) -> Result<StepStats> {
        let k = self.config.algorithm.d_steps;
        let (mut d_loss, mut d_real, mut d_fake) = (0.0, 0.0, 0.0);
        for _ in 0..k {
            let (l, r, f) = self.d_step()?;
            d_loss += l / k as f32;
            d_real += r / k as f32;
            d_fake += f / k as f32;
        }
        let g_loss = self.g_step()?;
        if let Some(times) = &mut self.phase_times {
            times.steps += 1;
        }
        let stats = StepStats {
            d_loss,
            g_loss,
            d_real,
            d_fake,
        };
        for (what, value) in [
            ("the D loss", d_loss),
            ("the G loss", g_loss),
            ("mean D(real)", d_real),
            ("mean D(fake)", d_fake),
        ] {
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    step: self.step + 1,
                    what,
                    value,
                    hint: String::new(),
                });
            }
        }
        self.step += 1;
        Ok(stats)
    }

    /// The generator used for sampling: the EMA copy when enabled, else G itself
    /// (both in inference mode, off the autodiff device), on the CPU wherever it trained.
    pub fn sampling_generator(&self) -> Generator {
        let g = match &self.generator_ema {
            Some(ema) => ema.clone(),
            None => self.generator.valid(),
        };
        on_cpu(g, &self.device)
    }

    /// Generates one sample per label (labels ignored by unconditional models) from
    /// noise drawn with `rng`, in DATA units, row-major `[labels.len(), dim]`.
    pub fn generate(&self, rng: &mut Pcg64, labels: &[i64]) -> Result<Vec<f32>> {
        self.dataset.check_labels(labels)?;
        let g = self.sampling_generator();
        let device = Device::flex();
        let n = labels.len();
        let noise_dim = self.config.generator.noise_dim;
        let mut out = Vec::with_capacity(n * self.dataset.dim());
        // chunks keep the memory flat for large evaluations
        for chunk in labels.chunks(self.chunk_rows()) {
            let z = standard_normal(rng, chunk.len() * noise_dim);
            let z = tensors::matrix(z, chunk.len(), &device);
            let x = g.forward(z, &self.label_condition(chunk, &device));
            out.extend(read_vec(x)?);
        }
        self.normalizer.denormalize(&mut out);
        Ok(out)
    }

    /// Rows per forward pass in sampling and evaluation (images take more memory).
    fn chunk_rows(&self) -> usize {
        if self.dataset.image_shape().is_some() {
            256
        } else {
            4096
        }
    }

    /// Inpainting: completes images `x` (network units, `[n, dim]`) under `masks` (same
    /// layout, 1 = known) with noise from `rng`. Returns the composited completions.
    pub fn complete(&self, rng: &mut Pcg64, x: &[f32], masks: &[f32]) -> Result<Vec<f32>> {
        let g = self.sampling_generator();
        let device = Device::flex();
        let dim = self.dataset.dim();
        let noise_dim = self.config.generator.noise_dim;
        let rows = self.chunk_rows();
        let mut out = Vec::with_capacity(x.len());
        for (xs, ms) in x.chunks(rows * dim).zip(masks.chunks(rows * dim)) {
            let n = xs.len() / dim;
            let z = standard_normal(rng, n * noise_dim);
            let z = tensors::matrix(z, n, &device);
            let condition = self.mask_condition(xs, ms.to_vec(), &device);
            out.extend(read_vec(g.forward(z, &condition))?);
        }
        Ok(out)
    }

    /// D's score (the logged "D(x)") for each data-unit sample. With PacGAN packing,
    /// each sample gets the score of its pack of consecutive samples (the last pack is
    /// padded by repeating its final sample).
    pub fn discriminate(&self, x: &[f32], labels: &[i64]) -> Result<Vec<f32>> {
        let d = on_cpu(self.discriminator.valid(), &self.device);
        let pack = d.pack();
        let device = Device::flex();
        let dim = self.dataset.dim();
        let mut x = x.to_vec();
        self.normalizer.normalize(&mut x);
        let mut out = Vec::with_capacity(labels.len());
        let rows_per_chunk = 4096 * pack;
        for (rows, chunk) in x
            .chunks(rows_per_chunk * dim)
            .zip(labels.chunks(rows_per_chunk))
        {
            let n = chunk.len();
            let padded = n.div_ceil(pack) * pack;
            let mut rows = rows.to_vec();
            let mut chunk = chunk.to_vec();
            while chunk.len() < padded {
                rows.extend_from_within((n - 1) * dim..n * dim);
                chunk.push(chunk[n - 1]);
            }
            let t = tensors::matrix(rows, padded, &device);
            let logits = d.forward(t, &self.label_condition(&chunk, &device));
            let scores = match self.config.algorithm.loss {
                LossKind::Bce => burn::tensor::activation::sigmoid(logits),
                _ => logits,
            };
            let scores = read_vec(scores)?;
            out.extend(
                scores
                    .iter()
                    .flat_map(|&s| std::iter::repeat_n(s, pack))
                    .take(n),
            );
        }
        Ok(out)
    }

    /// The loss in use.
    pub fn loss(&self) -> AdversarialLoss {
        self.loss
    }
}

/// Mean absolute error over the unknown pixels (`mask == 0`) only.
fn l1_unknown(fake: Tensor<2>, truth: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let unknown = mask.neg() + 1.0;
    let count = unknown.clone().sum().clamp_min(1.0);
    ((fake - truth).abs() * unknown).sum() / count
}

/// `len` standard-normal values (drawn as f64, stored as f32) from `rng`.
pub fn standard_normal(rng: &mut Pcg64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let v: f64 = StandardNormal.sample(rng);
            v as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::test_support::{
        devices, param_bits, tiny_config, tiny_gan, tiny_gan_on, tiny_image_gan, tiny_image_gan_on,
        tiny_images,
    };

    #[test]
    fn generator_steps_improve_its_loss_for_each_condition_kind() {
        for (device, condition) in devices()
            .into_iter()
            .flat_map(|d| ["none", "label", "mask"].map(|c| (d, c)))
        {
            let mut gan = tiny_image_gan_on(condition, device);
            let mean = |gan: &mut Gan| (0..4).map(|_| gan.g_step().unwrap()).sum::<f32>() / 4.0;
            let before = mean(&mut gan);
            for _ in 0..30 {
                gan.g_step().unwrap();
            }
            let after = mean(&mut gan);
            assert!(
                after < before,
                "{condition} on {device:?}: G loss against a frozen D went from {before} to \
                 {after}"
            );
        }
    }

    #[test]
    fn image_gans_train_sample_and_complete() {
        for condition in ["none", "label", "mask"] {
            let mut gan = tiny_image_gan(condition);
            for _ in 0..3 {
                let s = gan.train_step().unwrap();
                assert!(s.d_loss.is_finite() && s.g_loss.is_finite(), "{condition}");
            }
            let mut rng = Pcg64::seed_from_u64(1);
            if condition == "mask" {
                let set = tiny_images();
                let (x, _) = set.test.head_unit(4, 64);
                let masks = random_masks(crate::config::MaskKind::Mixed, 4, [1, 8, 8], &mut rng);
                let done = gan.complete(&mut rng, &x, &masks).unwrap();
                for i in 0..x.len() {
                    if masks[i] == 1.0 {
                        assert_eq!(done[i], x[i], "known pixel {i} changed");
                    }
                }
            } else {
                let x = gan.generate(&mut rng, &[0, 1, 1]).unwrap();
                assert_eq!(x.len(), 3 * 64);
                assert!(x.iter().all(|v| v.abs() <= 1.0));
            }
        }
    }

    #[test]
    fn generator_step_leaves_discriminator_bit_identical() {
        for (device, conditional) in devices()
            .into_iter()
            .flat_map(|d| [false, true].map(|c| (d, c)))
        {
            let mut gan = tiny_gan_on(conditional, device);
            // a few full steps first so both optimisers have state
            for _ in 0..3 {
                gan.train_step().unwrap();
            }
            let d_before = param_bits(&gan.discriminator);
            let g_before = param_bits(&gan.generator);
            gan.g_step().unwrap();
            assert_eq!(
                param_bits(&gan.discriminator),
                d_before,
                "D changed in a G step on {device:?}"
            );
            assert_ne!(
                param_bits(&gan.generator),
                g_before,
                "G did not learn in a G step on {device:?}"
            );
        }
    }

    #[test]
    fn discriminator_step_leaves_generator_bit_identical() {
        for (device, d_update) in devices()
            .into_iter()
            .flat_map(|d| [DUpdate::Separate, DUpdate::Joint].map(|u| (d, u)))
        {
            let mut gan = tiny_gan_on(true, device);
            gan.config.algorithm.d_update = d_update;
            for _ in 0..3 {
                gan.train_step().unwrap();
            }
            let g_before = param_bits(&gan.generator);
            let d_before = param_bits(&gan.discriminator);
            gan.d_step().unwrap();
            assert_eq!(
                param_bits(&gan.generator),
                g_before,
                "G changed in a D step on {device:?}"
            );
            assert_ne!(
                param_bits(&gan.discriminator),
                d_before,
                "D did not learn in a D step on {device:?}"
            );
        }
    }

    #[test]
    fn discriminator_learns_every_step_unlike_the_keras3_recipe() {
        // In Keras 3 the seed's `trainable = False` recipe silently freezes D for good.
        let mut gan = tiny_gan(false);
        let mut last = param_bits(&gan.discriminator);
        for _ in 0..5 {
            gan.train_step().unwrap();
            let now = param_bits(&gan.discriminator);
            assert_ne!(now, last);
            last = now;
        }
    }

    #[test]
    fn every_loss_option_trains_with_finite_stats() {
        for loss in [LossKind::Bce, LossKind::LeastSquares, LossKind::Hinge] {
            let mut gan = tiny_gan(true);
            gan.config.algorithm.loss = loss;
            gan.loss.kind = loss;
            gan.config.algorithm.d_steps = 2;
            gan.config.algorithm.label_smoothing = 0.1;
            for _ in 0..5 {
                let s = gan.train_step().unwrap();
                assert!(
                    s.d_loss.is_finite() && s.g_loss.is_finite(),
                    "{loss:?}: {s:?}"
                );
            }
            assert_eq!(gan.step, 5);
        }
    }

    #[test]
    fn ema_weights_trail_the_generator() {
        let config = TrainConfig {
            algorithm: crate::config::AlgorithmConfig {
                ema_decay: Some(0.9),
                ..Default::default()
            },
            ..tiny_config(DatasetKind::Ring8, true)
        };
        let dataset = Dataset::from_config(&config.data).unwrap();
        let mut gan = Gan::new(config, dataset).unwrap();
        let ema0 = param_bits(gan.generator_ema.as_ref().unwrap());
        let g0 = param_bits(&gan.generator);
        assert_eq!(ema0, g0, "EMA starts at G");
        gan.train_step().unwrap();
        let ema1 = param_bits(gan.generator_ema.as_ref().unwrap());
        let g1 = param_bits(&gan.generator);
        // ema1 = 0.9 * g0 + 0.1 * g1, elementwise (checked on the first weight)
        for ((e, a), b) in ema1[1].iter().zip(&g0[1]).zip(&g1[1]) {
            let (e, a, b) = (f32::from_bits(*e), f32::from_bits(*a), f32::from_bits(*b));
            assert!((e - (0.9 * a + 0.1 * b)).abs() < 1e-6);
        }
        assert_ne!(ema1, g1);
    }

    #[test]
    fn generated_samples_are_deterministic_and_labels_are_checked() {
        let gan = tiny_gan(true);
        let a = gan
            .generate(&mut Pcg64::seed_from_u64(1), &[0, 3, 7])
            .unwrap();
        let b = gan
            .generate(&mut Pcg64::seed_from_u64(1), &[0, 3, 7])
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        let err = gan
            .generate(&mut Pcg64::seed_from_u64(1), &[8])
            .unwrap_err();
        assert!(matches!(
            err,
            TrainError::LabelOutOfRange {
                label: 8,
                classes: 8
            }
        ));
    }

    #[test]
    fn packed_discriminator_trains_and_scores_every_sample() {
        let mut config = tiny_config(DatasetKind::Grid25, false);
        config.discriminator.pack = 4;
        let dataset = Dataset::from_config(&config.data).unwrap();
        let mut gan = Gan::new(config, dataset).unwrap();
        let z = Tensor::<2>::zeros([8, 2], &gan.device.device);
        assert_eq!(gan.discriminator.forward(z, &Condition::None).dims(), [2]);
        let s = gan.train_step().unwrap();
        assert!(s.d_loss.is_finite());
        // 7 samples: packs {0..4} and {4..7 + a repeat of sample 6}
        let x = vec![0.5f32; 14];
        let scores = gan.discriminate(&x, &[0; 7]).unwrap();
        assert_eq!(scores.len(), 7);
        assert_eq!(scores[4], scores[6]);
    }

    #[test]
    fn nan_loss_stops_with_diverged() {
        let mut gan = tiny_gan(false);
        gan.config.g_optimizer.lr = 1e30;
        gan.config.d_optimizer.lr = 1e30;
        let mut result = Ok(());
        for _ in 0..20 {
            if let Err(e) = gan.train_step() {
                result = Err(e);
                break;
            }
        }
        assert!(
            matches!(result, Err(TrainError::Diverged { .. })),
            "{result:?}"
        );
    }
}
