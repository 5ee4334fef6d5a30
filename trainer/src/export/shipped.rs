//! A shipped generator (`models/<name>/`) read back into Burn: the reference engine of
//! the cross-engine tests and of the golden files.
//!
//! The folder holds `config.toml` (the run's config, which builds the network),
//! `generator.bpk` (the sampling weights: the EMA copy when the run used one) and
//! `generator.onnx` (whose `edgegan.*` metadata give the output shape and class count, so
//! the dataset need not be present).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use edgegan_runtime::contract::keys;

pub use super::ConditionInput;
use super::{ExportReport, burn_forward, export_generator, inspect_onnx, open_run};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::files::{save_module_atomic, write_atomic};
use crate::networks::Generator;

/// Weights file of a shipped model.
pub const WEIGHTS: &str = "generator.bpk";
/// Config file of a shipped model.
pub const CONFIG: &str = "config.toml";
/// ONNX file of a shipped model.
pub const ONNX: &str = "generator.onnx";

/// Writes a run's sampling generator as a shipped model folder: `generator.onnx` (the
/// checked export), `config.toml` and `generator.bpk` (the weights the ONNX was made
/// from: the EMA copy when the run used one).
///
/// An existing non-empty `out_dir` is refused unless `force`: replacing part of a model
/// folder would leave files of two trainings side by side (a new ONNX beside old `.egm`
/// files). The folder is built complete under a temporary name beside `out_dir` and
/// renamed into place, so `out_dir` is the old folder or the whole new one.
pub fn ship_run(run_dir: &Path, out_dir: &Path, force: bool) -> Result<ExportReport> {
    let non_empty = out_dir.is_dir()
        && std::fs::read_dir(out_dir)
            .map_err(TrainError::io(out_dir))?
            .next()
            .is_some();
    if non_empty && !force {
        return Err(TrainError::ModelFolder {
            path: out_dir.to_path_buf(),
            message: "already exists and is not empty (a model folder holds files of one \
                      training only): choose another --out, or pass --force to replace it"
                .into(),
        });
    }
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(TrainError::ModelFolder {
            path: out_dir.to_path_buf(),
            message: "exists and is not a folder".into(),
        });
    }
    let (gan, run_id) = open_run(run_dir, None)?;
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = out_dir.with_file_name(format!(".{name}.shipping"));
    let old = out_dir.with_file_name(format!(".{name}.replaced"));
    for leftover in [&tmp, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).map_err(TrainError::io(leftover))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
    let report = export_generator(&gan, &tmp.join(ONNX), &run_id)?;
    write_atomic(&tmp.join(CONFIG), gan.config.to_toml()?.as_bytes())?;
    save_module_atomic(gan.sampling_generator(), &tmp, ".tmp-weights", WEIGHTS)?;
    if out_dir.exists() {
        std::fs::rename(out_dir, &old).map_err(TrainError::io(out_dir))?;
    }
    std::fs::rename(&tmp, out_dir).map_err(TrainError::io(out_dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(TrainError::io(&old))?;
    }
    Ok(ExportReport {
        path: out_dir.join(ONNX),
        ..report
    })
}

/// A shipped generator loaded with Burn (off autodiff, inference mode).
pub struct ShippedGenerator {
    generator: Generator,
    noise_dim: usize,
    output_shape: Vec<usize>,
    classes: usize,
    dir: PathBuf,
}

fn meta<'a>(
    map: &'a std::collections::BTreeMap<String, String>,
    path: &Path,
    key: &str,
) -> Result<&'a str> {
    map.get(key)
        .map(String::as_str)
        .ok_or_else(|| TrainError::Export {
            path: path.to_path_buf(),
            message: format!("metadata_props lacks {key}"),
        })
}

impl ShippedGenerator {
    /// Loads `model_dir/{config.toml, generator.bpk, generator.onnx}`.
    pub fn load(model_dir: &Path) -> Result<Self> {
        let config = TrainConfig::from_toml_file(&model_dir.join(CONFIG))?;
        let onnx = model_dir.join(ONNX);
        let summary = inspect_onnx(&onnx)?;
        let bad = |m: String| TrainError::Export {
            path: onnx.clone(),
            message: m,
        };
        let output_shape: Vec<usize> =
            serde_json::from_str(meta(&summary.metadata, &onnx, keys::OUTPUT_SHAPE)?)
                .map_err(|e| bad(format!("{}: {e}", keys::OUTPUT_SHAPE)))?;
        let classes: usize = meta(&summary.metadata, &onnx, keys::CLASSES)?
            .parse()
            .map_err(|e| bad(format!("{}: {e}", keys::CLASSES)))?;
        let dim: usize = output_shape.iter().product();
        let shape = match output_shape[..] {
            [c, h, w] => Some([c, h, w]),
            _ => None,
        };
        let conditional = config.data.conditional.then_some(classes);
        let weights = model_dir.join(WEIGHTS);
        if !weights.is_file() {
            return Err(TrainError::Checkpoint {
                path: weights,
                message: "missing".into(),
            });
        }
        let generator = Generator::from_config(&config, dim, shape, conditional, &Device::flex())?
            .try_load_file(&weights)
            .map_err(|e| TrainError::Checkpoint {
                path: weights.clone(),
                message: format!("{e}"),
            })?;
        Ok(Self {
            generator,
            noise_dim: config.generator.noise_dim,
            output_shape,
            classes,
            dir: model_dir.to_path_buf(),
        })
    }

    /// Noise dimension Z.
    pub fn noise_dim(&self) -> usize {
        self.noise_dim
    }

    /// Shape of one sample (`[D]` or `[C, H, W]`).
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Classes of a label-conditioned model (0 otherwise).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The generator's output for `batch` rows of noise `z` (row-major `[batch, Z]`) and
    /// the condition, row-major in network units: what the ONNX `x` holds.
    pub fn forward(
        &self,
        z: &[f32],
        batch: usize,
        condition: &ConditionInput<'_>,
    ) -> Result<Vec<f32>> {
        let bad = |m: String| TrainError::Data {
            path: self.dir.clone(),
            message: m,
        };
        if z.len() != batch * self.noise_dim {
            return Err(bad(format!(
                "{} noise values for a batch of {batch} with Z = {}",
                z.len(),
                self.noise_dim
            )));
        }
        let dim: usize = self.output_shape.iter().product();
        let wanted = if self.generator.is_conditional() {
            "label"
        } else if matches!(self.generator, Generator::Inpaint(_)) {
            "mask"
        } else {
            "none"
        };
        let given = match condition {
            ConditionInput::None => "none",
            ConditionInput::Label(_) => "label",
            ConditionInput::Mask { .. } => "mask",
        };
        if wanted != given {
            return Err(bad(format!(
                "the model's condition is `{wanted}`, the inputs give `{given}`"
            )));
        }
        match *condition {
            ConditionInput::Label(l) => {
                if l.len() != batch {
                    return Err(bad(format!("{} labels for a batch of {batch}", l.len())));
                }
                if let Some(&label) = l.iter().find(|&&l| l < 0 || l as usize >= self.classes) {
                    return Err(TrainError::LabelOutOfRange {
                        label,
                        classes: self.classes,
                    });
                }
            }
            ConditionInput::Mask { mask, masked } => {
                if mask.len() != batch * dim || masked.len() != batch * dim {
                    return Err(bad(format!(
                        "mask/masked hold {}/{} values, a batch of {batch} needs {}",
                        mask.len(),
                        masked.len(),
                        batch * dim
                    )));
                }
            }
            ConditionInput::None => {}
        }
        burn_forward(&self.generator, self.noise_dim, z, *condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{CheckBatch, ConditionKind, check_batch};
    use crate::test_support::tiny_gan;

    #[test]
    fn shipped_folder_reproduces_the_runs_generator_and_rejects_wrong_inputs() {
        let mut gan = tiny_gan(true);
        for _ in 0..3 {
            gan.train_step().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        export_generator(&gan, &dir.path().join(ONNX), "test").unwrap();
        std::fs::write(dir.path().join(CONFIG), gan.config.to_toml().unwrap()).unwrap();
        gan.sampling_generator()
            .save_file(dir.path().join(WEIGHTS))
            .unwrap();
        let shipped = ShippedGenerator::load(dir.path()).unwrap();
        assert_eq!(shipped.output_shape(), &[2]);
        assert_eq!(shipped.classes(), 8);
        let CheckBatch { z, labels, .. } = check_batch(5, 8, ConditionKind::Label { classes: 8 });
        let out = shipped
            .forward(&z, 5, &ConditionInput::Label(&labels))
            .unwrap();
        let reference = burn_forward(
            &gan.sampling_generator(),
            8,
            &z,
            ConditionInput::Label(&labels),
        )
        .unwrap();
        assert_eq!(out, reference);
        let err = shipped.forward(&z, 5, &ConditionInput::None).unwrap_err();
        assert!(err.to_string().contains("condition is `label`"), "{err}");
        let err = shipped
            .forward(&z, 5, &ConditionInput::Label(&[0, 1, 2, 3, 8]))
            .unwrap_err();
        assert!(err.to_string().contains("label 8"), "{err}");
        assert!(
            shipped
                .forward(&z[..7], 5, &ConditionInput::Label(&labels))
                .is_err()
        );
        std::fs::remove_file(dir.path().join(WEIGHTS)).unwrap();
        let err = ShippedGenerator::load(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("generator.bpk"), "{err}");
    }
}
