//! Dense variants: four output rows per pass; the int8 one for DSP cores three, with its
//! products in pairs of 16-bit lanes (`SXTB16` + `SMLAD`).

use super::add::Rescale;
use super::dsp;
use crate::kernels::dense::{DenseI8Params, DenseParams};
use crate::kernels::{FusedActivation, relu_f32, requantize};

/// f32 dense, four rows per pass; each row is still summed in input order, so results
/// equal [`dense_f32`](crate::kernels::dense::dense_f32) bit for bit.
pub fn dense_f32_rows4(p: &DenseParams, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let k = p.in_features.max(1);
    let relu = p.activation == FusedActivation::Relu;
    let finish = |n: usize, acc: f32| {
        let acc = match bias.and_then(|b| b.get(n)) {
            Some(&b) => acc + b,
            None => acc,
        };
        if relu { relu_f32(acc) } else { acc }
    };
    let mut w_blocks = w.chunks_exact(4 * k);
    let mut y_blocks = y.chunks_exact_mut(4);
    let mut n = 0;
    for (wb, yb) in (&mut w_blocks).zip(&mut y_blocks) {
        let (r0, rest) = wb.split_at(k);
        let (r1, rest) = rest.split_at(k);
        let (r2, r3) = rest.split_at(k);
        let mut acc = [0.0f32; 4];
        for ((((&xv, &a), &b), &c), &d) in x.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            acc[0] += xv * a;
            acc[1] += xv * b;
            acc[2] += xv * c;
            acc[3] += xv * d;
        }
        for (i, (out, a)) in yb.iter_mut().zip(acc).enumerate() {
            *out = finish(n + i, a);
        }
        n += 4;
    }
    for (row, out) in w_blocks
        .remainder()
        .chunks_exact(k)
        .zip(y_blocks.into_remainder())
    {
        let mut acc = 0.0f32;
        for (&xv, &wv) in x.iter().zip(row) {
            acc += xv * wv;
        }
        *out = finish(n, acc);
        n += 1;
    }
}

/// Exact int8 dot product of `x` and `w`, pairs of products summed first as `SMLAD` does.
#[inline(always)]
fn dot_i8_pairs(x: &[i8], w: &[i8]) -> i32 {
    let mut acc = 0i32;
    let mut xp = x.chunks_exact(2);
    let mut wp = w.chunks_exact(2);
    for (a, b) in (&mut xp).zip(&mut wp) {
        // i16 × i16 products of int8 values fit easily: |a·b| ≤ 2^14.
        let pair = i32::from(a[0]) * i32::from(b[0]) + i32::from(a[1]) * i32::from(b[1]);
        acc = acc.wrapping_add(pair);
    }
    if let ([a], [b]) = (xp.remainder(), wp.remainder()) {
        acc = acc.wrapping_add(i32::from(*a) * i32::from(*b));
    }
    acc
}

/// int8 dense in the Cortex-M4 shape: products in pairs (`SMLAD` on i16 lanes).
pub fn dense_i8_cm4(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let rows = w.chunks_exact(p.in_features.max(1)).zip(y.iter_mut());
    for (((row, out), &b), (&m, &s)) in rows.zip(bias).zip(multiplier.iter().zip(shift)) {
        let acc = dot_i8_pairs(x, row).wrapping_add(b);
        *out = requantize(acc, m, s, p.output_zero_point, p.act_min, p.act_max);
    }
}

/// int8 dense, four rows per pass (each input loaded once for four outputs).
pub fn dense_i8_rows4(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let k = p.in_features.max(1);
    let blocks = w.chunks_exact(4 * k);
    let tail = blocks
        .remainder()
        .chunks_exact(k)
        .map(|row| dot_i8_pairs(x, row));
    let block_accs = blocks.flat_map(|block| {
        let (r0, rest) = block.split_at(k);
        let (r1, rest) = rest.split_at(k);
        let (r2, r3) = rest.split_at(k);
        let mut acc = [0i32; 4];
        for ((((&xv, &a), &b), &c), &d) in x.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            let xv = i32::from(xv);
            acc[0] = acc[0].wrapping_add(xv * i32::from(a));
            acc[1] = acc[1].wrapping_add(xv * i32::from(b));
            acc[2] = acc[2].wrapping_add(xv * i32::from(c));
            acc[3] = acc[3].wrapping_add(xv * i32::from(d));
        }
        acc
    });
    let per_row = bias.iter().zip(multiplier).zip(shift);
    for ((acc, out), ((&b, &m), &s)) in block_accs.chain(tail).zip(y.iter_mut()).zip(per_row) {
        *out = requantize(
            acc.wrapping_add(b),
            m,
            s,
            p.output_zero_point,
            p.act_min,
            p.act_max,
        );
    }
}

/// int8 dense with the DSP extension (CMSIS-NN's fully-connected shape): the input
/// sign-extended once with `SXTB16` into a stack buffer ([`dsp::q15_quads`]), then three
/// rows per pass ([`dsp::dot3_q15`]: each extended input pair read with one `LDRD` and
/// multiplied with the three rows' words in two `SMLAD` each), then the last `N mod 3`
/// rows and the last `K mod 4` products one by one, [`DENSE_BLOCK`] rows' sums at a time
/// before their requantisations; inputs wider than the buffer run the reference. Sums are exact, so it
/// equals [`dense_i8`](crate::kernels::dense::dense_i8); off the DSP cores the
/// instructions are their plain-Rust equivalents ([`dsp`]).
// (a function of its own: inlined into the sampler's op dispatch, its 0.7 KB of buffers
// added to the conv kernels' in one stack frame)
#[inline(never)]
pub fn dense_i8_dsp(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let (k, n) = (p.in_features.max(1), p.out_features);
    let (x, w): (&[u8], &[u8]) = (bytemuck::cast_slice(x), bytemuck::cast_slice(w));
    let (zp, lo, hi) = (p.output_zero_point, p.act_min, p.act_max);
    // A block of rows' sums first (three rows per pass), then the block's requantisations
    // in a loop of their own. With the requantisation inside the pass (its four arrays,
    // the output and the bounds live beside the pass's pointers), `opt-level = "z"` spilled
    // both: about 45 instructions per output and 60 per pass beside the sums.
    let quads = k / 4;
    if quads > DENSE_QUADS {
        // (wider than the buffer, which no shipped or corpus generator's Dense is; a build
        // without the fallbacks refuses such a model at load)
        if super::INT8_FALLBACKS {
            let (x, w) = (bytemuck::cast_slice(x), bytemuck::cast_slice(w));
            crate::kernels::dense::dense_i8(p, x, w, bias, multiplier, shift, y);
        }
        return;
    }
    let x_tail = x.get(4 * quads..k).unwrap_or(&[]);
    // the input extended once for every row ([`dsp::q15_quads`])
    let mut xe = [0u32; 2 * DENSE_QUADS];
    dsp::q15_quads(x, quads, &mut xe);
    let mut sums = [0i32; DENSE_BLOCK];
    let blocks = w
        .chunks(DENSE_BLOCK * k)
        .zip(y.chunks_mut(DENSE_BLOCK))
        .zip(bias.chunks(DENSE_BLOCK))
        .zip(
            multiplier
                .chunks(DENSE_BLOCK)
                .zip(shift.chunks(DENSE_BLOCK)),
        );
    for (((w, y), bias), (multiplier, shift)) in blocks {
        let rows = y.len().min(n);
        // whole passes: one pointer walks the rows, little else is live across the loop
        let passes = rows / 3;
        let mut groups = w.chunks_exact(3 * k);
        for (group, sums) in (&mut groups).take(passes).zip(sums.chunks_exact_mut(3)) {
            let (r0, rest) = group.split_at(k);
            let (r1, r2) = rest.split_at(k);
            sums.copy_from_slice(&dsp::dot3_q15(&xe, [r0, r1, r2], quads));
        }
        // the last one or two rows: a pass that repeats its last row
        if passes * 3 < rows {
            let row = |r: usize| w.get(r * k..).unwrap_or(&[]);
            let (i, last) = (passes * 3, rows - 1);
            let acc = dsp::dot3_q15(&xe, [row(i), row((i + 1).min(last)), row(last)], quads);
            for (s, a) in sums.iter_mut().skip(i).zip(acc).take(rows - i) {
                *s = a;
            }
        }
        // the last `k mod 4` products of each row
        if !x_tail.is_empty() {
            for (r, s) in sums.iter_mut().take(rows).enumerate() {
                let w_tail = w.get(r * k + 4 * quads..(r + 1) * k).unwrap_or(&[]);
                *s = x_tail.iter().zip(w_tail).fold(*s, |a, (&xv, &wv)| {
                    a.wrapping_add(i32::from(xv as i8) * i32::from(wv as i8))
                });
            }
        }
        let requant = bias.iter().zip(multiplier).zip(shift);
        for ((out, &acc), ((&b, &m), &s)) in y.iter_mut().zip(&sums).zip(requant) {
            *out = Rescale::new(m, s).to_i8(acc.wrapping_add(b), zp, lo, hi);
        }
    }
}

/// Whether [`dense_i8_dsp`] runs this Dense on the reference (its input is wider than the
/// buffer it extends): such a model needs the int8 fallbacks
/// ([`INT8_FALLBACKS`](super::INT8_FALLBACKS)) on a DSP core.
pub fn needs_fallback(p: &DenseI8Params) -> bool {
    p.in_features.max(1) / 4 > DENSE_QUADS
}

/// Output rows [`dense_i8_dsp`] sums before it requantises them (a multiple of three;
/// 192 bytes of stack).
const DENSE_BLOCK: usize = 48;
/// Most input quads [`dense_i8_dsp`] extends (inputs up to 256; 512 bytes of stack); wider
/// Dense ops run the reference.
const DENSE_QUADS: usize = 64;

/// `store(i, Σ_k x[k]·w[i, k])` for the `n` rows of `w: [n, k]` (int8 values): three rows
/// per pass over `x` ([`dsp::dot3_quads`]; a last pass of one or two rows repeats its last
/// row), each row's last `k mod 4` products added one by one. The int8 conv's loop over
/// each output pixel's patch
/// ([`conv2d_i8_patch_dsp`](super::conv2d::conv2d_i8_patch_dsp)).
///
/// `store` has one call site, so it is inlined: called from four places it stayed a
/// function at `opt-level = "z"`, about 65 instructions per output around a
/// requantisation of 25 (ring8-cgan's Dense 8→128 took 111 per output).
#[inline(always)]
pub(crate) fn rows_dsp(x: &[u8], w: &[u8], k: usize, n: usize, mut store: impl FnMut(usize, i32)) {
    let quads = k / 4;
    let x_tail = x.get(4 * quads..k).unwrap_or(&[]);
    let row = |i: usize| w.get(i * k..).unwrap_or(&[]);
    let mut i = 0;
    while i < n {
        let rows = (n - i).min(3);
        let last = i + rows - 1;
        let acc = dsp::dot3_quads(x, [row(i), row((i + 1).min(last)), row(last)], quads);
        for (j, &acc) in acc.iter().enumerate().take(rows) {
            // (nothing to add, and no row to slice, when `k` is a multiple of four)
            let acc = if x_tail.is_empty() {
                acc
            } else {
                let tail = row(i + j).get(4 * quads..k).unwrap_or(&[]);
                x_tail.iter().zip(tail).fold(acc, |a, (&xv, &wv)| {
                    a.wrapping_add(i32::from(xv as i8) * i32::from(wv as i8))
                })
            };
            store(i + j, acc);
        }
        i += rows;
    }
}

#[cfg(test)]
mod tests {
    crate::kernels::dense::dense_f32_tests!(
        rows4_f32,
        crate::kernels::cortex_m::dense::dense_f32_rows4
    );
    crate::kernels::dense::dense_i8_tests!(cm4_i8, crate::kernels::cortex_m::dense::dense_i8_cm4);
    crate::kernels::dense::dense_i8_tests!(
        rows4_i8,
        crate::kernels::cortex_m::dense::dense_i8_rows4
    );
    crate::kernels::dense::dense_i8_tests!(dsp_i8, crate::kernels::cortex_m::dense::dense_i8_dsp);

    use super::{DENSE_BLOCK, needs_fallback};

    #[test]
    fn dense_wider_than_the_extended_buffer_needs_the_fallbacks() {
        let p = |k| DenseI8Params {
            in_features: k,
            out_features: 3,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        // 64 quads extended, then up to three products one by one
        for k in [1, 8, 128, 256, 259] {
            assert!(!needs_fallback(&p(k)), "{k}");
        }
        for k in [260, 1024] {
            assert!(needs_fallback(&p(k)), "{k}");
        }
    }
    use crate::kernels::dense::{DenseI8Params, dense_i8};
    use crate::kernels::test_util::i8_vec;
    use proptest::prelude::*;

    proptest! {
        /// Past the shared tests' 12 rows: several blocks of sums, a last block and a last
        /// pass of any length, and rows that are not whole words; inputs that the kernel
        /// extends (up to 256) and wider ones (the reference).
        #[test]
        fn dsp_dense_over_several_blocks_equals_the_reference(
            (k, n, x, w, bias) in (
                prop_oneof![1usize..20, 120usize..140, 250usize..270],
                1usize..(3 * DENSE_BLOCK + 5),
            ).prop_flat_map(|(k, n)| (
                Just(k), Just(n), i8_vec(k), i8_vec(k * n),
                proptest::collection::vec(-100_000i32..100_000, n),
            )),
            mult in (1i32 << 30)..i32::MAX, shift in -12i32..1, zp in -128i32..128,
        ) {
            let p = DenseI8Params {
                in_features: k,
                out_features: n,
                output_zero_point: zp,
                act_min: -128,
                act_max: 127,
            };
            // a multiplier and shift per row, varied so that rows differ
            let mult: Vec<i32> = (0..n).map(|i| mult - (i as i32) * 1_000).collect();
            let shift: Vec<i32> = (0..n).map(|i| shift - (i % 3) as i32).collect();
            let (mut want, mut got) = (vec![0i8; n], vec![99i8; n]);
            dense_i8(&p, &x, &w, &bias, &mult, &shift, &mut want);
            super::dense_i8_dsp(&p, &x, &w, &bias, &mult, &shift, &mut got);
            prop_assert_eq!(got, want);
        }
    }
}
