//! Pad: a `[C, H, W]` tensor padded on its two spatial axes, into its own output (any
//! dtype: it moves data; int8 input and output share quantisation, and the constant is
//! quantised in it). Modes as ONNX `Pad` has them: `constant` (any value), `reflect`
//! (PyTorch's `ReflectionPad2d`, common in pix2pix and CycleGAN generators: the border
//! pixel is not repeated) and `edge` (the border pixel repeated). A zero Pad before a
//! Conv never gets here: the compiler folds it into the Conv's padding.

use super::{Ctx, Eval, Op, f32s, f32s_mut};
use crate::Error;
use crate::format::{DType, PARAM_WORDS};

/// [`Params::mode`]: the constant [`Params::value`] outside the input.
pub const CONSTANT: u32 = 0;
/// [`Params::mode`]: mirrored about the border pixel (`x[1], x[0] | x[0], x[1], …`).
pub const REFLECT: u32 = 1;
/// [`Params::mode`]: the border pixel repeated.
pub const EDGE: u32 = 2;

/// The record parameters of a Pad op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Rows added above, columns added left, rows added below, columns added right
    /// (words 0 to 3).
    pub pads: [u32; 4],
    /// [`CONSTANT`], [`REFLECT`] or [`EDGE`] (word 4).
    pub mode: u32,
    /// The constant as f32 bits (word 5; f32 tensors).
    pub value: u32,
    /// The constant as an int8 code of the tensors' quantisation (word 6, sign-extended;
    /// int8 tensors).
    pub q_value: i8,
}

impl Params {
    /// Decodes the record's words.
    pub const fn decode(p: &[u32; PARAM_WORDS]) -> Self {
        Params {
            pads: [p[0], p[1], p[2], p[3]],
            mode: p[4],
            value: p[5],
            q_value: p[6] as i32 as i8,
        }
    }

    /// Encodes the record's words.
    pub const fn encode(&self) -> [u32; PARAM_WORDS] {
        let mut p = [0; PARAM_WORDS];
        p[0] = self.pads[0];
        p[1] = self.pads[1];
        p[2] = self.pads[2];
        p[3] = self.pads[3];
        p[4] = self.mode;
        p[5] = self.value;
        p[6] = self.q_value as i32 as u32;
        p
    }
}

/// Pad geometry, as the kernel takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadParams {
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Rows above, columns left, rows below, columns right.
    pub pads: [usize; 4],
    /// [`CONSTANT`], [`REFLECT`] or [`EDGE`].
    pub mode: u32,
}

impl PadParams {
    /// Output height.
    pub const fn out_h(&self) -> usize {
        self.in_h + self.pads[0] + self.pads[2]
    }

    /// Output width.
    pub const fn out_w(&self) -> usize {
        self.in_w + self.pads[1] + self.pads[3]
    }
}

/// A prepared Pad op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pad {
    p: PadParams,
    value: f32,
    q_value: i8,
}

impl Op<'_> for Pad {
    fn prepare(cx: &Ctx<'_, '_>) -> Result<Self, &'static str> {
        cx.no_extras()?;
        cx.need_inputs(1)?;
        let (x, output) = (&cx.ins[0], &cx.output);
        let prm = Params::decode(cx.params());
        if x.rank != 3 || output.rank != 3 {
            return Err("pad needs [C, H, W] tensors");
        }
        let p = PadParams {
            channels: x.dims[0] as usize,
            in_h: x.dims[1] as usize,
            in_w: x.dims[2] as usize,
            pads: prm.pads.map(|v| v as usize),
            mode: prm.mode,
        };
        let [top, left, bottom, right] = p.pads;
        match prm.mode {
            CONSTANT => {}
            // ONNX (and PyTorch) need each reflect pad below the side it mirrors
            REFLECT if top.max(bottom) >= p.in_h || left.max(right) >= p.in_w => {
                return Err("pad reflects more than the input's height or width minus one");
            }
            REFLECT | EDGE if p.in_h == 0 || p.in_w == 0 => {
                return Err("pad repeats an empty input");
            }
            REFLECT | EDGE => {}
            _ => return Err("pad mode is neither constant, reflect nor edge"),
        }
        let want = [
            Some(p.channels),
            p.in_h.checked_add(top).and_then(|h| h.checked_add(bottom)),
            p.in_w.checked_add(left).and_then(|w| w.checked_add(right)),
        ];
        let got = [output.dims[0], output.dims[1], output.dims[2]].map(|d| Some(d as usize));
        if want != got {
            return Err("pad output shape is not the input's plus the pads");
        }
        if !cx.moves_data(x) {
            return Err("pad tensors differ in dtype or quantisation, or overlap");
        }
        Ok(Pad {
            p,
            value: f32::from_bits(prm.value),
            q_value: prm.q_value,
        })
    }

    fn eval(&self, cx: &mut Eval<'_>) -> Result<(), Error> {
        let x0 = cx.x0()?;
        let x = cx.io.input(x0)?;
        match x0.dtype {
            DType::F32 => pad(&self.p, self.value, f32s(x)?, f32s_mut(cx.io.out)?),
            DType::I8 => pad(&self.p, self.q_value as u8, x, cx.io.out),
        }
        Ok(())
    }
}

/// The input index that output index `o` (on an axis of `n` input elements, `before`
/// added in front) reads, or `None` for the constant.
fn source(o: usize, before: usize, n: usize, mode: u32) -> Option<usize> {
    if let Some(i) = o.checked_sub(before).filter(|&i| i < n) {
        return Some(i);
    }
    let last = n.checked_sub(1)?;
    match mode {
        // before the start: before − o; past the end: 2·last − i
        REFLECT if o < before => Some(before - o),
        REFLECT => (2 * last).checked_sub(o - before),
        EDGE if o < before => Some(0),
        EDGE => Some(last),
        _ => None,
    }
}

/// Reference kernel: `y[c, oy, ox] = x[c, sy, sx]` with `sy`, `sx` the rows and columns
/// [`source`] maps them to, or `value` where the mode gives none (constant padding). The
/// input row's own columns are one slice copy; only the pad columns are mapped one by one.
pub fn pad<T: Copy>(p: &PadParams, value: T, x: &[T], y: &mut [T]) {
    let (oh, ow, w) = (p.out_h(), p.out_w(), p.in_w);
    let left = p.pads[1];
    if ow == 0 {
        return;
    }
    let mut rows = y.chunks_exact_mut(ow);
    for c in 0..p.channels {
        let plane = c * p.in_h * w;
        for oy in 0..oh {
            let Some(out) = rows.next() else {
                return;
            };
            let row = source(oy, p.pads[0], p.in_h, p.mode)
                .and_then(|sy| x.get(plane + sy * w..plane + (sy + 1) * w));
            let Some(row) = row else {
                out.fill(value);
                continue;
            };
            // prepare checked the output row is `left + w + right` long
            let Some((head, rest)) = out.split_at_mut_checked(left) else {
                return;
            };
            let Some((mid, tail)) = rest.split_at_mut_checked(w) else {
                return;
            };
            mid.copy_from_slice(row);
            let at = |ox: usize| {
                source(ox, left, w, p.mode)
                    .and_then(|sx| row.get(sx).copied())
                    .unwrap_or(value)
            };
            head.iter_mut().enumerate().for_each(|(ox, o)| *o = at(ox));
            let base = left + w;
            tail.iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = at(base + i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(mode: u32, pads: [usize; 4], x: &[i32], h: usize, w: usize) -> Vec<i32> {
        let p = PadParams {
            channels: x.len() / (h * w),
            in_h: h,
            in_w: w,
            pads,
            mode,
        };
        let mut y = vec![i32::MIN; p.channels * p.out_h() * p.out_w()];
        pad(&p, -7, x, &mut y);
        y
    }

    #[test]
    fn one_row_in_each_mode_as_numpy_pads_it() {
        // np.pad([1, 2, 3], (2, 2), mode="constant", constant_values=-7), "reflect", "edge"
        let x = [1, 2, 3];
        assert_eq!(
            run(CONSTANT, [0, 2, 0, 2], &x, 1, 3),
            [-7, -7, 1, 2, 3, -7, -7]
        );
        assert_eq!(run(REFLECT, [0, 2, 0, 2], &x, 1, 3), [3, 2, 1, 2, 3, 2, 1]);
        assert_eq!(run(EDGE, [0, 2, 0, 2], &x, 1, 3), [1, 1, 1, 2, 3, 3, 3]);
    }

    #[test]
    fn reflection_pad_2d_of_a_plane() {
        // torch.nn.ReflectionPad2d(1)(torch.arange(9).view(1, 1, 3, 3))
        let x: Vec<i32> = (0..9).collect();
        #[rustfmt::skip]
        let want = [
            4, 3, 4, 5, 4,
            1, 0, 1, 2, 1,
            4, 3, 4, 5, 4,
            7, 6, 7, 8, 7,
            4, 3, 4, 5, 4,
        ];
        assert_eq!(run(REFLECT, [1, 1, 1, 1], &x, 3, 3), want);
    }

    /// The mirror index by its definition: reflect about the first and last element until
    /// inside (one reflection is enough when the pad is below the side).
    fn mirror(i: isize, n: isize) -> isize {
        if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        }
    }

    proptest! {
        #[test]
        fn matches_the_index_definition(
            c in 1usize..3, h in 2usize..6, w in 2usize..6,
            pads in proptest::array::uniform4(0usize..4), mode in 0u32..3,
        ) {
            let pads = if mode == REFLECT {
                [pads[0].min(h - 1), pads[1].min(w - 1), pads[2].min(h - 1), pads[3].min(w - 1)]
            } else {
                pads
            };
            let x: Vec<i32> = (0..(c * h * w) as i32).collect();
            let y = run(mode, pads, &x, h, w);
            let (oh, ow) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
            prop_assert_eq!(y.len(), c * oh * ow);
            for (k, &v) in y.iter().enumerate() {
                let (ci, oy, ox) = (k / (oh * ow), k / ow % oh, k % ow);
                let (iy, ix) = (oy as isize - pads[0] as isize, ox as isize - pads[1] as isize);
                let (hh, ww) = (h as isize, w as isize);
                let at = |sy: isize, sx: isize| x_at(&x, ci, sy as usize, sx as usize, h, w);
                let want = match mode {
                    CONSTANT if iy < 0 || ix < 0 || iy >= hh || ix >= ww => -7,
                    REFLECT => at(mirror(iy, hh), mirror(ix, ww)),
                    EDGE => at(iy.clamp(0, hh - 1), ix.clamp(0, ww - 1)),
                    _ => at(iy, ix),
                };
                prop_assert_eq!(v, want, "at {:?}", (ci, oy, ox));
            }
        }
    }

    fn x_at(x: &[i32], c: usize, y: usize, xx: usize, h: usize, w: usize) -> i32 {
        x[(c * h + y) * w + xx]
    }
}
