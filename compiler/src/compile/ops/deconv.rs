//! `ConvTranspose` (tract's `Deconv`: 2-D, NCHW, group 1, no dilation): a ConvTranspose2d.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::Deconv;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, unsupported};

/// A ConvTranspose2d, left pending so that a bias or BatchNorm after it folds into its
/// weights (as for Conv). tract's ONNX loader has already reordered the kernel to OIHW
/// (`[M, C, KH, KW]`), the layout the runtime stores.
pub(crate) fn deconv<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<Deconv>()
        .ok_or_else(|| unsupported(node, "not a Deconv"))?;
    let ps = &op.pool_spec;
    if node.inputs.len() != 3 {
        return Err(unsupported(node, "expects input, kernel and bias"));
    }
    let operands = super::conv::operands(cx, node, ps, op.group, op.kernel_format)?;
    let [_, h, w] = operands.3;
    let strides = ps.strides().to_vec();
    let adj = [op.adjustments[0], op.adjustments[1]];
    let pads = ps
        .padding
        .compute_for_deconv(&[h, w], &ps.kernel_shape, &[1, 1], &strides, &adj)
        .map_err(|e| unsupported(node, &format!("padding: {e:#}")))?;
    let padding = super::conv::tlbr!(pads);
    super::conv::pending(cx, node, operands, ps, padding, Some(adj))
}
