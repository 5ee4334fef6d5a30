//! `ConvTranspose` (tract's `Deconv`: 2-D, NCHW, group 1, no dilation): a ConvTranspose2d.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::Deconv;

use crate::builder::Conv2dSpec;
use crate::compile::CompileError;
use crate::compile::lower::{Linear, Lowerer, Value, broadcast, unsupported};

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
    let (kernel, bias, input, [c, h, w]) =
        super::conv::operands(cx, node, ps, op.group, op.kernel_format)?;
    let m = ps.output_channels;
    let kshape = ps.kernel_shape.to_vec();
    let strides = ps.strides().to_vec();
    let adj = [op.adjustments[0], op.adjustments[1]];
    let pads = ps
        .padding
        .compute_for_deconv(&[h, w], &kshape, &[1, 1], &strides, &adj)
        .map_err(|e| unsupported(node, &format!("padding: {e:#}")))?;
    let weight = broadcast(&kernel, &[m, c, kshape[0], kshape[1]])
        .ok_or_else(|| unsupported(node, "kernel shape"))?;
    let bias = broadcast(&bias, &[m]).ok_or_else(|| unsupported(node, "bias shape"))?;
    let out_shape = cx.out_shape(node, 0)?;
    cx.set(
        OutletId::new(node.id, 0),
        Value::Linear(Box::new(Linear {
            input,
            conv: Some(Conv2dSpec {
                out_channels: m,
                kernel: [kshape[0], kshape[1]],
                stride: [strides[0], strides[1]],
                padding: [
                    pads[0].pad_before,
                    pads[1].pad_before,
                    pads[0].pad_after,
                    pads[1].pad_after,
                ],
            }),
            transposed: Some(adj),
            out_channels: m,
            weight,
            bias,
            shape: out_shape.clone(),
            conv_shape: out_shape,
        })),
    );
    Ok(())
}
