//! `Conv` (2-D, NCHW, OIHW kernel, group 1, no dilation): a Conv2d.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::builder::{Conv2dSpec, TensorId};
use crate::compile::CompileError;
use crate::compile::lower::{Linear, Lowerer, Value, broadcast, unsupported};

/// Kernel, bias, input and the input's `[C, H, W]`.
pub(super) type Operands = (Arc<Tensor>, Arc<Tensor>, TensorId, [usize; 3]);

/// The operands Conv and Deconv read alike, after checking the form both support (2-D,
/// NCHW, group 1, no dilation, OIHW kernel): the constant kernel and bias, and the input
/// as a `[C, H, W]` builder tensor with its sizes.
pub(super) fn operands<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
    ps: &PoolSpec,
    group: usize,
    kernel_fmt: KernelFormat,
) -> Result<Operands, CompileError> {
    if group != 1 || ps.rank() != 2 || ps.data_format != DataFormat::NCHW {
        return Err(unsupported(node, "only 2-D NCHW with group 1"));
    }
    if ps.dilations().iter().any(|&d| d != 1) || kernel_fmt != KernelFormat::OIHW {
        return Err(unsupported(
            node,
            "dilation or a kernel layout other than OIHW",
        ));
    }
    let (Value::Const(kernel), Value::Const(bias)) =
        (cx.value(node.inputs[1])?, cx.value(node.inputs[2])?)
    else {
        return Err(unsupported(node, "kernel and bias must be constants"));
    };
    let x = cx.act(node.inputs[0])?;
    let [1, c, h, w] = x.shape[..] else {
        return Err(unsupported(
            node,
            &format!("input shape {:?} is not [1, C, H, W]", x.shape),
        ));
    };
    let input = cx.ensure(node, &x, &[c, h, w])?;
    Ok((kernel, bias, input, [c, h, w]))
}

/// `[top, left, bottom, right]` of tract's computed padding of the two spatial axes.
macro_rules! tlbr {
    ($pads:expr) => {
        [
            $pads[0].pad_before,
            $pads[1].pad_before,
            $pads[0].pad_after,
            $pads[1].pad_after,
        ]
    };
}
pub(super) use tlbr;

/// A Conv2d, left pending so that a bias or BatchNorm after it folds into its weights.
pub(crate) fn conv<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let op = node
        .op_as::<Conv>()
        .ok_or_else(|| unsupported(node, "not a Conv"))?;
    let ps = &op.pool_spec;
    if op.q_params.is_some() || node.inputs.len() != 3 {
        return Err(unsupported(node, "quantised convolution"));
    }
    let operands = operands(cx, node, ps, op.group, op.kernel_fmt)?;
    let [_, h, w] = operands.3;
    let strides = ps.strides().to_vec();
    let pads = ps
        .padding
        .compute(&[h, w], &ps.kernel_shape, &[1, 1], &strides);
    let padding = tlbr!(pads);
    pending(cx, node, operands, ps, padding, None)
}

/// Sets `node`'s value to its pending Conv2d (with `transposed`, the ConvTranspose2d with
/// that output padding): the `[M, C, KH, KW]` kernel and `[M]` bias of its operands, the
/// pool spec's kernel size and strides, and `padding`.
pub(super) fn pending<'m>(
    cx: &mut Lowerer<'m>,
    node: &'m TypedNode,
    (kernel, bias, input, [c, _, _]): Operands,
    ps: &PoolSpec,
    padding: [usize; 4],
    transposed: Option<[usize; 2]>,
) -> Result<(), CompileError> {
    let m = ps.output_channels;
    let (kshape, strides) = (&ps.kernel_shape, ps.strides());
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
                padding,
            }),
            transposed,
            out_channels: m,
            weight,
            bias,
            label_bias: None,
            shape: out_shape.clone(),
            conv_shape: out_shape,
        })),
    );
    Ok(())
}
