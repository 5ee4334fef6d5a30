//! Activation ranges for w8a8: given, or measured by running the f32 model through the
//! runtime.

use std::collections::HashMap;

use edgegan_runtime::{Condition, DeviceModel, Sampler, WeightFormat};

use super::{AlignedBytes, BuildError, Graph, TensorId, WriteOptions};

/// Per-tensor activation ranges `(min, max)` for w8a8, indexed by [`TensorId`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    ranges: HashMap<TensorId, (f32, f32)>,
}

impl Calibration {
    /// An empty calibration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the range of `t`.
    pub fn set(&mut self, t: TensorId, min: f32, max: f32) {
        self.ranges.insert(t, (min, max));
    }

    /// The range of `t`.
    pub fn get(&self, t: TensorId) -> Option<(f32, f32)> {
        self.ranges.get(&t).copied()
    }

    /// Widens the range of `t` to include `values` (NaN ignored).
    pub fn observe(&mut self, t: TensorId, values: &[f32]) {
        let (mut lo, mut hi) = self.get(t).unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
        for &v in values.iter().filter(|v| !v.is_nan()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo <= hi {
            self.set(t, lo, hi);
        }
    }
}

impl Graph {
    /// Activation ranges from running the f32 model through this runtime on `samples`
    /// (seed and condition pairs): every tensor's min and max over all of them.
    ///
    /// # Errors
    ///
    /// [`BuildError::Runtime`] if a condition does not fit the model.
    pub fn calibrate<'c>(
        &self,
        samples: impl IntoIterator<Item = (u64, Condition<'c>)>,
    ) -> Result<Calibration, BuildError> {
        let opts = WriteOptions {
            format: WeightFormat::F32,
            calibration: None,
            fuse_relu: false,
            reuse_memory: false,
        };
        let (bytes, map) = self.write_mapped(&opts)?;
        let bytes = AlignedBytes::new(&bytes);
        let model = DeviceModel::from_bytes(bytes.as_slice())?;
        let mut arena = vec![0u8; model.arena_bytes() + 16];
        let mut sampler = Sampler::new(&model, &mut arena)?;
        let mut out = vec![0.0f32; model.output_len()];
        let mut cal = Calibration::new();
        for (seed, condition) in samples {
            sampler.sample(seed, condition, &mut out)?;
            for (i, rt) in map.iter().enumerate() {
                if let Some(rt) = rt {
                    cal.observe(TensorId(i as u32), sampler.tensor_f32(*rt as u32)?);
                }
            }
        }
        Ok(cal)
    }
}
