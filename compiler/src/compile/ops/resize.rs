//! `Resize`/`Upsample` that is an upsampling by integer factors, nearest or bilinear with
//! half-pixel centres (ONNX `linear` with `half_pixel` or `pytorch_half_pixel`: PyTorch's
//! `nn.Upsample(mode='bilinear')`, Keras' `UpSampling2D(interpolation='bilinear')`). The
//! op's own semantics (mode, coordinate transform, rounding) are checked by running it on
//! a probe and comparing with the runtime's reference kernels; `align_corners`,
//! `asymmetric` and cubic do not match either and are refused.

use edgegan_runtime::kernels::upsample::{UpsampleParams, upsample_bilinear_f32};
use tract_onnx::prelude::*;

use crate::compile::CompileError;
use crate::compile::lower::{Lowerer, Value, unsupported};

pub(crate) fn resize<'m>(cx: &mut Lowerer<'m>, node: &'m TypedNode) -> Result<(), CompileError> {
    let x = cx.act(node.inputs[0])?;
    let out = cx.out_shape(node, 0)?;
    let ([1, c, h, w], [1, oc, oh, ow]) = (&x.shape[..], &out[..]) else {
        return Err(unsupported(node, "only [1, C, H, W] images"));
    };
    let (c, h, w, oh, ow) = (*c, *h, *w, *oh, *ow);
    if *oc != c || oh % h != 0 || ow % w != 0 {
        return Err(unsupported(node, "only integer upsampling of H and W"));
    }
    let (fh, fw) = (oh / h, ow / w);
    // Probe: distinct values in, nearest-neighbour replication out?
    let probe: Vec<f32> = (0..c * h * w).map(|i| i as f32).collect();
    let mut inputs: TVec<TValue> = tvec![
        Tensor::from_shape(&[1, c, h, w], &probe)
            .map_err(|e| unsupported(node, &format!("{e:#}")))?
            .into_tvalue()
    ];
    for &i in &node.inputs[1..] {
        match cx.value(i)? {
            Value::Const(t) => inputs.push(t.into_tvalue()),
            _ => return Err(unsupported(node, "sizes/scales must be constants")),
        }
    }
    let got = node
        .op
        .eval_out_of_plan(inputs)
        .ok()
        .flatten()
        .and_then(|o| {
            let t = o.first()?.to_plain_array_view::<f32>().ok()?;
            Some(t.iter().copied().collect::<Vec<f32>>())
        });
    let Some(got) = got else {
        return Err(unsupported(node, "the op did not run on a probe input"));
    };
    let nearest = (0..c).flat_map(|ch| {
        (0..oh).flat_map(move |y| (0..ow).map(move |xx| ((ch * h + y / fh) * w + xx / fw) as f32))
    });
    let mut bilinear = vec![0.0f32; c * oh * ow];
    let p = UpsampleParams {
        channels: c,
        in_h: h,
        in_w: w,
        factor_h: fh,
        factor_w: fw,
    };
    upsample_bilinear_f32(&p, &probe, &mut bilinear);
    let is_bilinear = got.len() == bilinear.len()
        && got
            .iter()
            .zip(&bilinear)
            .all(|(a, b)| (a - b).abs() <= 1e-4 * b.abs().max(1.0));
    let input = cx.ensure(node, &x, &[c, h, w])?;
    let r = if got.iter().copied().eq(nearest) {
        cx.builder.upsample(input, fh, fw)
    } else if is_bilinear {
        cx.builder.upsample_bilinear(input, fh, fw)
    } else {
        return Err(unsupported(
            node,
            "only nearest, or bilinear with half-pixel centres, by integer factors \
             (this mode or coordinate transform, e.g. align_corners, moves pixels)",
        ));
    };
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
