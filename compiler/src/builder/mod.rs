//! The `.egm` writer: a graph description in, model bytes out.
//!
//! [`GraphBuilder`] collects a generator as a list of [`OpSpec`]s over f32 tensors (what
//! an ONNX lowering produces: weights as f32, BatchNorm already folded), checking shapes as
//! each op is added; errors name the op index. [`Graph::write`] then lowers it to one of
//! the three weight formats, plans the arena ([`crate::plan`]) and serialises it.
//!
//! One module per job: [`graph`] (the IR and [`GraphBuilder`]), `shape` (shape
//! inference), [`calibrate`] (activation ranges), `quantize` (int8 parameters),
//! `lowering` (graph ops to runtime records), `serialise` (blob, tables, header).
//!
//! - **f32**: weights and activations as given.
//! - **w8a32**: Dense/Conv2d weights as int8 with one f32 scale per output channel
//!   (symmetric, `scale = max|w| / 127`); everything else f32.
//! - **w8a8**: TFLite's int8 scheme. Each activation gets an asymmetric scale and zero
//!   point from its calibrated `(min, max)` ([`Calibration`], or [`Graph::calibrate`],
//!   which runs the f32 model through this runtime); weights are symmetric per output
//!   channel, biases int32 at `input_scale · weight_scale`, requantisation by Q31
//!   multiplier and shift; unary ops become 256-entry tables. Tensors that must share
//!   quantisation (both sides of Reshape and Upsample, all of a Concat) get the union of
//!   their ranges. The noise and condition inputs are quantised by a first op and the
//!   output dequantised by a last one, so the sampling API stays f32.

mod calibrate;
mod graph;
mod lowering;
mod quantize;
mod serialise;
mod shape;
#[cfg(test)]
mod tests;

pub use calibrate::Calibration;
pub use edgegan_runtime::format::seal;
pub use graph::{Conv2dSpec, Graph, GraphBuilder, OpSpec, TensorSpec};
pub use lowering::WriteOptions;
pub use serialise::AlignedBytes;

use edgegan_runtime::Error;
use edgegan_runtime::format::OpKind;

/// A tensor of a [`GraphBuilder`] graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

impl TensorId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why a graph could not be built or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An op is invalid (shapes, weight lengths, unknown tensors); `op` is its index in
    /// the graph.
    #[error("op {op} ({kind}): {message}")]
    Op {
        /// Index of the op in the graph.
        op: usize,
        /// Its kind, e.g. `Dense`.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The graph as a whole is invalid (bad output, bad value range, bad noise size).
    #[error("graph: {0}")]
    Graph(String),
    /// w8a8 needs a range for this tensor and the calibration has none.
    #[error("tensor {tensor}: no calibration range (w8a8 needs one for every activation)")]
    MissingCalibration {
        /// The tensor.
        tensor: u32,
    },
    /// Quantisation produced a value the int8 format cannot hold.
    #[error("op {op} ({kind}): cannot quantise: {message}")]
    Quantisation {
        /// Index of the op in the graph.
        op: usize,
        /// Its kind.
        kind: &'static str,
        /// What overflowed.
        message: String,
    },
    /// The model exceeds a limit of the `.egm` format.
    #[error("model too large for .egm: {0}")]
    TooLarge(String),
    /// The runtime rejected the written model or failed while calibrating.
    #[error("runtime: {0}")]
    Runtime(#[from] Error),
}

pub(crate) fn op_err(op: usize, kind: OpKind, message: impl Into<String>) -> BuildError {
    BuildError::Op {
        op,
        kind: kind.name(),
        message: message.into(),
    }
}
