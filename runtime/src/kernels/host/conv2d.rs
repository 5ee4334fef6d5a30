//! int8 Conv2d for hosts, at horizontal stride 1 (others run
//! [`conv2d_i8_tiled`]).
//!
//! The input, less its zero point, is staged once per call as 16-bit pairs of adjacent
//! channels, `stage[(c/2, y + pt)][x + pl] = (x̃[c], x̃[c+1])` (zero outside the image),
//! and the weights as the matching pairs `(w[m, c, ky, kx], w[m, c+1, ky, kx])`. A tile is
//! [`PT`] output columns of one row × [`MB`] output channels; for each tap `(c/2, ky, kx)` the
//! tile's 16 input pairs are one contiguous run of the stage, and one `vpmaddwd` per 8 columns
//! adds both channels' products to the 32-bit accumulators. The int8 sum is exact, so the
//! pairing (a different order than the reference's) changes no output.

use super::Simd;
#[cfg(target_arch = "x86_64")]
use super::requant::requantize8_avx2;
use super::requant::requantize8_portable;
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dParams};
use crate::kernels::cortex_m::conv2d::conv2d_i8_tiled;

/// Output columns per tile: two vectors of eight 32-bit accumulators.
const PT: usize = 16;
/// Output channels per pass (eight accumulator vectors).
const MB: usize = 4;
/// The smaller stage and weight buffers (8 and 16 KiB), for convolutions that fit.
const SMALL: usize = 4 * 1024;
/// Most packed weight pairs, `M · ⌈C/2⌉ · KH · KW` (64 KiB of stack).
const MAX_WEIGHT_PAIRS: usize = 16 * 1024;
/// Most staged 16-bit inputs, `⌈C/2⌉ · HP · 2 · (⌈OW/PT⌉·PT + KW − 1)` (64 KiB of stack).
const MAX_STAGE: usize = 32 * 1024;

/// The sizes of one call, derived once.
#[derive(Clone, Copy)]
struct Shape {
    /// Channel pairs `⌈C/2⌉`.
    pairs: usize,
    /// Staged rows per channel pair: `(OH − 1)·sh + KH`.
    rows: usize,
    /// Staged values per row: `2·(⌈OW/PT⌉·PT + KW − 1)`.
    row_len: usize,
    /// Weight pairs per output channel: `⌈C/2⌉·KH·KW`.
    per_m: usize,
}

impl Shape {
    fn of(p: &Conv2dParams) -> Option<Self> {
        let pairs = p.in_channels.div_ceil(2);
        let rows = p.out_h.checked_sub(1)?.checked_mul(p.stride_h)? + p.kernel_h;
        let row_len = 2 * (p.out_w.div_ceil(PT) * PT + p.kernel_w.checked_sub(1)?);
        let per_m = pairs * p.kernel_h * p.kernel_w;
        let fits = pairs.checked_mul(rows)?.checked_mul(row_len)? <= MAX_STAGE
            && per_m.checked_mul(p.out_channels)? <= MAX_WEIGHT_PAIRS;
        fits.then_some(Shape {
            pairs,
            rows,
            row_len,
            per_m,
        })
    }
}

/// int8 conv2d for hosts; equal to [`conv2d_i8`](crate::kernels::conv2d::conv2d_i8).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_host(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let simd = Simd::detect();
    conv2d_i8_with(p, q, 1, x, w, (bias, multiplier, shift), y, simd);
}

/// int8 conv2d for hosts over a batch: `x` holds `rows` input samples and `y` `rows`
/// outputs, one after another; each output equals
/// [`conv2d_i8`](crate::kernels::conv2d::conv2d_i8) of its input. The weights are packed
/// and the buffers zeroed once for the whole batch instead of once per sample.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_batch_host(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    rows: usize,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let simd = Simd::detect();
    conv2d_i8_with(p, q, rows, x, w, (bias, multiplier, shift), y, simd);
}

/// [`conv2d_i8_batch_host`] with the bodies `simd` allows.
#[allow(clippy::too_many_arguments)]
fn conv2d_i8_with(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    rows: usize,
    x: &[i8],
    w: &[i8],
    (bias, multiplier, shift): (&[i32], &[i32], &[i32]),
    y: &mut [i8],
    simd: Simd,
) {
    let m = p.out_channels;
    let taps = p.kernel_h * p.kernel_w;
    let (x_len, y_len) = (p.in_channels * p.in_h * p.in_w, m * p.out_h * p.out_w);
    let contract = p.stride_w == 1
        && p.stride_h >= 1
        && bias.len() >= m
        && multiplier.len() >= m
        && shift.len() >= m
        && x.len() >= rows * x_len
        && w.len() >= m * p.in_channels * taps
        && y.len() >= rows * y_len;
    let zp = i8::try_from(q.input_zero_point).map(i16::from);
    let (Some(s), Ok(zp), true) = (Shape::of(p), zp, contract) else {
        let samples = x.chunks(x_len.max(1)).zip(y.chunks_mut(y_len.max(1)));
        for (x, y) in samples.take(rows) {
            conv2d_i8_tiled(p, q, x, w, bias, multiplier, shift, y);
        }
        return;
    };
    // the buffers live on the stack, zeroed on every call: the smallest size that fits
    let small_stage = s.pairs * s.rows * s.row_len <= SMALL;
    let small_pack = s.per_m * m <= SMALL;
    let args = (p, q, s, zp, (rows, x), w, (bias, multiplier, shift), simd);
    match (small_stage, small_pack) {
        (true, true) => run::<SMALL, SMALL>(args, y),
        (true, false) => run::<SMALL, MAX_WEIGHT_PAIRS>(args, y),
        (false, true) => run::<MAX_STAGE, SMALL>(args, y),
        (false, false) => run::<MAX_STAGE, MAX_WEIGHT_PAIRS>(args, y),
    }
}

/// What [`run`] needs besides the output.
type RunArgs<'a> = (
    &'a Conv2dParams,
    &'a Conv2dI8Quant,
    Shape,
    i16,
    (usize, &'a [i8]),
    &'a [i8],
    (&'a [i32], &'a [i32], &'a [i32]),
    Simd,
);

/// The convolution with a stage of `S` values and `W` weight pairs (enough for `s`).
#[inline(never)]
fn run<const S: usize, const W: usize>(
    (p, q, s, zp, (rows, x), w, (bias, multiplier, shift), simd): RunArgs<'_>,
    y: &mut [i8],
) {
    let mut packed = [0i32; W];
    pack_weights(p, &s, w, &mut packed);
    // every sample is staged at the same places: the padding stays zero
    let mut stage = [0i16; S];
    let x_len = p.in_channels * p.in_h * p.in_w;
    let y_len = p.out_channels * p.out_h * p.out_w;
    let samples = x.chunks(x_len.max(1)).zip(y.chunks_mut(y_len.max(1)));
    for (x, y) in samples.take(rows) {
        stage_input(p, &s, zp, x, &mut stage);
        run_sample(
            p,
            q,
            &s,
            (&stage, &packed),
            (bias, multiplier, shift),
            simd,
            y,
        );
    }
}

/// One sample's output from its staged input and the packed weights.
fn run_sample(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    s: &Shape,
    (stage, packed): (&[i16], &[i32]),
    (bias, multiplier, shift): (&[i32], &[i32], &[i32]),
    simd: Simd,
    y: &mut [i8],
) {
    let s = *s;
    let m = p.out_channels;
    let plane = p.out_h * p.out_w;
    let out = (q.output_zero_point, q.act_min, q.act_max);
    let full = m - m % MB;
    let requant = |m: usize| [bias[m], multiplier[m], shift[m]].map(|v| [v; 8]);
    for oy in 0..p.out_h {
        for x0 in (0..p.out_w).step_by(PT) {
            let t = Tile {
                s,
                kh: p.kernel_h,
                kw: p.kernel_w,
                first_row: oy * p.stride_h,
                x0,
            };
            let cols = PT.min(p.out_w - x0);
            let at = oy * p.out_w + x0;
            for m0 in (0..full).step_by(MB) {
                let r = core::array::from_fn(|j| requant(m0 + j));
                let q = block::<MB>(&t, stage, packed, m0, r, out, simd);
                for (j, q) in q.iter().enumerate() {
                    y[(m0 + j) * plane + at..][..cols].copy_from_slice(&q[..cols]);
                }
            }
            for m0 in full..m {
                let [q] = block::<1>(&t, stage, packed, m0, [requant(m0)], out, simd);
                y[m0 * plane + at..][..cols].copy_from_slice(&q[..cols]);
            }
        }
    }
}

/// Writes `x − zp` as channel pairs into `stage` (zero where padding or past `C`).
fn stage_input(p: &Conv2dParams, s: &Shape, zp: i16, x: &[i8], stage: &mut [i16]) {
    for (c, plane) in x
        .chunks_exact(p.in_h * p.in_w)
        .take(p.in_channels)
        .enumerate()
    {
        let (cp, lane) = (c / 2, c % 2);
        for (iy, src) in plane.chunks_exact(p.in_w).enumerate() {
            // staged row iy + pt; rows past the last one any output reads are not staged
            let r = iy + p.pad_top;
            if r >= s.rows {
                break;
            }
            let row = &mut stage[(cp * s.rows + r) * s.row_len..][..s.row_len];
            for (pair, &v) in row.chunks_exact_mut(2).skip(p.pad_left).zip(src) {
                pair[lane] = i16::from(v) - zp;
            }
        }
    }
}

/// Packs weight pairs `(w[m, 2i, ky, kx], w[m, 2i+1, ky, kx])` as `i32`s (low half first):
/// for output channels in blocks of [`MB`] (then one by one), tap `(i, ky, kx)` of block
/// `m0` holds its channels' pairs at `m0·per_m + tap·n + j`.
fn pack_weights(p: &Conv2dParams, s: &Shape, w: &[i8], packed: &mut [i32]) {
    let taps = p.kernel_h * p.kernel_w;
    let full = p.out_channels - p.out_channels % MB;
    let weight = |m: usize, c: usize, t: usize| {
        if c < p.in_channels {
            i16::from(w[(m * p.in_channels + c) * taps + t])
        } else {
            0
        }
    };
    for m in 0..p.out_channels {
        let (m0, n) = if m < full { (m - m % MB, MB) } else { (m, 1) };
        for i in 0..s.pairs {
            for t in 0..taps {
                let (lo, hi) = (weight(m, 2 * i, t), weight(m, 2 * i + 1, t));
                let tap = i * taps + t;
                packed[m0 * s.per_m + tap * n + (m - m0)] =
                    (u32::from(lo as u16) | (u32::from(hi as u16) << 16)) as i32;
            }
        }
    }
}

/// One tile's position: output row `first_row / sh`, columns `x0..x0 + PT`.
struct Tile {
    s: Shape,
    kh: usize,
    kw: usize,
    /// First staged row the tile reads (`oy·sh`).
    first_row: usize,
    x0: usize,
}

/// Requantisation parameters of a block's channels (each splat over eight lanes).
type BlockRequant<const N: usize> = [[[i32; 8]; 3]; N];

/// The int8 outputs of channels `m0..m0 + N` over the tile (`out`: zero point and clamps).
#[inline(always)]
fn block<const N: usize>(
    t: &Tile,
    stage: &[i16],
    packed: &[i32],
    m0: usize,
    requant: BlockRequant<N>,
    out: (i32, i32, i32),
    simd: Simd,
) -> [[i8; PT]; N] {
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `block_avx2` is safe code that needs AVX2, and a `Simd` says AVX2 only
        // when `Simd::detect` found it on this CPU.
        return unsafe { block_avx2::<N>(t, stage, packed, m0, requant, out) };
    }
    let _ = simd;
    let acc = tile_portable::<N>(t, stage, packed, m0);
    finish(acc, requant, out, requantize8_portable)
}

/// Requantises a block's accumulators eight at a time with `requant8`.
#[inline(always)]
fn finish<const N: usize>(
    acc: [[i32; PT]; N],
    requant: BlockRequant<N>,
    out: (i32, i32, i32),
    requant8: impl Fn([i32; 8], [[i32; 8]; 3], (i32, i32, i32)) -> [i8; 8],
) -> [[i8; PT]; N] {
    core::array::from_fn(|j| {
        let half =
            |h: usize| requant8(core::array::from_fn(|i| acc[j][8 * h + i]), requant[j], out);
        let (lo, hi) = (half(0), half(1));
        core::array::from_fn(|i| if i < 8 { lo[i] } else { hi[i - 8] })
    })
}

/// AVX2 body of [`block`]: the tile's multiply-accumulates and the requantisation, inlined
/// into one function.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_avx2<const N: usize>(
    t: &Tile,
    stage: &[i16],
    packed: &[i32],
    m0: usize,
    requant: BlockRequant<N>,
    out: (i32, i32, i32),
) -> [[i8; PT]; N] {
    let acc = tile_avx2::<N>(t, stage, packed, m0);
    finish(acc, requant, out, |a, r, o| requantize8_avx2(a, r, o))
}

/// Calls `tap(inputs, weights)` for each tap of the tile: the `2·PT` staged values under it
/// and the `N` packed weight pairs of the block. Stops early (leaving outputs short) only if
/// the stage or weights are shorter than the shape says, which `conv2d_i8_host` rules out.
#[inline(always)]
fn for_each_tap<const N: usize>(
    t: &Tile,
    stage: &[i16],
    packed: &[i32],
    m0: usize,
    mut tap: impl FnMut(&[i16; 2 * PT], &[i32; N]),
) {
    let weights = packed.get(m0 * t.s.per_m..).unwrap_or(&[]);
    let mut wi = 0;
    for i in 0..t.s.pairs {
        for ky in 0..t.kh {
            let row = (i * t.s.rows + t.first_row + ky) * t.s.row_len + 2 * t.x0;
            for kx in 0..t.kw {
                let seg = stage.get(row + 2 * kx..).and_then(|v| v.first_chunk());
                let wv = weights.get(wi..).and_then(|v| v.first_chunk());
                let (Some(seg), Some(wv)) = (seg, wv) else {
                    return;
                };
                tap(seg, wv);
                wi += N;
            }
        }
    }
}

/// Portable body: LLVM vectorises the `PT`-column loop (NEON `smlal`, SSE2 `pmaddwd`).
#[inline(always)]
fn tile_portable<const N: usize>(
    t: &Tile,
    stage: &[i16],
    packed: &[i32],
    m0: usize,
) -> [[i32; PT]; N] {
    let mut acc = [[0i32; PT]; N];
    for_each_tap::<N>(t, stage, packed, m0, |seg, wv| {
        for (a, &pair) in acc.iter_mut().zip(wv) {
            // the low half, and the high half sign-extended
            let (w0, w1) = (i32::from(pair as i16), pair >> 16);
            for (a, x) in a.iter_mut().zip(seg.chunks_exact(2)) {
                *a = a.wrapping_add(i32::from(x[0]) * w0 + i32::from(x[1]) * w1);
            }
        }
    });
    acc
}

/// AVX2 body: per tap, two 16-pair input vectors, each multiplied by the block's
/// broadcast weight pairs with `vpmaddwd` (|x̃| ≤ 255, |w| ≤ 128: no pair saturates).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn tile_avx2<const N: usize>(t: &Tile, stage: &[i16], packed: &[i32], m0: usize) -> [[i32; PT]; N] {
    use core::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_madd_epi16, _mm256_set1_epi32, _mm256_setzero_si256,
    };
    let mut acc = [[_mm256_setzero_si256(); 2]; N];
    for_each_tap::<N>(t, stage, packed, m0, |seg, wv| {
        let [lo, hi]: [__m256i; 2] = bytemuck::cast(*seg);
        for (a, &pair) in acc.iter_mut().zip(wv) {
            let b = _mm256_set1_epi32(pair);
            a[0] = _mm256_add_epi32(a[0], _mm256_madd_epi16(lo, b));
            a[1] = _mm256_add_epi32(a[1], _mm256_madd_epi16(hi, b));
        }
    });
    acc.map(bytemuck::cast)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv2d::conv2d_i8;
    use crate::kernels::cortex_m::conv2d::tests::{fashion_i8_cases, geometry};
    use crate::kernels::test_util::i8_vec;
    use proptest::prelude::*;

    /// The reference's output and this kernel's, with both bodies on x86-64.
    fn run(p: &Conv2dParams, q: &Conv2dI8Quant, x: &[i8], w: &[i8], seed: i32) {
        let m = p.out_channels;
        let bias: Vec<i32> = (0..m as i32)
            .map(|i| (i * 7919 + seed) % 20_000 - 10_000)
            .collect();
        let mult: Vec<i32> = (0..m as i32).map(|i| (1 << 30) + i * 999_983).collect();
        let shift: Vec<i32> = (0..m as i32).map(|i| -((i + seed).rem_euclid(9))).collect();
        let n = m * p.out_h * p.out_w;
        let (mut want, mut got) = (vec![0i8; n], vec![99i8; n]);
        conv2d_i8(p, q, x, w, &bias, &mult, &shift, &mut want);
        conv2d_i8_host(p, q, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "{p:?} {q:?}");
        // the portable body too, where the dispatcher picked AVX2
        let mut got = vec![99i8; n];
        conv2d_i8_with(
            p,
            q,
            1,
            x,
            w,
            (&bias, &mult, &shift),
            &mut got,
            Simd::PORTABLE,
        );
        assert_eq!(got, want, "portable {p:?} {q:?}");
        // a batch of three: the input, its reverse and its negation, each its own output
        let x = &x[..p.in_channels * p.in_h * p.in_w];
        let reversed = x.iter().rev().copied().collect();
        let negated = x.iter().map(|v| v.wrapping_neg()).collect();
        let xs: Vec<i8> = [x.to_vec(), reversed, negated].concat();
        let mut want3 = vec![0i8; 3 * n];
        for (xi, yi) in xs.chunks(x.len()).zip(want3.chunks_mut(n)) {
            conv2d_i8(p, q, xi, w, &bias, &mult, &shift, yi);
        }
        for simd in [Simd::detect(), Simd::PORTABLE] {
            let mut got = vec![99i8; 3 * n];
            conv2d_i8_with(p, q, 3, &xs, w, (&bias, &mult, &shift), &mut got, simd);
            assert_eq!(got, want3, "batch of 3, {simd:?} {p:?} {q:?}");
        }
    }

    #[test]
    fn fashion_shapes_match_reference() {
        for (c, hw, m) in [(64, 14, 32), (32, 28, 16), (16, 28, 1), (3, 64, 5)] {
            let p = geometry((c, hw, hw, m), (3, 3), (1, 1), (1, 1, 1, 1), m > 1);
            fashion_i8_cases(&p, |q, x, w, zp| run(&p, q, x, w, zp));
        }
    }

    #[test]
    fn extreme_values_do_not_saturate_the_pairs() {
        // x̃ = 127 − (−128) = 255 and w = −128 in every tap: the largest pair sums.
        let p = geometry((5, 6, 20, 6), (3, 3), (1, 1), (1, 1, 1, 1), false);
        let q = Conv2dI8Quant {
            input_zero_point: -128,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        run(&p, &q, &[127; 600], &[-128; 270], 1);
        run(&p, &q, &[-128; 600], &[127; 270], 2);
    }

    proptest! {
        #[test]
        fn matches_reference_exactly(
            (dims, k, s, pad, relu) in (
                (1usize..7, 1usize..8, 1usize..41, 1usize..10),
                (1usize..5, 1usize..5),
                (1usize..3, prop_oneof![Just(1usize), Just(1), Just(2)]),
                (0usize..4, 0usize..4, 0usize..4, 0usize..4),
                any::<bool>(),
            ).prop_filter("padding below the kernel, kernel fits", |&((_, h, w, _), (kh, kw), _, (pt, pl, pb, pr), _)| {
                pt < kh && pb < kh && pl < kw && pr < kw && h + pt + pb >= kh && w + pl + pr >= kw
            }),
            xq in i8_vec(3000),
            wq in i8_vec(4000),
            zp in prop_oneof![Just(-128i32), Just(127), -128i32..128],
            out_zp in -128i32..128,
            seed in 0i32..1000,
        ) {
            let p = geometry(dims, k, s, pad, relu);
            let (c, h, w, m) = dims;
            let x: Vec<i8> = xq.iter().cycle().take(c * h * w).copied().collect();
            let wt: Vec<i8> = wq.iter().cycle().take(m * c * k.0 * k.1).copied().collect();
            let act_min = if relu { out_zp } else { -128 };
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: out_zp, act_min, act_max: 127 };
            run(&p, &q, &x, &wt, seed);
        }
    }
}
