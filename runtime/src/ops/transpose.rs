//! Transpose: the axes of a tensor (rank 1 to 4) permuted, into its own output (any dtype:
//! it copies; int8 input and output share quantisation). Keras models exported by tf2onnx
//! are channels-last: a `Transpose` NHWC → NCHW that the compiler cannot fold away (after
//! a Reshape of a Dense's output, or an NCHW → NHWC one at the output) runs here.

use super::{Ctx, Eval, Op, f32s, f32s_mut};
use crate::Error;
use crate::format::{DType, PARAM_WORDS};

/// The record parameters of a Transpose op: output axis `i` is input axis `perm[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The permutation (words 0 to 3; entries past the tensors' rank are their own index).
    pub perm: [u32; 4],
}

impl Params {
    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            perm: [p[0], p[1], p[2], p[3]],
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.perm[0];
        p[1] = self.perm[1];
        p[2] = self.perm[2];
        p[3] = self.perm[3];
        p
    }
}

/// Transpose geometry, as the kernel takes it: the input's dims padded to rank 4 with
/// trailing 1s, and the permutation over the four axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransposeParams {
    /// Input dims (rank 4; unused axes 1).
    pub dims: [usize; 4],
    /// Output axis `i` is input axis `perm[i]`.
    pub perm: [usize; 4],
}

/// A prepared Transpose op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transpose {
    p: TransposeParams,
}

impl Op<'_> for Transpose {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(1)?;
        let (x, output) = (&cx.ins[0], &cx.output);
        let perm = Params::decode(cx.params()).perm;
        let mut seen = [false; 4];
        for &a in &perm {
            match seen.get_mut(a as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err("transpose perm is not a permutation of 0..4"),
            }
        }
        let rank = usize::from(x.rank);
        if output.rank != x.rank
            || perm
                .iter()
                .enumerate()
                .skip(rank)
                .any(|(i, &a)| a as usize != i)
        {
            return Err("transpose perm moves an axis past the tensor's rank");
        }
        if (0..4).any(|i| output.dims[i] != x.dims[perm[i] as usize]) {
            return Err("transpose output shape is not the permuted input shape");
        }
        if !cx.moves_data(x) {
            return Err("transpose tensors differ in dtype or quantisation, or overlap");
        }
        Ok(Transpose {
            p: TransposeParams {
                dims: x.dims.map(|d| d as usize),
                perm: perm.map(|a| a as usize),
            },
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x0 = cx.x0()?;
        let x = cx.io.input(x0)?;
        match x0.dtype {
            DType::F32 => transpose(&self.p, f32s(x)?, f32s_mut(cx.io.out)?),
            DType::I8 => transpose(&self.p, x, cx.io.out),
        }
        Ok(())
    }
}

/// Reference kernel: `y[i0, i1, i2, i3] = x[j]` with `j` the input index whose axis
/// `perm[k]` is `i_k`; walks the output in order, the input by strides.
pub fn transpose<T: Copy>(p: &TransposeParams, x: &[T], y: &mut [T]) {
    let d = p.dims;
    let strides = [d[1] * d[2] * d[3], d[2] * d[3], d[3], 1];
    let od = p.perm.map(|a| d[a]);
    let os = p.perm.map(|a| strides[a]);
    let mut out = y.iter_mut();
    for a in 0..od[0] {
        for b in 0..od[1] {
            for c in 0..od[2] {
                let base = a * os[0] + b * os[1] + c * os[2];
                for e in 0..od[3] {
                    if let (Some(v), Some(&s)) = (out.next(), x.get(base + e * os[3])) {
                        *v = s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nhwc_to_nchw() {
        // [H=2, W=2, C=3] → [C, H, W]
        let x: Vec<u8> = (0..12).collect();
        let p = TransposeParams {
            dims: [2, 2, 3, 1],
            perm: [2, 0, 1, 3],
        };
        let mut y = [0u8; 12];
        transpose(&p, &x, &mut y);
        assert_eq!(y, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    }

    proptest! {
        #[test]
        fn matches_index_definition(dims in proptest::array::uniform4(1usize..5), perm in Just([0usize, 1, 2, 3]).prop_shuffle()) {
            let n: usize = dims.iter().product();
            let x: Vec<u32> = (0..n as u32).collect();
            let mut y = vec![u32::MAX; n];
            let mut perm4 = [0; 4];
            perm4.copy_from_slice(&perm);
            transpose(&TransposeParams { dims, perm: perm4 }, &x, &mut y);
            let od = perm4.map(|a| dims[a]);
            let mut k = 0;
            for i0 in 0..od[0] { for i1 in 0..od[1] { for i2 in 0..od[2] { for i3 in 0..od[3] {
                let mut idx = [0; 4];
                for (o, &i) in [i0, i1, i2, i3].iter().enumerate() { idx[perm4[o]] = i; }
                let j = ((idx[0] * dims[1] + idx[1]) * dims[2] + idx[2]) * dims[3] + idx[3];
                prop_assert_eq!(y[k], x[j]);
                k += 1;
            }}}}
        }
    }
}
