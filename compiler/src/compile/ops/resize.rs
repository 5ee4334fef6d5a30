//! `Resize`/`Upsample` that is a nearest upsampling by integer factors. The op's own
//! semantics (coordinate transform, rounding mode) are checked by running it on a probe.

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
    let nearest = (0..c).flat_map(|ch| {
        (0..oh).flat_map(move |y| (0..ow).map(move |xx| ((ch * h + y / fh) * w + xx / fw) as f32))
    });
    if !got.is_some_and(|g| g.iter().copied().eq(nearest)) {
        return Err(unsupported(
            node,
            "only nearest upsampling by integer factors (this mode or transform moves pixels)",
        ));
    }
    let input = cx.ensure(node, &x, &[c, h, w])?;
    let r = cx.builder.upsample(input, fh, fw);
    let id = cx.build(node, r)?;
    cx.set_act(node, id)
}
