//! The device runtime (`edgegan-runtime`, the no_std sampler) on a model folder's compiled
//! `.egm` models: `egm-f32`, `egm-w8a32` and `egm-w8a8`.
//!
//! The runtime samples one object at a time from a caller-provided arena; the engine loops
//! over the case's rows, feeding each row's `z` and condition through
//! [`Sampler::sample_with_noise`] so every engine sees the same inputs. The `.egm` files are
//! build products of `generator.onnx` (`scripts/compile-models.sh`); a model folder without
//! them is an error that names the script, never a skip.

use edgegan_runtime::contract;
use std::path::{Path, PathBuf};

pub use edgegan_runtime::WeightFormat;
use edgegan_runtime::{Condition as RtCondition, ConditionKind as RtKind, DeviceModel, Sampler};

use crate::case::{CaseInputs, Condition};
use crate::engine::{CaseErrors, DType, Engine, EngineError, IoSpec, Output, check_case};
use crate::model::{ConditionKind, ModelDir, ModelInfo};

/// The formats `scripts/compile-models.sh` writes, in report order.
pub const FORMATS: [WeightFormat; 3] = [WeightFormat::F32, WeightFormat::W8A32, WeightFormat::W8A8];

/// The script that (re)compiles every shipped model's `.egm` files.
pub const COMPILE_SCRIPT: &str = "scripts/compile-models.sh";

/// `model.<format>.egm`, the file name `firmware-sim compile` writes.
pub fn file_name(format: WeightFormat) -> String {
    format!("model.{}.egm", format.name())
}

/// The engine name of a format: `egm-f32`, `egm-w8a32`, `egm-w8a8`.
pub fn engine_name(format: WeightFormat) -> &'static str {
    match format {
        WeightFormat::F32 => "egm-f32",
        WeightFormat::W8A32 => "egm-w8a32",
        WeightFormat::W8A8 => "egm-w8a8",
    }
}

/// A `.egm` file read into 16-byte aligned memory, as [`DeviceModel::from_bytes`] needs.
#[derive(Clone)]
pub struct EgmBytes {
    words: Vec<u128>,
    len: usize,
}

impl EgmBytes {
    /// Reads `path`.
    pub fn read(path: &Path) -> std::io::Result<EgmBytes> {
        let bytes = std::fs::read(path)?;
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        Ok(EgmBytes {
            words,
            len: bytes.len(),
        })
    }

    /// The file's bytes, starting at a 16-byte aligned address.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// The device runtime on one `.egm` file.
pub struct EgmEngine {
    format: WeightFormat,
    path: PathBuf,
    bytes: EgmBytes,
    inputs: Vec<IoSpec>,
    classes: Option<usize>,
}

impl std::fmt::Debug for EgmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgmEngine")
            .field("format", &self.format)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EgmEngine {
    /// The `format` model of the folder `model`.
    pub fn load(model: &ModelDir, format: WeightFormat) -> Result<EgmEngine, EngineError> {
        Self::open(&model.dir, &model.info, format)
    }

    /// `dir/model.<format>.egm`, checked against the generator it was compiled from (the
    /// ONNX metadata `info`): noise dimension, condition, output shape and weight format.
    pub fn open(
        dir: &Path,
        info: &ModelInfo,
        format: WeightFormat,
    ) -> Result<EgmEngine, EngineError> {
        let name = engine_name(format);
        let path = dir.join(file_name(format));
        let load_err = |message: String| EngineError::Load {
            engine: name.into(),
            path: path.clone(),
            message,
        };
        let recompile = format!(
            "run {COMPILE_SCRIPT} (it compiles every models/*/generator.onnx into \
             model.{{f32,w8a32,w8a8}}.egm)"
        );
        if !path.is_file() {
            return Err(load_err(format!("no such file; {recompile}")));
        }
        let bytes = EgmBytes::read(&path).map_err(|e| load_err(format!("{e}; {recompile}")))?;
        let model = DeviceModel::from_bytes(bytes.as_slice())
            .map_err(|e| load_err(format!("{e}; {recompile}")))?;
        let mut differences = Vec::new();
        if model.weight_format() != format {
            differences.push(format!("weight format {}", model.weight_format().name()));
        }
        if model.noise_dim() != info.noise_dim {
            differences.push(format!("noise dimension {}", model.noise_dim()));
        }
        let shape: Vec<usize> = model.output_shape().iter().map(|&d| d as usize).collect();
        if shape != info.output_shape {
            differences.push(format!("output shape {shape:?}"));
        }
        let z = IoSpec {
            name: contract::Z.into(),
            dtype: DType::F32,
            dims: vec![None, Some(model.noise_dim())],
        };
        let (inputs, classes) = match (model.condition(), &info.condition) {
            (RtKind::None, ConditionKind::None) => (vec![z], None),
            (RtKind::Label { classes }, ConditionKind::Label { class_names })
                if classes as usize == class_names.len() =>
            {
                let label = IoSpec {
                    name: contract::LABEL.into(),
                    dtype: DType::I64,
                    dims: vec![None],
                };
                (vec![z, label], Some(classes as usize))
            }
            (
                RtKind::Mask {
                    channels,
                    height,
                    width,
                },
                ConditionKind::Mask,
            ) if [channels, height, width].map(|d| d as usize)[..] == info.output_shape[..] => {
                let spec = |name: &str| IoSpec {
                    name: name.into(),
                    dtype: DType::F32,
                    dims: std::iter::once(None)
                        .chain([channels, height, width].map(|d| Some(d as usize)))
                        .collect(),
                };
                (vec![z, spec(contract::MASK), spec(contract::MASKED)], None)
            }
            (kind, _) => {
                differences.push(format!("condition `{kind}`"));
                (Vec::new(), None)
            }
        };
        if !differences.is_empty() {
            return Err(load_err(format!(
                "was compiled from another generator than the folder's generator.onnx ({}); \
                 {recompile}",
                differences.join(", ")
            )));
        }
        Ok(EgmEngine {
            format,
            path,
            bytes,
            inputs,
            classes,
        })
    }

    /// The weight format.
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// The `.egm` file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's bytes (16-byte aligned).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

/// Row `i` of a case's condition, as the runtime takes it (`per_row`: elements of one
/// row's mask, [`edgegan_runtime::ConditionKind::mask_len`]). The label must be a class
/// (checked by [`check_case`]).
pub fn row_condition<'c>(condition: &'c Condition, i: usize, per_row: usize) -> RtCondition<'c> {
    match condition {
        Condition::None => RtCondition::None,
        // `check_case` has checked the label is a class (< classes <= u32::MAX)
        Condition::Label(l) => RtCondition::Label(l.data()[i] as u32),
        Condition::Mask { mask, masked } => RtCondition::Mask {
            mask: &mask.data()[i * per_row..(i + 1) * per_row],
            masked: &masked.data()[i * per_row..(i + 1) * per_row],
        },
    }
}

impl Engine for EgmEngine {
    fn name(&self) -> &str {
        engine_name(self.format)
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors {
            engine: self.name(),
            case,
        };
        check_case(&self.inputs, self.classes, case).map_err(|m| err.input(m))?;
        sample_rows(self.bytes.as_slice(), case, err)
    }
}

/// The device runtime on the model in `bytes` (16-byte aligned), one sample per row of
/// the case (its `z` and condition row), as `[N, ..output shape]`. The case's labels
/// must be classes (checked by the caller).
pub fn sample_rows(
    bytes: &[u8],
    case: &CaseInputs,
    err: CaseErrors<'_>,
) -> Result<Output, EngineError> {
    let model = DeviceModel::from_bytes(bytes).map_err(|e| err.run(e))?;
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut sampler = Sampler::new(&model, &mut arena).map_err(|e| err.run(e))?;
    let n = case.batch();
    let per_sample = model.output_len();
    let per_mask = model.condition().mask_len();
    let mut x = vec![0.0f32; n * per_sample];
    for (i, (z, out)) in case
        .z
        .data()
        .chunks_exact(model.noise_dim())
        .zip(x.chunks_exact_mut(per_sample))
        .enumerate()
    {
        let condition = row_condition(&case.condition, i, per_mask);
        sampler
            .sample_with_noise(z, condition, out)
            .map_err(|e| err.run(format!("row {i}: {e}")))?;
    }
    let shape = std::iter::once(n)
        .chain(model.output_shape().iter().map(|&d| d as usize))
        .collect();
    err.output(shape, x)
}
