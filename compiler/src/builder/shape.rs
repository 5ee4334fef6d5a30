//! Shape inference: the output shape of each op, or an error naming the op.

use edgegan_runtime::ConditionKind;
use edgegan_runtime::format;
use edgegan_runtime::ops::{conv_transpose2d, pad};

use super::graph::{Conv2dSpec, Graph, OpSpec, check_shape};
use super::{BuildError, TensorId, op_err};

/// The output shape of `op`, or an error naming op `index`.
pub(super) fn infer_shape(g: &Graph, index: usize, op: &OpSpec) -> Result<Vec<usize>, BuildError> {
    let kind = op.kind();
    let err = |m: String| op_err(index, kind, m);
    let shape = |t: TensorId| {
        g.tensors
            .get(t.index())
            .map(|s| s.shape.clone())
            .ok_or_else(|| err(format!("unknown tensor {}", t.0)))
    };
    let numel = |s: &[usize]| s.iter().product::<usize>();
    for t in op.inputs() {
        shape(t)?;
    }
    let out = match op {
        OpSpec::Dense {
            input,
            out_features,
            weight,
            bias,
            label_bias,
            ..
        } => {
            let k = numel(&shape(*input)?);
            if *out_features == 0 {
                return Err(err("out_features must be at least 1".into()));
            }
            if weight.len() != k * out_features {
                return Err(err(format!(
                    "weight has {} values, expected {out_features}x{k} = {}",
                    weight.len(),
                    k * out_features
                )));
            }
            if let Some(b) = bias.as_ref().filter(|b| b.len() != *out_features) {
                return Err(err(format!(
                    "bias has {} values, expected {out_features}",
                    b.len()
                )));
            }
            if let Some(t) = label_bias {
                let ConditionKind::Label { classes } = g.condition else {
                    return Err(err(
                        "a label-indexed bias needs a label-conditioned graph".into()
                    ));
                };
                if t.len() != classes as usize * out_features {
                    return Err(err(format!(
                        "label bias has {} values, expected {classes}x{out_features}",
                        t.len()
                    )));
                }
            }
            vec![*out_features]
        }
        OpSpec::Conv2d {
            input,
            spec,
            weight,
            bias,
            ..
        } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            let [kh, kw] = spec.kernel;
            let [sh, sw] = spec.stride;
            let [pt, pl, pb, pr] = spec.padding;
            if kh == 0 || kw == 0 || sh == 0 || sw == 0 || spec.out_channels == 0 {
                return Err(err(
                    "kernel, stride and out_channels must be positive".into()
                ));
            }
            if pt >= kh
                || pb >= kh
                || pl >= kw
                || pr >= kw
                || kh > 0xFFFF
                || kw > 0xFFFF
                || sh > 0xFFFF
                || sw > 0xFFFF
            {
                return Err(err(
                    "padding must be smaller than the kernel; sizes below 65536".into(),
                ));
            }
            if ih + pt + pb < kh || iw + pl + pr < kw {
                return Err(err(format!(
                    "kernel {kh}x{kw} larger than padded input {s:?}"
                )));
            }
            check_conv_arrays(spec, c, weight, bias.as_deref()).map_err(err)?;
            vec![
                spec.out_channels,
                (ih + pt + pb - kh) / sh + 1,
                (iw + pl + pr - kw) / sw + 1,
            ]
        }
        OpSpec::ConvTranspose2d {
            input,
            spec,
            output_padding,
            weight,
            bias,
            ..
        } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            let [kh, kw] = spec.kernel;
            let [sh, sw] = spec.stride;
            let [pt, pl, pb, pr] = spec.padding;
            let [ah, aw] = *output_padding;
            let small = |v: usize| v > 0 && v <= 0xFFFF;
            if !(small(kh) && small(kw) && small(sh) && small(sw)) || spec.out_channels == 0 {
                return Err(err(
                    "kernel, stride and out_channels must be positive and below 65536".into(),
                ));
            }
            // the runtime's bounds (see runtime ops::conv_transpose2d)
            if ah >= sh || aw >= sw || pt >= kh || pb >= kh || pl >= kw || pr >= kw {
                return Err(err(
                    "padding must be smaller than the kernel, output padding than the stride"
                        .into(),
                ));
            }
            let size = conv_transpose2d::Params::output_size;
            let (Some(oh), Some(ow)) = (
                size(ih, kh, sh, [pt, pb], ah),
                size(iw, kw, sw, [pl, pr], aw),
            ) else {
                return Err(err(format!("padding crops away the whole output of {s:?}")));
            };
            check_conv_arrays(spec, c, weight, bias.as_deref()).map_err(err)?;
            vec![spec.out_channels, oh, ow]
        }
        OpSpec::Upsample { input, factor, .. } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            if factor[0] == 0 || factor[1] == 0 {
                return Err(err("factors must be positive".into()));
            }
            vec![c, ih * factor[0], iw * factor[1]]
        }
        OpSpec::Relu { input } | OpSpec::Tanh { input } | OpSpec::Sigmoid { input } => {
            shape(*input)?
        }
        OpSpec::LeakyRelu { input, alpha } => {
            if !alpha.is_finite() {
                return Err(err("alpha must be finite".into()));
            }
            shape(*input)?
        }
        OpSpec::Concat { inputs } => {
            if inputs.is_empty() || inputs.len() > format::MAX_INPUTS {
                return Err(err(format!(
                    "concat takes 1 to {} inputs, got {}",
                    format::MAX_INPUTS,
                    inputs.len()
                )));
            }
            let first = shape(inputs[0])?;
            let mut out = first.clone();
            for &t in &inputs[1..] {
                let s = shape(t)?;
                if s.len() != first.len() || s[1..] != first[1..] {
                    return Err(err(format!(
                        "input shapes {first:?} and {s:?} differ past the first axis"
                    )));
                }
                out[0] += s[0];
            }
            out
        }
        OpSpec::Gather { table, dim } => {
            let ConditionKind::Label { classes } = g.condition else {
                return Err(err(
                    "a label embedding needs a label-conditioned graph".into()
                ));
            };
            if *dim == 0 || table.len() != classes as usize * dim {
                return Err(err(format!(
                    "table has {} values, expected {classes}x{dim}",
                    table.len()
                )));
            }
            vec![*dim]
        }
        OpSpec::Add { a, b } | OpSpec::Sub { a, b } | OpSpec::Mul { a, b } => {
            let (sa, sb) = (shape(*a)?, shape(*b)?);
            let (na, nb) = (numel(&sa), numel(&sb));
            let (full, other) = if na >= nb { (sa, nb) } else { (sb, na) };
            let n = numel(&full);
            let ok = other == n || other == 1 || (full.len() >= 2 && other == full[0]);
            if !ok {
                return Err(err(format!(
                    "operands of {na} and {nb} elements: the smaller must be full size, a scalar or one per channel"
                )));
            }
            full
        }
        OpSpec::Elementwise { input, op, args } => {
            (op.encode)(args, None).map_err(|m| err(m.to_string()))?;
            shape(*input)?
        }
        OpSpec::Reshape { input, shape: new } => {
            let s = shape(*input)?;
            check_shape(new).map_err(err)?;
            if numel(new) != numel(&s) {
                return Err(err(format!("cannot reshape {s:?} to {new:?}")));
            }
            new.clone()
        }
        OpSpec::Pad {
            input,
            pads,
            mode,
            value,
        } => {
            let s = shape(*input)?;
            let [c, ih, iw] = s[..] else {
                return Err(err(format!("input shape {s:?} is not [C, H, W]")));
            };
            let [top, left, bottom, right] = *pads;
            let ok = match *mode {
                pad::CONSTANT => value.is_finite(),
                pad::REFLECT => top.max(bottom) < ih && left.max(right) < iw,
                pad::EDGE => ih > 0 && iw > 0,
                _ => false,
            };
            if !ok {
                return Err(err(format!(
                    "pads {pads:?} in mode {mode} of {s:?}: the constant must be finite, \
                     reflect pads below the side they mirror"
                )));
            }
            vec![c, ih + top + bottom, iw + left + right]
        }
        OpSpec::Transpose { input, perm } => {
            let s = shape(*input)?;
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if perm.len() != s.len() || sorted.iter().enumerate().any(|(i, &a)| a != i) {
                return Err(err(format!(
                    "{perm:?} is not a permutation of the axes of {s:?}"
                )));
            }
            perm.iter().map(|&a| s[a]).collect()
        }
    };
    check_shape(&out).map_err(err)?;
    Ok(out)
}

/// A convolution's weight holds `out_channels × C × kH × kW` values and its bias, if any,
/// `out_channels`.
fn check_conv_arrays(
    spec: &Conv2dSpec,
    c: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Result<(), String> {
    let [kh, kw] = spec.kernel;
    let m = spec.out_channels;
    let want = m * c * kh * kw;
    if weight.len() != want {
        return Err(format!(
            "weight has {} values, expected {m}x{c}x{kh}x{kw} = {want}",
            weight.len()
        ));
    }
    match bias {
        Some(b) if b.len() != m => Err(format!("bias has {} values, expected {m}", b.len())),
        _ => Ok(()),
    }
}
