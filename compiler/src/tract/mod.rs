//! [`TractSampler`]: the sampling API on std edge boxes (a Linux board), running the ONNX
//! generator itself through tract instead of a `.egm` model.
//!
//! The plan is built once for batch 1 (parse, type, declutter, optimise) and one tract
//! state and one tensor per input are kept, so a sample only writes its noise and
//! condition into those tensors and runs the plan. The noise is the runtime's own
//! ([`noise::fill`](edgegan_runtime::noise::fill)), so `sample(seed, condition)` feeds the generator
//! the same `z` as the no_std [`Sampler`](edgegan_runtime::Sampler) on the `.egm` compiled from the
//! same ONNX file.
//!
//! tract is not allocation-free: one sample costs a few dozen small heap allocations
//! (tract's own per-run bookkeeping and op outputs; the input tensors are reused). The
//! cross-engine tests (`edgegan-tests`) count them with a counting global allocator.
//!
//! ```text
//! use edgegan_compiler::TractSampler;
//! use edgegan_runtime::Condition;
//! let mut sampler = TractSampler::from_onnx_path("models/ring8-cgan/generator.onnx")?;
//! let mut x = vec![0.0f32; sampler.output_len()];
//! sampler.sample(42, Condition::Label(3), &mut x)?;
//! ```

pub mod caps;
mod runner;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use edgegan_runtime::contract::{self, keys};
use edgegan_runtime::{Condition, ConditionKind, Error};

pub use caps::{OnnxLimitError, OnnxLimits};
pub use runner::{OnnxFact, OnnxInput, OnnxOutput, OnnxRunner, OnnxType, TypedOnnx, run_onnx};

/// What a [`TractSampler`] and an [`OnnxRunner`] report.
#[derive(Debug, thiserror::Error)]
pub enum TractError {
    /// The ONNX file cannot be read, parsed, typed or planned, or it is not a generator
    /// of the contract (inputs `z`, `z` + `label`, or `z` + `mask` + `masked`; one output).
    #[error("{path}: {message}")]
    Load {
        /// The ONNX file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The caller's inputs do not fit the model (the runtime's own input errors).
    #[error(transparent)]
    Input(#[from] Error),
    /// tract failed while running the plan.
    #[error("tract failed: {0}")]
    Run(String),
}

/// Which contract input a graph input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Z,
    Label,
    Mask,
    Masked,
}

/// An ONNX generator planned once by tract at batch 1, sampled like a device model.
pub struct TractSampler {
    state: TypedSimpleState,
    /// One tensor per graph input, in the graph's input order, reused across samples.
    inputs: Vec<(Role, Arc<Tensor>)>,
    noise_dim: usize,
    condition: ConditionKind,
    output_shape: Vec<usize>,
    output_len: usize,
}

impl std::fmt::Debug for TractSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractSampler")
            .field("noise_dim", &self.noise_dim)
            .field("condition", &self.condition)
            .field("output_shape", &self.output_shape)
            .finish_non_exhaustive()
    }
}

impl TractSampler {
    /// Loads the ONNX generator at `path` and plans it for batch 1.
    ///
    /// # Errors
    ///
    /// [`TractError::Load`] for a file over the [`OnnxLimits`] defaults, one tract cannot
    /// load or plan, or one whose inputs and output are not a generator's.
    pub fn from_onnx_path(path: impl AsRef<Path>) -> Result<Self, TractError> {
        let path = path.as_ref();
        build(path).map_err(|message| TractError::Load {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Length of the noise vector `z`.
    pub fn noise_dim(&self) -> usize {
        self.noise_dim
    }

    /// What the model is conditioned on.
    pub fn condition(&self) -> ConditionKind {
        self.condition
    }

    /// Elements of one output sample.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// The shape of one output sample, without the batch axis.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Generates one sample for `seed` and `condition` into `out[..output_len]`, with the
    /// noise of the no_std [`Sampler`](edgegan_runtime::Sampler) for the same seed.
    ///
    /// # Errors
    ///
    /// The input errors of [`Sampler::sample`](edgegan_runtime::Sampler::sample) (as
    /// [`TractError::Input`]), [`TractError::Run`] if tract fails.
    pub fn sample(
        &mut self,
        seed: u64,
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), TractError> {
        self.run(|z| edgegan_runtime::noise::fill(seed, z), condition, out)
    }

    /// Like [`sample`](Self::sample) with the noise `z` given (`noise_dim` elements).
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] (as [`TractError::Input`]) for a `z` of another length,
    /// and the errors of [`sample`](Self::sample).
    pub fn sample_with_noise(
        &mut self,
        z: &[f32],
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), TractError> {
        if z.len() != self.noise_dim {
            return Err(Error::ShapeMismatch {
                expected: self.noise_dim,
                found: z.len(),
            }
            .into());
        }
        self.run(|dst| dst.copy_from_slice(z), condition, out)
    }

    fn run(
        &mut self,
        fill_z: impl FnOnce(&mut [f32]),
        condition: Condition<'_>,
        out: &mut [f32],
    ) -> Result<(), TractError> {
        let available = out.len();
        let out = out
            .get_mut(..self.output_len)
            .ok_or(Error::OutputTooSmall {
                needed: self.output_len,
                available,
            })?;
        self.condition.check(&condition)?;
        let run_err = |e: TractFailure| TractError::Run(format!("{e:#}"));
        let mut fill_z = Some(fill_z);
        let mut values: TVec<TValue> = tvec![];
        for (role, tensor) in &mut self.inputs {
            // The previous run has dropped its references, so this does not copy.
            let t = Arc::make_mut(tensor);
            let mut view = t.try_as_plain_ram_mut().map_err(run_err)?;
            match (*role, condition) {
                (Role::Z, _) => {
                    if let Some(f) = fill_z.take() {
                        f(view.as_slice_mut::<f32>().map_err(run_err)?);
                    }
                }
                (Role::Label, Condition::Label(l)) => {
                    view.as_slice_mut::<i64>().map_err(run_err)?[0] = i64::from(l);
                }
                (Role::Mask, Condition::Mask { mask, .. }) => {
                    view.as_slice_mut::<f32>()
                        .map_err(run_err)?
                        .copy_from_slice(mask);
                }
                (Role::Masked, Condition::Mask { masked, .. }) => {
                    view.as_slice_mut::<f32>()
                        .map_err(run_err)?
                        .copy_from_slice(masked);
                }
                // `check` has matched the condition to the model's inputs
                _ => return Err(Error::Internal.into()),
            }
            values.push(TValue::from_const(Arc::clone(tensor)));
        }
        let outputs = self.state.run(values).map_err(run_err)?;
        let x = outputs.first().ok_or(Error::Internal)?;
        let view = x.try_as_plain_ram().map_err(run_err)?;
        let x = view.as_slice::<f32>().map_err(run_err)?;
        if x.len() != out.len() {
            return Err(Error::Internal.into());
        }
        out.copy_from_slice(x);
        Ok(())
    }
}

/// tract's error type.
type TractFailure = tract_onnx::prelude::TractError;

/// Parses, fixes every input at batch 1, types, optimises and plans the model.
fn build(path: &Path) -> Result<TractSampler, String> {
    let err = |e: TractFailure| format!("{e:#}");
    let proto = caps::read(path, &OnnxLimits::default()).map_err(|e| e.to_string())?;
    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
    let mut model = caps::parse_with(&onnx, &proto, Some(path)).map_err(err)?;
    let classes = crate::contract::tract_metadata(&model, keys::CLASSES);
    let outlets = model.input_outlets().map_err(err)?.to_vec();
    let mut roles = Vec::new();
    let mut shapes = Vec::new();
    for (ix, outlet) in outlets.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let (role, dt) = match name.as_str() {
            contract::Z => (Role::Z, f32::datum_type()),
            contract::LABEL => (Role::Label, i64::datum_type()),
            contract::MASK => (Role::Mask, f32::datum_type()),
            contract::MASKED => (Role::Masked, f32::datum_type()),
            other => {
                return Err(format!(
                    "input `{other}` is not one of z, label, mask, masked"
                ));
            }
        };
        let fact = model.input_fact(ix).map_err(err)?;
        // batch 1, every other dimension as declared (it must be known)
        let shape = fact
            .shape
            .dims()
            .enumerate()
            .map(
                |(i, d)| match (i, d.concretize().and_then(|d| d.to_usize().ok())) {
                    (0, _) => Ok(1),
                    (_, Some(n)) => Ok(n),
                    (_, None) => Err(format!("input `{name}` has an unknown dimension {i}")),
                },
            )
            .collect::<Result<Vec<usize>, String>>()?;
        model
            .set_input_fact(ix, InferenceFact::dt_shape(dt, shape.as_slice()))
            .map_err(err)?;
        roles.push(role);
        shapes.push(shape);
    }
    let has = |r: Role| roles.contains(&r);
    let mut z_dims = roles.iter().zip(&shapes).filter(|(r, _)| **r == Role::Z);
    let noise_dim = match (z_dims.next(), z_dims.next()) {
        (Some((_, s)), None) if s.len() == 2 => s[1],
        _ => return Err("a generator has one input `z` of shape [N, Z]".into()),
    };
    let condition = match (has(Role::Label), has(Role::Mask), has(Role::Masked)) {
        (false, false, false) => ConditionKind::None,
        (true, false, false) => {
            let classes = classes
                .and_then(|c| c.parse::<u32>().ok())
                .filter(|&c| c > 0)
                .ok_or("a `label` input needs the metadata edgegan.classes (a positive count)")?;
            ConditionKind::Label { classes }
        }
        (false, true, true) => {
            let mask = roles.iter().position(|&r| r == Role::Mask).unwrap_or(0);
            let [_, c, h, w] = shapes[mask][..] else {
                return Err("`mask` must be [N, C, H, W]".into());
            };
            let dim = |v: usize| u32::try_from(v).map_err(|e| e.to_string());
            ConditionKind::Mask {
                channels: dim(c)?,
                height: dim(h)?,
                width: dim(w)?,
            }
        }
        _ => return Err("the inputs must be z, z + label, or z + mask + masked".into()),
    };
    if let ConditionKind::Mask { .. } = condition {
        let n = condition.mask_len();
        for (r, s) in roles.iter().zip(&shapes) {
            if matches!(r, Role::Mask | Role::Masked) && s.iter().product::<usize>() != n {
                return Err("`mask` and `masked` must have the same shape".into());
            }
        }
    }
    let typed = model.into_typed().map_err(err)?;
    caps::check_typed(&typed, &OnnxLimits::default()).map_err(|e| e.to_string())?;
    let [output] = typed.output_outlets().map_err(err)?[..] else {
        return Err("a generator has exactly one output".into());
    };
    let fact = typed.outlet_fact(output).map_err(err)?;
    if fact.datum_type != f32::datum_type() {
        return Err(format!("the output is {:?}, not float32", fact.datum_type));
    }
    let output_shape = fact
        .shape
        .as_concrete()
        .ok_or("the output shape is not known at batch 1")?
        .iter()
        .skip(1)
        .copied()
        .collect::<Vec<usize>>();
    let plan = typed
        .into_optimized()
        .map_err(err)?
        .into_runnable()
        .map_err(err)?;
    let state = plan.spawn().map_err(err)?;
    let inputs = roles
        .iter()
        .zip(&shapes)
        .map(|(&role, shape)| {
            let t = match role {
                Role::Label => Tensor::zero::<i64>(shape),
                _ => Tensor::zero::<f32>(shape),
            };
            t.map(|t| (role, Arc::new(t))).map_err(err)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(TractSampler {
        state,
        inputs,
        noise_dim,
        condition,
        output_len: output_shape.iter().product(),
        output_shape,
    })
}
