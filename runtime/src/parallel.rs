//! Multi-threaded batches on std hosts (feature `parallel`): [`ParallelSampler`] splits a
//! batch's rows into one contiguous run per worker of rayon's global pool, each with its
//! own arena, allocated once when the sampler is made and reused by every batch.
//!
//! Each row is made by an ordinary [`Sampler`] call, so row `i` of a parallel batch is bit
//! for bit what one sampler makes for the same inputs (tested in `tests/`). With
//! [`sample_rows`](ParallelSampler::sample_rows) each worker runs its run of rows as one
//! batch of a [`BatchSampler`] instead, with the same bits. Not for devices: it needs
//! `std` and threads.

use rayon::prelude::*;
use std::vec;
use std::vec::Vec;

use crate::batch::check_rows;
use crate::sampler::output_prefix;
use crate::{BatchSampler, Condition, DeviceModel, Error, Noise, Sampler};

/// A model and one arena per worker thread, for batches sampled in parallel.
///
/// ```
/// # fn demo(model: &edgegan_runtime::DeviceModel<'_>) -> Result<(), edgegan_runtime::Error> {
/// use edgegan_runtime::{Condition, ParallelSampler};
/// let mut par = ParallelSampler::new(model, 0); // 0: one arena per rayon worker
/// let seeds: Vec<u64> = (0..64).collect();
/// let mut out = vec![0.0; seeds.len() * model.output_len()];
/// par.sample_seeds(&seeds, Condition::None, &mut out)?;
/// # Ok(()) }
/// ```
pub struct ParallelSampler<'m> {
    model: DeviceModel<'m>,
    arenas: Vec<Vec<u8>>,
    /// one batch sampler per worker, made by the first `sample_rows` that needs them
    batches: Vec<BatchSampler<'m>>,
}

impl<'m> ParallelSampler<'m> {
    /// `model` with `workers` arenas (0: one per thread of rayon's global pool).
    pub fn new(model: &DeviceModel<'m>, workers: usize) -> Self {
        let workers = if workers == 0 {
            rayon::current_num_threads()
        } else {
            workers
        };
        // + 3: `Sampler::new` starts at the first 4-byte aligned byte
        let arenas = (0..workers.max(1))
            .map(|_| vec![0u8; model.arena_bytes() + 3])
            .collect();
        ParallelSampler {
            model: *model,
            arenas,
            batches: Vec::new(),
        }
    }

    /// The model.
    pub fn model(&self) -> &DeviceModel<'m> {
        &self.model
    }

    /// How many workers (arenas) a batch is split over.
    pub fn workers(&self) -> usize {
        self.arenas.len()
    }

    /// Fills `out` row by row (rows of `row_len` values; a shorter last row is left as
    /// it is): `row(i, sampler, out_i)` makes row `i` with a sampler bound to one worker's
    /// arena. The rows are split into one contiguous run per worker, run in parallel.
    ///
    /// # Errors
    ///
    /// The first error of `row` in a failing run (the other runs may finish), or
    /// [`Error::ArenaTooSmall`] (never, the arenas are sized from the model).
    pub fn for_each_row<T, F>(&mut self, out: &mut [T], row_len: usize, row: F) -> Result<(), Error>
    where
        T: Send,
        F: Fn(usize, &mut Sampler<'m, '_>, &mut [T]) -> Result<(), Error> + Sync,
    {
        let row_len = row_len.max(1);
        let rows = out.len() / row_len;
        if rows == 0 {
            return Ok(());
        }
        let per_worker = rows.div_ceil(self.arenas.len());
        let model = &self.model;
        out[..rows * row_len]
            .par_chunks_mut(per_worker * row_len)
            .zip(self.arenas.par_iter_mut())
            .enumerate()
            .try_for_each(|(w, (run, arena))| {
                let mut sampler = Sampler::new(model, arena)?;
                for (j, dst) in run.chunks_exact_mut(row_len).enumerate() {
                    row(w * per_worker + j, &mut sampler, dst)?;
                }
                Ok(())
            })
    }

    /// One sample per seed in `seeds`, in order, in `out`: what
    /// [`Sampler::sample_seeds`] writes, in parallel.
    ///
    /// # Errors
    ///
    /// As [`Sampler::sample_seeds`].
    pub fn sample_seeds(
        &mut self,
        seeds: &[u64],
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.model.output_len();
        let out = output_prefix(out, seeds.len().saturating_mul(n))?;
        self.model.condition().check(&condition)?;
        self.for_each_row(out, n, |i, sampler, dst| {
            let seed = seeds.get(i).copied().ok_or(Error::Internal)?;
            sampler.sample(seed, condition, dst)
        })
    }

    /// `rows` samples split into one contiguous run per worker, each run made as one batch
    /// by the worker's [`BatchSampler`]: what [`BatchSampler::sample_rows`] writes, in
    /// parallel. The workers' batch samplers are made on the first call (and again when a
    /// later call needs more rows per worker), and reused after that.
    ///
    /// # Errors
    ///
    /// As [`BatchSampler::sample_rows`] (every input is checked before any sample is made).
    pub fn sample_rows<'c>(
        &mut self,
        rows: usize,
        noise: Noise<'_>,
        condition: &(dyn Fn(usize) -> Condition<'c> + Sync),
        out: &mut [f32],
    ) -> Result<(), Error> {
        let n = self.model.output_len();
        let out = check_rows(&self.model, rows, noise, condition, out)?;
        if rows == 0 {
            return Ok(());
        }
        let per_worker = rows.div_ceil(self.arenas.len());
        if self
            .batches
            .first()
            .is_none_or(|b| b.capacity() < per_worker)
        {
            self.batches = (0..self.arenas.len())
                .map(|_| BatchSampler::new(&self.model, per_worker))
                .collect::<Result<_, _>>()?;
        }
        let dim = self.model.noise_dim();
        out.par_chunks_mut(per_worker * n.max(1))
            .zip(self.batches.par_iter_mut())
            .enumerate()
            .try_for_each(|(w, (run, batch))| {
                let first = w * per_worker;
                let count = run.len() / n.max(1);
                let noise = match noise {
                    Noise::Seeds(seeds) => {
                        Noise::Seeds(seeds.get(first..first + count).ok_or(Error::Internal)?)
                    }
                    Noise::Given(z) => Noise::Given(
                        z.get(first * dim..(first + count) * dim)
                            .ok_or(Error::Internal)?,
                    ),
                };
                batch.sample_rows(count, noise, &|s| condition(first + s), run)
            })
    }
}
