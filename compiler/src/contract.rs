//! The generator's ONNX contract on std hosts: the `edgegan.*` `metadata_props` parsed into
//! a typed [`Metadata`], on top of the device crate's core-only
//! [`edgegan_runtime::contract`] (names, keys, condition kinds).

use std::collections::BTreeMap;

use edgegan_runtime::contract::{BOUNDED_RANGE, ConditionName, keys};
use tract_onnx::prelude::InferenceModel;

/// How a generator is conditioned, as its metadata says ([`keys::CONDITION`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataCondition {
    /// unconditional: input `z` only
    None,
    /// class label: input `label` int64 `[N]`, one of `class_names.len()` classes
    Label {
        /// the class names, index = label
        class_names: Vec<String>,
    },
    /// inpainting: inputs `mask` and `masked`, float32 `[N, C, H, W]`
    Mask,
}

impl MetadataCondition {
    /// The contract's name of this condition.
    pub fn name(&self) -> ConditionName {
        match self {
            MetadataCondition::None => ConditionName::None,
            MetadataCondition::Label { .. } => ConditionName::Label,
            MetadataCondition::Mask => ConditionName::Mask,
        }
    }

    /// The metadata spelling.
    pub fn as_str(&self) -> &'static str {
        self.name().as_str()
    }
}

/// What an exported generator says about itself in its `edgegan.*` metadata_props.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Z of input `z` `[N, Z]`
    pub noise_dim: usize,
    /// the condition inputs
    pub condition: MetadataCondition,
    /// shape of one sample (output `x` is `[N, ..output_shape]`)
    pub output_shape: Vec<usize>,
    /// whether outputs are bounded to [-1, 1] (a tanh output)
    pub bounded: bool,
    /// every `edgegan.*` entry, as written
    pub entries: BTreeMap<String, String>,
}

impl Metadata {
    /// Parses the `edgegan.*` entries of `props` (ONNX `metadata_props` key/value
    /// pairs; other keys are ignored).
    ///
    /// # Errors
    ///
    /// A message naming the missing or malformed key.
    pub fn from_props<'p>(
        props: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<Metadata, String> {
        let entries: BTreeMap<String, String> = props
            .into_iter()
            .filter(|(k, _)| k.starts_with(keys::PREFIX))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |key: &str| {
            entries
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| format!("metadata_props lacks {key}"))
        };
        let noise_dim = get(keys::NOISE_DIM)?
            .parse::<usize>()
            .map_err(|e| format!("{}: {e}", keys::NOISE_DIM))?;
        let output_shape: Vec<usize> = serde_json::from_str(get(keys::OUTPUT_SHAPE)?)
            .map_err(|e| format!("{}: {e}", keys::OUTPUT_SHAPE))?;
        let condition = match ConditionName::parse(get(keys::CONDITION)?) {
            Some(ConditionName::None) => MetadataCondition::None,
            Some(ConditionName::Label) => {
                let class_names: Vec<String> = serde_json::from_str(get(keys::CLASS_NAMES)?)
                    .map_err(|e| format!("{}: {e}", keys::CLASS_NAMES))?;
                let classes = get(keys::CLASSES)?
                    .parse::<usize>()
                    .map_err(|e| format!("{}: {e}", keys::CLASSES))?;
                if classes == 0 || classes != class_names.len() {
                    return Err(format!(
                        "{} is {classes} but {} has {} names",
                        keys::CLASSES,
                        keys::CLASS_NAMES,
                        class_names.len()
                    ));
                }
                MetadataCondition::Label { class_names }
            }
            Some(ConditionName::Mask) => {
                if output_shape.len() != 3 {
                    return Err(format!(
                        "a mask-conditioned generator needs a [C, H, W] output shape, \
                         {} is {output_shape:?}",
                        keys::OUTPUT_SHAPE
                    ));
                }
                MetadataCondition::Mask
            }
            None => {
                return Err(format!(
                    "{} `{}` is none of none, label, mask",
                    keys::CONDITION,
                    get(keys::CONDITION)?
                ));
            }
        };
        if noise_dim == 0 || output_shape.contains(&0) {
            return Err(format!(
                "empty dimension: noise_dim {noise_dim}, output_shape {output_shape:?}"
            ));
        }
        let bounded = get(keys::VALUE_RANGE)? == BOUNDED_RANGE;
        Ok(Metadata {
            noise_dim,
            condition,
            output_shape,
            bounded,
            entries,
        })
    }
}

/// Metadata key naming the values of one point sample (a CSV's numeric columns; `[]` for
/// images). Written by trainers since contract version 1's CSV support; older files lack it.
pub const COLUMN_NAMES: &str = "edgegan.column_names";

/// The network-to-data map of [`keys::NORMALIZER`]: `data = x * scale + center`, per value.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// added after scaling
    pub center: Vec<f32>,
    /// multiplies the network's value
    pub scale: Vec<f32>,
}

impl Metadata {
    /// The names of one point sample's values ([`COLUMN_NAMES`]); empty when absent or
    /// for images.
    ///
    /// # Errors
    ///
    /// A message naming the key if it is present but not a JSON array of strings.
    pub fn column_names(&self) -> Result<Vec<String>, String> {
        match self.entries.get(COLUMN_NAMES) {
            None => Ok(vec![]),
            Some(v) => serde_json::from_str(v).map_err(|e| format!("{COLUMN_NAMES}: {e}")),
        }
    }

    /// The normaliser back to data units ([`keys::NORMALIZER`]), `None` when absent.
    ///
    /// # Errors
    ///
    /// A message naming the key if it is not `{"center": [..], "scale": [..]}` of equal,
    /// finite lengths.
    pub fn normalizer(&self) -> Result<Option<Normalizer>, String> {
        let Some(text) = self.entries.get(keys::NORMALIZER) else {
            return Ok(None);
        };
        let bad = |why: String| format!("{}: {why}", keys::NORMALIZER);
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let list = |name: &str| -> Result<Vec<f32>, String> {
            let items = v
                .get(name)
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| bad(format!("no `{name}` array")))?;
            items
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|x| x as f32)
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(format!("`{name}` holds {x}, not a finite number")))
                })
                .collect()
        };
        let (center, scale) = (list("center")?, list("scale")?);
        if center.len() != scale.len() {
            return Err(bad(format!(
                "`center` has {} values but `scale` {}",
                center.len(),
                scale.len()
            )));
        }
        Ok(Some(Normalizer { center, scale }))
    }
}

/// The `metadata_props` of the ONNX model in `bytes` as (key, value) pairs, read from the
/// protobuf without building a graph (so a foreign file's metadata can be read even when
/// it has none of edgegan's keys).
///
/// # Errors
///
/// A message if the bytes are not an ONNX protobuf.
pub fn onnx_metadata_props(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| format!("not an ONNX model: {e}"))?;
    Ok(proto
        .metadata_props
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// The value of metadata key `key` (e.g. [`keys::CLASSES`]) of a model tract has loaded
/// (tract keeps `metadata_props` as string scalars among the model's properties).
pub fn tract_metadata(model: &InferenceModel, key: &str) -> Option<String> {
    model
        .properties
        .get(&format!("onnx.metadata_props.{key}"))
        .and_then(|t| {
            t.to_plain_array_view::<String>()
                .ok()?
                .iter()
                .next()
                .cloned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(extra: &[(&str, &str)]) -> Metadata {
        let mut props = vec![
            (keys::NOISE_DIM, "8"),
            (keys::CONDITION, "none"),
            (keys::OUTPUT_SHAPE, "[2]"),
            (keys::VALUE_RANGE, BOUNDED_RANGE),
        ];
        props.extend_from_slice(extra);
        Metadata::from_props(props).unwrap()
    }

    #[test]
    fn column_names_and_normalizer_are_optional_and_checked() {
        let m = meta(&[]);
        assert_eq!(m.column_names().unwrap(), Vec::<String>::new());
        assert_eq!(m.normalizer().unwrap(), None);
        let m = meta(&[
            (COLUMN_NAMES, r#"["east_km","north_km"]"#),
            (
                keys::NORMALIZER,
                r#"{"center":[1.0,2.0],"scale":[0.5,4],"to_data":"x * scale + center"}"#,
            ),
        ]);
        assert_eq!(m.column_names().unwrap(), ["east_km", "north_km"]);
        let n = m.normalizer().unwrap().unwrap();
        assert_eq!((n.center, n.scale), (vec![1.0, 2.0], vec![0.5, 4.0]));
        let bad = meta(&[
            (COLUMN_NAMES, "[1]"),
            (keys::NORMALIZER, r#"{"center":[1.0],"scale":[]}"#),
        ]);
        assert!(bad.column_names().unwrap_err().contains(COLUMN_NAMES));
        assert!(bad.normalizer().unwrap_err().contains("center"));
        assert!(onnx_metadata_props(b"not onnx at all").is_err());
    }
}
