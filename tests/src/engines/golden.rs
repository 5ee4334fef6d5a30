//! The golden files as an engine: returns the stored reference output of a case, after
//! checking that the case's inputs are the ones the output was computed from.

use std::path::PathBuf;

use crate::case::CaseInputs;
use crate::engine::{Engine, EngineError, Output};
use crate::golden::{read_inputs, read_npy};
use crate::model::ModelDir;

/// The golden engine of one model folder.
#[derive(Debug, Clone)]
pub struct GoldenEngine {
    dir: PathBuf,
    output_shape: Vec<usize>,
    regen: String,
}

impl GoldenEngine {
    /// The golden folder of `model`; it must exist (the manifest is checked by
    /// [`crate::golden::read_manifest`]).
    pub fn open(model: &ModelDir) -> Result<GoldenEngine, EngineError> {
        let dir = model.golden_dir();
        if !dir.is_dir() {
            return Err(EngineError::Golden {
                path: dir,
                message: format!("missing; write it with `{}`", model.regen_command()),
            });
        }
        Ok(GoldenEngine {
            dir,
            output_shape: model.info.output_shape.clone(),
            regen: model.regen_command(),
        })
    }
}

impl Engine for GoldenEngine {
    fn name(&self) -> &str {
        "golden"
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let dir = self.dir.join(&case.name);
        if !dir.is_dir() {
            return Err(EngineError::Golden {
                path: dir,
                message: format!("no such golden case; regenerate with `{}`", self.regen),
            });
        }
        // An output is only golden for the inputs it was computed from: compare them bit
        // for bit (both sides are exact copies of generated numbers, so == is right).
        let stored = read_inputs(&dir, &case.name, &case.condition)?;
        if stored != *case {
            return Err(EngineError::Golden {
                path: dir,
                message: format!(
                    "the stored inputs differ from the case's (shapes {:?} vs {:?}); \
                     regenerate with `{}`",
                    stored
                        .tensors()
                        .iter()
                        .map(|t| t.shape().to_vec())
                        .collect::<Vec<_>>(),
                    case.tensors()
                        .iter()
                        .map(|t| t.shape().to_vec())
                        .collect::<Vec<_>>(),
                    self.regen
                ),
            });
        }
        let path = dir.join("x.npy");
        let x = read_npy::<f32>(&path)?;
        let expected: Vec<usize> = std::iter::once(case.batch())
            .chain(self.output_shape.iter().copied())
            .collect();
        if x.shape() != expected {
            return Err(EngineError::Golden {
                path,
                message: format!(
                    "holds shape {:?}, the case needs {expected:?}; regenerate with `{}`",
                    x.shape(),
                    self.regen
                ),
            });
        }
        Ok(x)
    }
}
