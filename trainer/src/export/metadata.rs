//! The `edgegan.*` metadata an exported generator carries: what it is (noise dimension,
//! condition, classes, output shape and range, normalisation) and where it came from (run,
//! step, config hash).

use std::collections::BTreeMap;

use onnx_ir::ModelProto;
use serde::Serialize;
use sha2::{Digest, Sha256};

use edgegan_runtime::contract::{self, BOUNDED_RANGE, UNBOUNDED_RANGE, keys};

use super::contract::{ConditionKind, condition_kind, mask_shape};
use crate::config::OutputActivation;
use crate::error::Result;
use crate::training::Gan;

/// The `metadata_props` of `gan`'s export:
/// - `edgegan.contract_version`: [`contract::VERSION`]
/// - `edgegan.noise_dim`: Z
/// - `edgegan.condition`: `none` or `label`
/// - `edgegan.classes`: the number of labels the model accepts (0 when unconditional)
/// - `edgegan.class_names`: JSON array of their names (`[]` when unconditional): picture
///   sub-folders in alphabetical order, IDX label values, a CSV's labels (string labels
///   in sorted order)
/// - `edgegan.column_names`: JSON array naming the values of one point sample (a CSV's
///   numeric columns in file order; `x`, `y` for ring8/grid25); `[]` for images
/// - `edgegan.output_shape`: JSON array, the shape of one sample (without the batch)
/// - `edgegan.value_range`: `[-1, 1]` (tanh output) or `unbounded` (linear output)
/// - `edgegan.normalizer`: JSON `{"center": [..], "scale": [..]}`; data = x * scale + center
/// - `edgegan.run`: the run id; `edgegan.step`: the training step of the weights
/// - `edgegan.config_sha256`: SHA-256 of the run's config as TOML ([`TrainConfig::to_toml`],
///   the text the trainer writes as the run's `config.toml`)
///
/// [`TrainConfig::to_toml`]: crate::config::TrainConfig::to_toml
pub fn metadata(gan: &Gan, run_id: &str) -> Result<BTreeMap<String, String>> {
    let kind = condition_kind(gan);
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let class_names = if conditional {
        gan.dataset.class_names()
    } else {
        Vec::new()
    };
    let normalizer = serde_json::json!({
        "center": gan.normalizer.center,
        "scale": gan.normalizer.scale,
        "to_data": "x * scale + center",
    });
    let toml = gan.config.to_toml()?;
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put(keys::CONTRACT_VERSION, contract::VERSION.into());
    put(keys::NOISE_DIM, gan.config.generator.noise_dim.to_string());
    put(keys::CONDITION, kind.name().as_str().into());
    put(keys::CLASSES, class_names.len().to_string());
    put(keys::CLASS_NAMES, json(&class_names));
    put(keys::COLUMN_NAMES, json(&gan.dataset.column_names()));
    put(keys::OUTPUT_SHAPE, json(&gan.dataset.sample_shape()));
    if let Some(shape) = mask_shape(kind) {
        put(keys::MASK_SHAPE, json(&shape));
        put(
            keys::MASK_CONVENTION,
            "1 = known pixel; masked = image * mask".into(),
        );
    }
    put(
        keys::VALUE_RANGE,
        match gan.config.generator.output {
            OutputActivation::Tanh => BOUNDED_RANGE,
            OutputActivation::Linear => UNBOUNDED_RANGE,
        }
        .into(),
    );
    put(keys::NORMALIZER, normalizer.to_string());
    put(keys::RUN, run_id.into());
    put(keys::STEP, gan.step.to_string());
    put(keys::CONFIG_SHA256, sha256_hex(toml.as_bytes()));
    Ok(m)
}

/// Compact JSON of a serialisable value.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(super) fn set_metadata(model: &mut ModelProto, metadata: &BTreeMap<String, String>) {
    model
        .metadata_props
        .retain(|e| !metadata.contains_key(&e.key));
    for (key, value) in metadata {
        model.metadata_props.push(Default::default());
        if let Some(entry) = model.metadata_props.last_mut() {
            entry.key = key.clone();
            entry.value = value.clone();
        }
    }
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
