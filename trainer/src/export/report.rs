//! The export report: what was written (file, size, hash, interface, metadata) and how
//! the self-check went, printed by `edgegan-train export` as JSON ([`ExportReport::summary`]:
//! long arrays summarised).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::capture::BatchAxis;
use super::contract::TensorDescription;
use super::self_check::ParityCheck;

/// What [`super::export_generator`] wrote and measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// the ONNX file
    pub path: PathBuf,
    /// its size in bytes
    pub bytes: u64,
    /// SHA-256 of the file, hex
    pub sha256: String,
    /// ONNX operator set (default domain)
    pub opset: i64,
    /// graph inputs
    pub inputs: Vec<TensorDescription>,
    /// graph outputs
    pub outputs: Vec<TensorDescription>,
    /// how the batch axis became symbolic
    pub batch_axis: BatchAxis,
    /// element type Burn captured for the labels (`int32` gets a `Cast` after `label`)
    pub captured_label_dtype: Option<String>,
    /// the `metadata_props` written
    pub metadata: BTreeMap<String, String>,
    /// Burn vs tract, one entry per batch in [`super::CHECK_BATCHES`]
    pub parity: Vec<ParityCheck>,
    /// the largest of `parity`
    pub max_abs_diff: f32,
    /// the accepted maximum
    pub tolerance: f32,
}

/// Arrays longer than this are summarised in [`ExportReport::summary`].
const LONG_ARRAY: usize = 16;

impl ExportReport {
    /// The report as JSON for a terminal: metadata values that hold long arrays (an image
    /// normaliser is 784 centres and 784 scales) are shown as `"784 values, all 0"` or
    /// `"784 values in [a, b]"`; the ONNX file keeps them in full.
    pub fn summary(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(serde_json::Value::Object(meta)) = value.get_mut("metadata") {
            for v in meta.values_mut() {
                let Some(text) = v.as_str() else { continue };
                if let Ok(mut parsed) = serde_json::from_str::<serde_json::Value>(text)
                    && summarise(&mut parsed)
                {
                    *v = serde_json::Value::String(parsed.to_string());
                }
            }
        }
        value
    }
}

/// Replaces long numeric arrays inside `v` by a one-line description; whether any was.
fn summarise(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Array(items) if items.len() > LONG_ARRAY => {
            let nums: Vec<f64> = items.iter().filter_map(Value::as_f64).collect();
            let text = match (nums.first(), nums.len() == items.len()) {
                (Some(&first), true) if nums.iter().all(|&x| x == first) => {
                    format!("{} values, all {first}", items.len())
                }
                (Some(_), true) => {
                    let lo = nums.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    format!("{} values in [{lo}, {hi}]", items.len())
                }
                _ => format!("{} values", items.len()),
            };
            *v = Value::String(text);
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, x| summarise(x) | any),
        Value::Object(map) => map.values_mut().fold(false, |any, x| summarise(x) | any),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arrays_are_summarised_short_ones_kept() {
        let mut v = serde_json::json!({"center": vec![0.0; 784], "scale": vec![1.0; 784]});
        assert!(summarise(&mut v));
        assert_eq!(v["center"], "784 values, all 0");
        assert_eq!(v["scale"], "784 values, all 1");
        let mut v = serde_json::json!({"center": (0..20).map(f64::from).collect::<Vec<_>>()});
        assert!(summarise(&mut v));
        assert_eq!(v["center"], "20 values in [0, 19]");
        let mut v = serde_json::json!({"center": [0.5, 1.5], "scale": [2.0, 3.0]});
        assert!(!summarise(&mut v));
        assert_eq!(v["center"][1], 1.5);
    }
}
