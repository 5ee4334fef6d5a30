//! Burn, the training framework: the model folder's checkpoint (`config.toml` +
//! `generator.bpk`, copied from the run that was exported) sampled through
//! `edgegan_train::shipped`. It is the reference the golden outputs are written with: the
//! ONNX file is a translation of this network, not the other way round.

use std::path::{Path, PathBuf};

use edgegan_train::shipped::{ConditionInput, ShippedGenerator};

use crate::case::{CaseInputs, Condition};
use crate::engine::{CaseErrors, Engine, EngineError, Output};
use crate::model::{ConditionKind, ModelDir};

const NAME: &str = "burn";

/// The Burn engine for one model folder.
pub struct BurnEngine {
    dir: PathBuf,
    generator: ShippedGenerator,
    condition: ConditionKind,
    output_shape: Vec<usize>,
}

impl std::fmt::Debug for BurnEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurnEngine")
            .field("dir", &self.dir)
            .field("condition", &self.condition)
            .finish_non_exhaustive()
    }
}

impl BurnEngine {
    /// Loads the checkpoint of `model`. Its noise dimension must be the ONNX file's: the
    /// two come from one run.
    pub fn load(model: &ModelDir) -> Result<BurnEngine, EngineError> {
        Self::load_dir(&model.dir, &model.info.condition, &model.info.output_shape)
    }

    /// Loads the checkpoint in `dir` for a generator with the given condition and sample
    /// shape (taken from the ONNX metadata by [`BurnEngine::load`]).
    pub fn load_dir(
        dir: &Path,
        condition: &ConditionKind,
        output_shape: &[usize],
    ) -> Result<BurnEngine, EngineError> {
        let generator = ShippedGenerator::load(dir).map_err(|e| EngineError::Load {
            engine: NAME.into(),
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(BurnEngine {
            dir: dir.to_path_buf(),
            generator,
            condition: condition.clone(),
            output_shape: output_shape.to_vec(),
        })
    }
}

impl Engine for BurnEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors { engine: NAME, case };
        // The same checks the ONNX engines derive from the graph's inputs, here from the
        // model's metadata: Burn would panic on a shape mismatch inside a tensor op.
        let batch = case.batch();
        let z_dim = self.generator.noise_dim();
        if batch == 0 || case.z.shape() != [batch, z_dim] {
            return Err(err.input(format!(
                "input `z` has shape {:?}, the model takes [N, {z_dim}] with N > 0",
                case.z.shape()
            )));
        }
        let mut sample_shape = vec![batch];
        sample_shape.extend_from_slice(&self.output_shape);
        let condition = match (&self.condition, &case.condition) {
            (ConditionKind::None, Condition::None) => ConditionInput::None,
            (ConditionKind::Label { class_names }, Condition::Label(l)) => {
                let k = class_names.len();
                if l.shape() != [batch] {
                    return Err(err.input(format!(
                        "input `label` has shape {:?} for a batch of {batch}",
                        l.shape()
                    )));
                }
                if let Some(bad) = l
                    .data()
                    .iter()
                    .find(|&&v| !usize::try_from(v).is_ok_and(|v| v < k))
                {
                    return Err(
                        err.input(format!("label {bad} is not a class of this model (0..{k})"))
                    );
                }
                ConditionInput::Label(l.data())
            }
            (ConditionKind::Mask, Condition::Mask { mask, masked }) => {
                if mask.shape() != sample_shape || masked.shape() != sample_shape {
                    return Err(err.input(format!(
                        "inputs `mask` {:?} and `masked` {:?}, the model takes {sample_shape:?}",
                        mask.shape(),
                        masked.shape()
                    )));
                }
                ConditionInput::Mask {
                    mask: mask.data(),
                    masked: masked.data(),
                }
            }
            (kind, _) => {
                let given = case.tensors().iter().map(|t| t.name()).collect::<Vec<_>>();
                return Err(err.input(format!(
                    "the case has inputs {given:?}, the model's condition is `{}`",
                    kind.as_str()
                )));
            }
        };
        let x = self
            .generator
            .forward(case.z.data(), batch, &condition)
            .map_err(|e| err.run(e.to_string()))?;
        err.output(sample_shape, x)
    }
}
