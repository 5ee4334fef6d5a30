//! Dense (fully connected): `y = act(W·x + b)` over the input's elements, in f32, w8a32
//! (int8 weights with a per-row scale) or w8a8 (int8, requantised per row).

use super::linear::{self, Offsets, Weights};
use super::{Ctx, Eval, Op, built, f32s, f32s_mut, i8s, i8s_mut};
use crate::Error;
use crate::format::{NONE, OpFormat, PARAM_WORDS};
use crate::kernels::dense::{DenseI8Params, DenseParams};
use crate::kernels::{self, cortex_m};

/// The record parameters of a Dense op. Weight fields hold a blob offset, or
/// [`NONE`](crate::format::NONE) when the array is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Input features `K`.
    pub in_features: u32,
    /// Output features `N`.
    pub out_features: u32,
    /// `[N, K]` weights (f32, or int8 in w8a32/w8a8).
    pub weights: u32,
    /// `[N]` bias (f32; int32 with the input zero point folded in, w8a8).
    pub bias: u32,
    /// `[N]` f32 scales (w8a32) or Q31 multipliers (w8a8).
    pub scales: u32,
    /// `[N]` requantisation shifts (w8a8).
    pub shifts: u32,
    /// 0: one bias row. Otherwise the model's class count: the bias is a `[classes, N]`
    /// table and a sample adds its label's row (the compiler's fold of
    /// `concat(z, embedding(label))` into this Dense; needs the header's
    /// [`LABEL_BIAS`](crate::format::flags::LABEL_BIAS) flag).
    pub label_rows: u32,
}

impl Params {
    /// Word of [`in_features`](Self::in_features).
    pub const IN_FEATURES: usize = 0;
    /// Word of [`weights`](Self::weights).
    pub const WEIGHTS: usize = 2;
    /// Word of [`bias`](Self::bias).
    pub const BIAS: usize = 3;
    /// Word of [`scales`](Self::scales).
    pub const SCALES: usize = 4;
    /// Word of [`shifts`](Self::shifts).
    pub const SHIFTS: usize = 5;
    /// Word of [`label_rows`](Self::label_rows).
    pub const LABEL_ROWS: usize = 6;

    /// No weight arrays yet (the writer places them).
    pub const fn new(in_features: u32, out_features: u32) -> Self {
        Params {
            in_features,
            out_features,
            weights: NONE,
            bias: NONE,
            scales: NONE,
            shifts: NONE,
            label_rows: 0,
        }
    }

    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            in_features: p[Self::IN_FEATURES],
            out_features: p[1],
            weights: p[Self::WEIGHTS],
            bias: p[Self::BIAS],
            scales: p[Self::SCALES],
            shifts: p[Self::SHIFTS],
            label_rows: p[Self::LABEL_ROWS],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[Self::IN_FEATURES] = self.in_features;
        p[1] = self.out_features;
        p[Self::WEIGHTS] = self.weights;
        p[Self::BIAS] = self.bias;
        p[Self::SCALES] = self.scales;
        p[Self::SHIFTS] = self.shifts;
        p[Self::LABEL_ROWS] = self.label_rows;
        p
    }
}

/// A prepared Dense op: kernel parameters (`i8` for w8a8) and weight slices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dense<'a> {
    p: DenseParams,
    i8: DenseI8Params,
    /// `weights`' bias is a label-indexed table: eval takes the sample's row.
    label_bias: bool,
    weights: Weights<'a>,
}

/// A Dense's weights packed once for the host's batch kernel (`()` off x86-64/aarch64).
#[cfg(any(test, feature = "std"))]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) type Packed = crate::kernels::host::dense::PackedDense;
/// (no host kernel: nothing to pack)
#[cfg(any(test, feature = "std"))]
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) type Packed = ();

impl Dense<'_> {
    /// The host's packed weights and input buffer for this op, for up to `capacity` samples
    /// a call, made once by the batch executor (`crate::batch`); `None` where no packed
    /// kernel runs (f32, w8a32, no AVX2, MCU targets).
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn packed(&self, capacity: usize) -> Option<Packed> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some((w, ..)) = self.weights.int8() {
            return Packed::new(&self.i8, w, capacity);
        }
        let _ = capacity;
        None
    }

    /// The batch executor's Dense (`crate::batch`): `rows` samples at once, the input and
    /// output given as whole `[rows, K]` and `[rows, N]` blocks, the weights packed once
    /// for all of them (`packed`, from [`packed`](Self::packed), when the sampler was made)
    /// or taken as stored. `false` where there is no batched kernel (f32, w8a32, MCU
    /// targets): the caller then runs each sample.
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn eval_rows(
        &self,
        cx: &mut Eval<'_>,
        rows: usize,
        labels: &[usize],
        packed: Option<&mut Packed>,
    ) -> Result<bool, Error> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if let Some((w, bias, mult, shift)) = self.weights.int8() {
            let x = i8s(cx.io.input(cx.x0()?)?);
            // one bias row for every sample, or each sample's label's row of the table
            // (the labels were checked against the classes before the first op)
            let bias = (bias, self.label_bias.then_some(labels));
            let y = i8s_mut(cx.io.out);
            use crate::kernels::host::dense::{dense_i8_batch_host, dense_i8_packed_host};
            let done = packed.is_some_and(|packed| {
                dense_i8_packed_host(&self.i8, packed, rows, x, bias, mult, shift, y)
            });
            if !done {
                dense_i8_batch_host(&self.i8, rows, x, w, bias, mult, shift, y);
            }
            return Ok(true);
        }
        let _ = (cx, rows, labels, packed);
        Ok(false)
    }
}

impl<'a> Op<'a> for Dense<'a> {
    fn prepare(cx: &Ctx<'_, 'a>) -> Result<Self, &'static str> {
        let prm = Params::decode(cx.params());
        cx.need_inputs(1)?;
        let (x, output) = (&cx.ins[0], &cx.output);
        let (k, n) = (prm.in_features as usize, prm.out_features as usize);
        if k == 0 || n == 0 || x.numel as usize != k || output.numel as usize != n {
            return Err("dense shape does not match its tensors");
        }
        if !cx.all(cx.arith_dtype()) || !cx.disjoint() {
            return Err("dense tensors have the wrong dtype or overlap");
        }
        let kn = k.checked_mul(n).ok_or("dense too large")?;
        let activation = cx.activation();
        let label_bias = prm.label_rows != 0;
        if label_bias && cx.model.label_bias_rows() != Some(prm.label_rows) {
            return Err("dense label-indexed bias without the model's label-bias flag and classes");
        }
        let at = Offsets {
            weights: prm.weights,
            bias: prm.bias,
            scales: prm.scales,
            shifts: prm.shifts,
            bias_rows: (prm.label_rows as usize).max(1),
        };
        let too_wide = "int8 dense too wide for an int32 accumulator";
        let weights = linear::load(cx, &at, kn, n, k, too_wide)?;
        if label_bias && !weights.has_bias() {
            return Err("dense label-indexed bias table is absent");
        }
        let (act_min, act_max) = kernels::activation_range_i8(activation, output.zero_point);
        Ok(Dense {
            p: DenseParams {
                in_features: k,
                out_features: n,
                activation,
            },
            i8: DenseI8Params {
                in_features: k,
                out_features: n,
                output_zero_point: output.zero_point,
                act_min,
                act_max,
            },
            label_bias,
            weights,
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x = cx.io.input(cx.x0()?)?;
        let p = &self.p;
        let weights = if self.label_bias {
            // the label was checked against the classes before the first op
            self.weights
                .with_bias_row(cx.label, p.out_features)
                .ok_or(Error::Internal)?
        } else {
            self.weights
        };
        match weights {
            Weights::F32 { w, bias } => {
                built(OpFormat::F32)?;
                cortex_m::dense::dense_f32_rows4(p, f32s(x)?, w, bias, f32s_mut(cx.io.out)?);
            }
            Weights::W8A32 { w, scale, bias } => {
                built(OpFormat::W8A32)?;
                kernels::dense::dense_w8a32(p, f32s(x)?, w, scale, bias, f32s_mut(cx.io.out)?);
            }
            Weights::I8 {
                w,
                bias,
                mult,
                shift,
            } => {
                let y = i8s_mut(cx.io.out);
                #[cfg(all(target_arch = "arm", feature = "cortex-m-dsp"))]
                let dense = cortex_m::dense::dense_i8_dsp;
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                let dense = crate::kernels::host::dense::dense_i8_host;
                #[cfg(not(any(
                    all(target_arch = "arm", feature = "cortex-m-dsp"),
                    target_arch = "x86_64",
                    target_arch = "aarch64"
                )))]
                let dense = cortex_m::dense::dense_i8_rows4;
                dense(&self.i8, i8s(x), w, bias, mult, shift, y);
            }
        }
        Ok(())
    }

    fn validate_weights(&self) -> Result<(), &'static str> {
        self.weights.validate()
    }

    fn needs_int8_fallbacks(&self) -> bool {
        matches!(self.weights, Weights::I8 { .. }) && cortex_m::dense::needs_fallback(&self.i8)
    }

    fn macs(&self) -> u64 {
        (self.p.in_features * self.p.out_features) as u64
    }

    fn learned_params(&self) -> u64 {
        let (k, n) = (self.p.in_features, self.p.out_features);
        // a label-indexed bias has a row per class
        let rows = match self.weights {
            Weights::I8 { bias, .. } => bias.len() / n.max(1),
            Weights::F32 { bias, .. } | Weights::W8A32 { bias, .. } => {
                bias.map_or(0, |b| b.len() / n.max(1))
            }
        };
        (k * n + n * rows) as u64
    }
}
