//! The export report: what was written (file, size, hash, interface, metadata) and how
//! the self-check went, printed by `edgegan-train export` as JSON.

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
