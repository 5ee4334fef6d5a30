//! int8 Dense for hosts: four output rows per pass, sixteen inputs per step; and for a
//! batch sampler, [`PackedDense`]: the weights packed once, six samples × sixteen rows
//! per pass.
//!
//! Each row's sum is kept in 16 (portable) or 8 (AVX2, `vpmaddwd` adding adjacent
//! products) 32-bit lanes and added up at the end; int8 sums are exact, so the result is
//! [`dense_i8`](crate::kernels::dense::dense_i8)'s bit for bit.

use super::Simd;
use super::requant::requantize8_portable;
#[cfg(target_arch = "x86_64")]
use super::requant::{Requant8, pack8, requantize8_avx2};
use crate::kernels::dense::DenseI8Params;
use crate::kernels::requantize;

/// Inputs per step.
const L: usize = 16;

/// int8 dense for hosts; equal to [`dense_i8`](crate::kernels::dense::dense_i8).
pub fn dense_i8_host(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    dense_i8_with(p, x, w, (bias, multiplier, shift), y, Simd::detect());
}

/// [`dense_i8_host`] with the bodies `simd` allows.
fn dense_i8_with(
    p: &DenseI8Params,
    x: &[i8],
    w: &[i8],
    (bias, multiplier, shift): (&[i32], &[i32], &[i32]),
    y: &mut [i8],
    simd: Simd,
) {
    let k = p.in_features.max(1);
    let x = x.get(..k).unwrap_or(x);
    let n = p.out_features.min(y.len()).min(w.len() / k);
    let n = n.min(bias.len()).min(multiplier.len()).min(shift.len());
    let out = (p.output_zero_point, p.act_min, p.act_max);
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() && x.len() == k {
        let g = Gemm {
            k,
            n,
            stride: n,
            rows: 1,
            x,
            w,
            bias: &|_| bias,
            multiplier,
            shift,
            out,
        };
        #[allow(unsafe_code)]
        // SAFETY: `gemm1_avx2` is safe code that needs AVX2, and a `Simd` says AVX2 only
        // when `Simd::detect` found it on this CPU.
        return unsafe { gemm1_avx2(&g, y) };
    }
    // row r and the rows after it: the AVX2 body reads past a row's end into the next
    // (multiplied by zero-padded inputs) rather than copying its last bytes
    let row = |r: usize| &w[r * k..];
    // eight rows at a time, requantised together
    let full = n - n % 8;
    for r0 in (0..full).step_by(8) {
        let rows = core::array::from_fn(|i| row(r0 + i));
        let lanes = |v: &[i32]| core::array::from_fn(|i| v[r0 + i]);
        let requant = [lanes(bias), lanes(multiplier), lanes(shift)];
        y[r0..r0 + 8].copy_from_slice(&rows8(x, rows, requant, out, simd));
    }
    for r in full..n {
        let acc = dot4(x, [row(r); 4], simd)[0];
        y[r] = requantize(
            acc.wrapping_add(bias[r]),
            multiplier[r],
            shift[r],
            p.output_zero_point,
            p.act_min,
            p.act_max,
        );
    }
}

/// The int8 outputs of eight rows (`requant`: their bias, multiplier and shift).
#[inline(always)]
fn rows8(
    x: &[i8],
    rows: [&[i8]; 8],
    requant: [[i32; 8]; 3],
    out: (i32, i32, i32),
    simd: Simd,
) -> [i8; 8] {
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `rows8_avx2` is safe code that needs AVX2, and a `Simd` says AVX2 only
        // when `Simd::detect` found it on this CPU.
        return unsafe { rows8_avx2(x, rows, requant, out) };
    }
    let [a, b] = [0, 4].map(|i| dot4_portable(x, [rows[i], rows[i + 1], rows[i + 2], rows[i + 3]]));
    let acc = core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] });
    requantize8_portable(acc, requant, out)
}

/// AVX2 body of [`rows8`], the dot products and the requantisation in one function.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rows8_avx2(x: &[i8], rows: [&[i8]; 8], requant: [[i32; 8]; 3], out: (i32, i32, i32)) -> [i8; 8] {
    // two direct calls (a closure mapped over [0, 4] was not inlined: 3x the instructions)
    let a = dot4_avx2(x, [rows[0], rows[1], rows[2], rows[3]]);
    let b = dot4_avx2(x, [rows[4], rows[5], rows[6], rows[7]]);
    let acc = core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] });
    requantize8_avx2(acc, requant, out)
}

/// The exact dot products of `x` with the first `x.len()` values of four rows.
#[inline(always)]
fn dot4(x: &[i8], rows: [&[i8]; 4], simd: Simd) -> [i32; 4] {
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `dot4_avx2` is safe code that needs AVX2, and a `Simd` says AVX2 only
        // when `Simd::detect` found it on this CPU.
        return unsafe { dot4_avx2(x, rows) };
    }
    let _ = simd;
    dot4_portable(x, rows)
}

/// Portable body: sixteen lanes per row (NEON `smlal`, SSE2 `pmaddwd`).
#[inline(always)]
fn dot4_portable(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    let mut lanes = [[0i32; L]; 4];
    let steps = x.len() / L;
    for s in 0..steps {
        let Some(xv) = x[s * L..].first_chunk::<L>() else {
            break;
        };
        for (acc, row) in lanes.iter_mut().zip(rows) {
            let Some(wv) = row.get(s * L..).and_then(<[i8]>::first_chunk::<L>) else {
                break;
            };
            for ((a, &xi), &wi) in acc.iter_mut().zip(xv).zip(wv) {
                *a = a.wrapping_add(i32::from(xi) * i32::from(wi));
            }
        }
    }
    let mut out = lanes.map(|acc| acc.iter().fold(0i32, |s, &v| s.wrapping_add(v)));
    for (o, row) in out.iter_mut().zip(rows) {
        *o = tail_dot(x, row, steps * L, *o);
    }
    out
}

/// `acc` plus the products of `x[from..]` and `row[from..]`.
#[inline(always)]
fn tail_dot(x: &[i8], row: &[i8], from: usize, acc: i32) -> i32 {
    let (x, row) = (x.get(from..).unwrap_or(&[]), row.get(from..).unwrap_or(&[]));
    x.iter().zip(row).fold(acc, |s, (&a, &b)| {
        s.wrapping_add(i32::from(a) * i32::from(b))
    })
}

/// AVX2 body: inputs and weights widened to 16 bits, adjacent products added in pairs by
/// `vpmaddwd` (|x·w| ≤ 2^14: no pair saturates). The four accumulators are locals, so that
/// they stay in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot4_avx2(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    use core::arch::x86_64::*;
    let widen = |v: &[i8; L]| _mm256_cvtepi8_epi16(bytemuck::cast::<[i8; L], __m128i>(*v));
    let zero = _mm256_setzero_si256();
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    macro_rules! step {
        ($x:expr, $w0:expr, $w1:expr, $w2:expr, $w3:expr) => {{
            let x = $x;
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x, $w0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x, $w1));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x, $w2));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x, $w3));
        }};
    }
    let len = x.len();
    let from = len - len % L;
    fn full(v: &[i8], from: usize) -> core::slice::ChunksExact<'_, i8> {
        v.get(..from).unwrap_or(&[]).chunks_exact(L)
    }
    let chunk = |v: &[i8]| -> [i8; L] { v.try_into().unwrap_or([0; L]) };
    let [w0, w1, w2, w3] = rows.map(|r| full(r, from));
    for (xv, ((w0, w1), (w2, w3))) in full(x, from).zip(w0.zip(w1).zip(w2.zip(w3))) {
        step!(
            widen(&chunk(xv)),
            widen(&chunk(w0)),
            widen(&chunk(w1)),
            widen(&chunk(w2)),
            widen(&chunk(w3))
        );
    }
    // the last `len % 16` inputs as one more step, zero-padded (the weights read straight
    // from the row, running into the next rows' bytes where there are 16: those lanes
    // meet zero inputs)
    if from < len {
        let w = |r: &[i8]| match r.get(from..).and_then(<[i8]>::first_chunk::<L>) {
            Some(c) => widen(c),
            None => widen(&padded16(r.get(from..len).unwrap_or(&[]))),
        };
        let (p0, p1, p2, p3) = (w(rows[0]), w(rows[1]), w(rows[2]), w(rows[3]));
        step!(
            widen(&padded16(x.get(from..).unwrap_or(&[]))),
            p0,
            p1,
            p2,
            p3
        );
    }
    // the four rows' eight lanes added up by horizontal adds (wrapping, like the sums)
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    bytemuck::cast(sums)
}

/// int8 Dense over a batch, for hosts: `x` is `[rows, K]` and `y` is `[rows, N]`, one
/// sample after another. Sample `s` adds row `bias_rows[s]` of the `[_, N]` bias table
/// `bias` (row 0 for every sample when `bias_rows` is `None`: a label-indexed bias table
/// passes the labels). Each row of `y` equals [`dense_i8`](crate::kernels::dense::dense_i8)
/// of the same row of `x` with its bias row, bit for bit.
///
/// Two samples share each pass over the weights (four rows × sixteen inputs, eight rows
/// requantised together), so each weight vector loaded serves two samples and each input
/// vector four rows. A sample whose bias row is missing is left as it was (the op checks
/// the rows; kernels do not).
#[allow(clippy::too_many_arguments)]
pub fn dense_i8_batch_host(
    p: &DenseI8Params,
    rows: usize,
    x: &[i8],
    w: &[i8],
    (bias, bias_rows): (&[i32], Option<&[usize]>),
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    dense_i8_batch_with(
        p,
        rows,
        x,
        w,
        (bias, bias_rows),
        (multiplier, shift),
        y,
        Simd::detect(),
    );
}

/// [`dense_i8_batch_host`] with the bodies `simd` allows.
#[allow(clippy::too_many_arguments)]
fn dense_i8_batch_with(
    p: &DenseI8Params,
    rows: usize,
    x: &[i8],
    w: &[i8],
    (bias, bias_rows): (&[i32], Option<&[usize]>),
    (multiplier, shift): (&[i32], &[i32]),
    y: &mut [i8],
    simd: Simd,
) {
    let k = p.in_features.max(1);
    let stride = p.out_features;
    if stride == 0 {
        return;
    }
    let rows = rows.min(x.len() / k).min(y.len() / stride);
    let n = stride
        .min(w.len() / k)
        .min(multiplier.len())
        .min(shift.len());
    let bias_of = |s: usize| -> Option<&[i32]> {
        let r = bias_rows.map_or(Some(0), |b| b.get(s).copied())?;
        bias.get(r.checked_mul(stride)?..)?.get(..n)
    };
    if !(0..rows).all(|s| bias_of(s).is_some()) {
        // a missing bias row: make the samples that have one, alone
        for s in 0..rows {
            if let Some(b) = bias_of(s) {
                let (x, y) = (&x[s * k..(s + 1) * k], &mut y[s * stride..s * stride + n]);
                dense_i8_with(p, x, w, (b, multiplier, shift), y, simd);
            }
        }
        return;
    }
    if rows == 1 {
        // one sample: the per-sample kernel (a pair would make it twice)
        if let Some(b) = bias_of(0) {
            dense_i8_with(p, &x[..k], w, (b, multiplier, shift), &mut y[..n], simd);
        }
        return;
    }
    let g = Gemm {
        k,
        n,
        stride,
        rows,
        x,
        w,
        bias: &|s| bias_of(s).unwrap_or(&[]),
        multiplier,
        shift,
        out: (p.output_zero_point, p.act_min, p.act_max),
    };
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `gemm_avx2` is safe code that needs AVX2, and a `Simd` says AVX2 only
        // when `Simd::detect` found it on this CPU.
        return unsafe { gemm_avx2(&g, y) };
    }
    gemm_portable(&g, y);
}

/// One batch Dense, its sizes checked: `n ≤ stride` rows of `k` weights; sample `s` of
/// `x` at `s·k`, of `y` at `s·stride`, its bias row `bias(s)` (`n` values).
struct Gemm<'a> {
    k: usize,
    n: usize,
    stride: usize,
    rows: usize,
    x: &'a [i8],
    w: &'a [i8],
    bias: &'a dyn Fn(usize) -> &'a [i32],
    multiplier: &'a [i32],
    shift: &'a [i32],
    out: (i32, i32, i32),
}

impl Gemm<'_> {
    fn x_row(&self, s: usize) -> &[i8] {
        self.x.get(s * self.k..(s + 1) * self.k).unwrap_or(&[])
    }

    fn w_row(&self, r: usize) -> &[i8] {
        self.w.get(r * self.k..(r + 1) * self.k).unwrap_or(&[])
    }

    /// Sample pairs `(s0, s1)`: an odd last sample is paired with itself (written twice).
    fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let rows = self.rows;
        (0..rows)
            .step_by(2)
            .map(move |s| (s, (s + 1).min(rows - 1)))
    }

    /// The rows past the last block of eight, up to four at a time (`dot4`: the dot
    /// products of an input with four rows).
    fn tail(&self, y: &mut [i8], dot4: impl Fn(&[i8], [&[i8]; 4]) -> [i32; 4]) {
        let (zp, min, max) = self.out;
        let first = self.n - self.n % 8;
        for r0 in (first..self.n).step_by(4) {
            let count = 4.min(self.n - r0);
            // past the last row: the first again (computed, not written)
            let rows = core::array::from_fn(|i| self.w_row(if i < count { r0 + i } else { r0 }));
            for s in 0..self.rows {
                let acc = dot4(self.x_row(s), rows);
                let bias = (self.bias)(s);
                for (i, &acc) in acc.iter().enumerate().take(count) {
                    let r = r0 + i;
                    let b = bias.get(r).copied().unwrap_or(0);
                    let q = requantize(
                        acc.wrapping_add(b),
                        self.multiplier[r],
                        self.shift[r],
                        zp,
                        min,
                        max,
                    );
                    y[s * self.stride + r] = q;
                }
            }
        }
    }
}

/// Portable body of the batch Dense: eight rows, then each sample pair under them.
fn gemm_portable(g: &Gemm<'_>, y: &mut [i8]) {
    for r0 in (0..g.n - g.n % 8).step_by(8) {
        let lanes = |v: &[i32]| core::array::from_fn(|i| v[r0 + i]);
        let (m, sh) = (lanes(g.multiplier), lanes(g.shift));
        for (s0, s1) in g.pairs() {
            for s in [s0, s1] {
                let x = g.x_row(s);
                let [a, b] = [r0, r0 + 4]
                    .map(|r| dot4_portable(x, core::array::from_fn(|i| g.w_row(r + i))));
                let acc = core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] });
                let q = requantize8_portable(acc, [lanes((g.bias)(s)), m, sh], g.out);
                y[s * g.stride + r0..][..8].copy_from_slice(&q);
            }
        }
    }
    g.tail(y, |x, rows| rows.map(|w| tail_dot(x, w, 0, 0)));
}

/// AVX2 body of the one-sample Dense: for each block of eight rows, the dot products four
/// rows at a time and the block's requantisation, all inlined into one function.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gemm1_avx2(g: &Gemm<'_>, y: &mut [i8]) {
    use core::arch::x86_64::*;
    let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], __m256i>(a);
    let lanes = |v: &[i32], r0: usize| -> [i32; 8] {
        v.get(r0..)
            .and_then(<[i32]>::first_chunk::<8>)
            .copied()
            .unwrap_or([0; 8])
    };
    let x = g.x_row(0);
    let bias = (g.bias)(0);
    // weight rows to the end of `w` (see `dot4_avx2`)
    let ws = |r: usize| g.w.get(r * g.k..).unwrap_or(&[]);
    for r0 in (0..g.n - g.n % 8).step_by(8) {
        let (m, sh) = (lanes(g.multiplier, r0), lanes(g.shift, r0));
        let a = dot4_avx2(x, [ws(r0), ws(r0 + 1), ws(r0 + 2), ws(r0 + 3)]);
        let b = dot4_avx2(x, [ws(r0 + 4), ws(r0 + 5), ws(r0 + 6), ws(r0 + 7)]);
        let acc: [i32; 8] = core::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] });
        let bias = lanes(bias, r0);
        let q = match Requant8::new(m, sh, g.out) {
            Some(rq) => pack8(rq.apply(v(acc), v(bias))),
            None => requantize8_portable(acc, [bias, m, sh], g.out),
        };
        if let Some(dst) = y.get_mut(r0..).and_then(<[i8]>::first_chunk_mut::<8>) {
            *dst = q;
        }
    }
    g.tail(y, |x, rows| dot4_avx2(x, rows));
}

/// Blocks of eight rows whose requantisation [`gemm_avx2`] makes at once (128 rows).
#[cfg(target_arch = "x86_64")]
const GROUP: usize = 16;

/// AVX2 body of the batch Dense: rows in groups of [`GROUP`] blocks of eight (each block's
/// requantisation made once); for each sample pair (its inputs' last `K % 16` values
/// padded once per group), each block's dot products four rows at a time, each weight
/// vector widened once for both samples, and its requantisation.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gemm_avx2(g: &Gemm<'_>, y: &mut [i8]) {
    use core::arch::x86_64::*;
    let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], __m256i>(a);
    let lanes = |v: &[i32], r0: usize| -> [i32; 8] {
        v.get(r0..)
            .and_then(<[i32]>::first_chunk::<8>)
            .copied()
            .unwrap_or([0; 8])
    };
    let from = g.k - g.k % L;
    let blocks = g.n / 8;
    // weight rows r.. to the end: a tail reads on into the next row's weights, which
    // meet zero-padded inputs (padded itself only at the end of `w`)
    let ws = |r: usize| g.w.get(r * g.k..).unwrap_or(&[]);
    for first in (0..blocks).step_by(GROUP) {
        let count = GROUP.min(blocks - first);
        let rqs: [Option<Requant8>; GROUP] = core::array::from_fn(|i| {
            let r0 = (first + i) * 8;
            let requant = Requant8::new(lanes(g.multiplier, r0), lanes(g.shift, r0), g.out);
            if i < count { requant } else { None }
        });
        let rows: [[&[i8]; 4]; 2 * GROUP] =
            core::array::from_fn(|h| core::array::from_fn(|i| ws(first * 8 + 4 * h + i)));
        for (s0, s1) in g.pairs() {
            let xs = [g.x_row(s0), g.x_row(s1)];
            let tails = xs.map(|x| padded16(x.get(from..).unwrap_or(&[])));
            let biases = [(g.bias)(s0), (g.bias)(s1)];
            for (i, (rq, rows)) in rqs.iter().zip(rows.chunks_exact(2)).enumerate().take(count) {
                let r0 = (first + i) * 8;
                let a = dot2x4_avx2(xs, tails, rows[0]);
                let b = dot2x4_avx2(xs, tails, rows[1]);
                for (j, s) in [(0, s0), (1, s1)] {
                    let acc = _mm256_set_m128i(b[j], a[j]);
                    let bias = lanes(biases[j], r0);
                    let q = match rq {
                        Some(rq) => pack8(rq.apply(acc, v(bias))),
                        None => {
                            let (m, sh) = (lanes(g.multiplier, r0), lanes(g.shift, r0));
                            requantize8_portable(bytemuck::cast(acc), [bias, m, sh], g.out)
                        }
                    };
                    if let Some(dst) = y
                        .get_mut(s * g.stride + r0..)
                        .and_then(<[i8]>::first_chunk_mut::<8>)
                    {
                        *dst = q;
                    }
                }
            }
        }
    }
    g.tail(y, |x, rows| dot4_avx2(x, rows));
}

/// Rows per block of [`PackedDense`]'s kernel: two vectors of eight.
const PACKED_ROWS: usize = 16;
/// Samples per pass of [`PackedDense`]'s kernel.
const PACKED_SAMPLES: usize = 6;

/// A Dense's weights packed once for the batch kernel, with its buffers, for a sampler
/// that runs it many times ([`crate::BatchSampler`], which keeps one per int8 Dense): the
/// weights widened to 16 bits, for each block of [`PACKED_ROWS`] rows and each pair of
/// inputs `(2p, 2p + 1)` the rows' pairs side by side (two vectors of eight `vpmaddwd`
/// lanes). The kernel ([`dense_i8_packed_host`]) broadcasts a sample's input pair to every
/// lane, so that one multiply-accumulate instruction adds two inputs' products to eight
/// rows: [`PACKED_SAMPLES`] samples × 16 rows in twelve accumulators, no horizontal sums,
/// no widening in the loop; the sums go to a buffer and are requantised in a second pass,
/// eight rows of one sample at a time. x86-64 with AVX2 only (elsewhere
/// [`dense_i8_batch_host`] runs).
#[cfg(any(test, feature = "std"))]
#[derive(Clone, Debug)]
pub struct PackedDense {
    /// The sizes and quantisation it was packed for (a call with others is refused).
    made_for: DenseI8Params,
    /// Input pairs: `⌈K / 2⌉`.
    pairs: usize,
    /// Per block of rows, per input pair, 16 words `(w[r, 2p], w[r, 2p + 1])` as two
    /// 16-bit lanes (rows past `N`, and the odd `K`'s last input, zero).
    w: std::vec::Vec<i32>,
    /// Each sample's input as `pairs` such words; samples rounded up to whole passes (a
    /// last pass's extra samples are computed from whatever is there and not used).
    stage: std::vec::Vec<i32>,
    /// The sums, per block of rows, per sample, the block's 16 (block-major: the
    /// requantisation walks the samples of one block).
    sums: std::vec::Vec<i32>,
    /// Samples rounded up to whole passes.
    samples: usize,
    capacity: usize,
}

/// Two int8 values as one word of two 16-bit lanes (`lo` in the bottom one, as a
/// little-endian `[i16; 2]` lays them out: the staged inputs' layout).
#[inline(always)]
fn lane_pair(lo: i8, hi: i8) -> i32 {
    bytemuck::cast([i16::from(lo), i16::from(hi)])
}

#[cfg(any(test, feature = "std"))]
impl PackedDense {
    /// `w` (`[N, K]`) packed for up to `capacity` samples a call, or `None` where the
    /// packed kernel does not run (no AVX2; then [`dense_i8_batch_host`] does).
    pub fn new(p: &DenseI8Params, w: &[i8], capacity: usize) -> Option<Self> {
        let (k, n) = (p.in_features, p.out_features);
        if !cfg!(target_arch = "x86_64") || !Simd::detect().avx2() || k == 0 || n == 0 {
            return None;
        }
        let w = w.get(..k.checked_mul(n)?)?;
        let pairs = k.div_ceil(2);
        let rows_padded = n.div_ceil(PACKED_ROWS) * PACKED_ROWS;
        let mut packed = std::vec![0i32; rows_padded.checked_mul(pairs)?];
        for (b, block) in packed.chunks_exact_mut(pairs * PACKED_ROWS).enumerate() {
            for (pair, words) in block.chunks_exact_mut(PACKED_ROWS).enumerate() {
                for (i, word) in words.iter_mut().enumerate() {
                    let Some(row) = w.get((b * PACKED_ROWS + i) * k..) else {
                        continue;
                    };
                    let at = |j: usize| {
                        if j < k {
                            row.get(j).copied().unwrap_or(0)
                        } else {
                            0
                        }
                    };
                    *word = lane_pair(at(2 * pair), at(2 * pair + 1));
                }
            }
        }
        let samples = capacity.checked_next_multiple_of(PACKED_SAMPLES)?;
        Some(PackedDense {
            made_for: *p,
            pairs,
            w: packed,
            stage: std::vec![0; samples.checked_mul(pairs)?],
            sums: std::vec![0; samples.checked_mul(rows_padded)?],
            samples,
            capacity,
        })
    }
}

/// [`dense_i8_batch_host`] with the weights packed by [`PackedDense::new`] for the same
/// sizes and quantisation; `false` (nothing written) when `packed` was made for others or
/// for fewer samples, for fewer than half a pass of samples, or a sample's bias row is
/// missing: the caller then runs [`dense_i8_batch_host`]. Equal to it bit for bit.
#[cfg(any(test, feature = "std"))]
#[allow(clippy::too_many_arguments)]
pub fn dense_i8_packed_host(
    p: &DenseI8Params,
    packed: &mut PackedDense,
    rows: usize,
    x: &[i8],
    (bias, bias_rows): (&[i32], Option<&[usize]>),
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) -> bool {
    let (k, n) = (p.in_features, p.out_features);
    let bias_of = |s: usize| -> Option<&[i32]> {
        let r = bias_rows.map_or(Some(0), |b| b.get(s).copied())?;
        bias.get(r.checked_mul(n)?..)?.get(..n)
    };
    // (fewer samples than half a pass: the pass's empty places would cost more than the
    // packing saves; the per-sample kernels are faster there)
    let fits = packed.made_for == *p
        && (PACKED_SAMPLES / 2..=packed.capacity).contains(&rows)
        && x.len() >= rows * k
        && y.len() >= rows * n
        && multiplier.len() >= n
        && shift.len() >= n
        && (0..rows).all(|s| bias_of(s).is_some());
    if !fits {
        return false;
    }
    let pairs = packed.pairs;
    // each sample's input widened to 16 bits (little-endian lanes: value 2p is the bottom
    // half of word p; an odd K's last word keeps its zero top half)
    for (xs, stage) in x
        .chunks_exact(k)
        .zip(packed.stage.chunks_exact_mut(pairs))
        .take(rows)
    {
        let halves: &mut [i16] = bytemuck::cast_slice_mut(stage);
        for (d, &v) in halves.iter_mut().zip(xs) {
            *d = i16::from(v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        let passes = rows.div_ceil(PACKED_SAMPLES);
        #[allow(unsafe_code)]
        // SAFETY: these are safe code that needs AVX2; a `PackedDense` is made only when
        // `Simd::detect` found it on this CPU.
        unsafe {
            sums_packed_avx2(packed, passes);
            let out = (p.output_zero_point, p.act_min, p.act_max);
            let bias = (bias, bias_rows);
            requantize_rows_avx2(packed, n, rows, bias, (multiplier, shift), out, y);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (pairs, y, multiplier, shift);
        false
    }
}

/// The sums of [`PackedDense`]: for each block of 16 rows, for each pass of six samples,
/// the sixteen rows' sums of the six samples in twelve accumulators, stored to `sums`.
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
#[target_feature(enable = "avx2")]
fn sums_packed_avx2(d: &mut PackedDense, passes: usize) {
    use core::arch::x86_64::*;
    let v = |a: &[i32; 8]| bytemuck::cast::<[i32; 8], __m256i>(*a);
    let pairs = d.pairs.max(1);
    let (words, _) = d.w.as_chunks::<PACKED_ROWS>();
    let sums = d.sums.chunks_exact_mut(d.samples * PACKED_ROWS);
    for (block, sums) in words.chunks_exact(pairs).zip(sums) {
        let (sums, _) = sums.as_chunks_mut::<PACKED_ROWS>();
        let stages = d.stage.chunks_exact(pairs * PACKED_SAMPLES).take(passes);
        for (stage, sums) in stages.zip(sums.chunks_exact_mut(PACKED_SAMPLES)) {
            let (x0, rest) = stage.split_at(pairs);
            let (x1, rest) = rest.split_at(pairs);
            let (x2, rest) = rest.split_at(pairs);
            let (x3, rest) = rest.split_at(pairs);
            let (x4, x5) = rest.split_at(pairs);
            let zero = _mm256_setzero_si256();
            let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) =
                (zero, zero, zero, zero, zero, zero);
            let (mut b0, mut b1, mut b2, mut b3, mut b4, mut b5) =
                (zero, zero, zero, zero, zero, zero);
            let inputs = x0.iter().zip(x1).zip(x2).zip(x3).zip(x4).zip(x5);
            for (w, (((((&p0, &p1), &p2), &p3), &p4), &p5)) in block.iter().zip(inputs) {
                let (lo, hi) = w.split_at(8);
                let (wa, wb) = (
                    v(lo.try_into().unwrap_or(&[0; 8])),
                    v(hi.try_into().unwrap_or(&[0; 8])),
                );
                // one sample's input pair, broadcast, into its two accumulators
                macro_rules! mac {
                    ($($p:ident $a:ident $b:ident),*) => {$(
                        let x = _mm256_set1_epi32($p);
                        $a = _mm256_add_epi32($a, _mm256_madd_epi16(x, wa));
                        $b = _mm256_add_epi32($b, _mm256_madd_epi16(x, wb));
                    )*};
                }
                mac!(p0 a0 b0, p1 a1 b1, p2 a2 b2, p3 a3 b3, p4 a4 b4, p5 a5 b5);
            }
            for (dst, (a, b)) in
                sums.iter_mut()
                    .zip([(a0, b0), (a1, b1), (a2, b2), (a3, b3), (a4, b4), (a5, b5)])
            {
                *dst = bytemuck::cast::<[__m256i; 2], [i32; 16]>([a, b]);
            }
        }
    }
}

/// `v[r0..r0 + 8]`, zero past its end.
#[inline(always)]
fn lanes8(v: &[i32], r0: usize) -> [i32; 8] {
    let v = v.get(r0..).unwrap_or(&[]);
    if let Some(&whole) = v.first_chunk::<8>() {
        return whole;
    }
    let mut a = [0; 8];
    for (d, &s) in a.iter_mut().zip(v) {
        *d = s;
    }
    a
}

/// The requantisation of [`PackedDense`]'s sums: for each block of eight rows (its
/// requantisation made once), each sample's eight outputs (the first `n − r0` of the last
/// block).
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
#[target_feature(enable = "avx2")]
fn requantize_rows_avx2(
    d: &PackedDense,
    n: usize,
    rows: usize,
    (bias, bias_rows): (&[i32], Option<&[usize]>),
    (multiplier, shift): (&[i32], &[i32]),
    out: (i32, i32, i32),
    y: &mut [i8],
) {
    let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], core::arch::x86_64::__m256i>(a);
    let blocks = d.sums.chunks_exact(d.samples * PACKED_ROWS);
    for (b, block) in blocks.enumerate() {
        let (block, _) = block.as_chunks::<PACKED_ROWS>();
        for half in 0..2 {
            let r0 = b * PACKED_ROWS + 8 * half;
            if r0 >= n {
                break;
            }
            let (m, sh) = (lanes8(multiplier, r0), lanes8(shift, r0));
            let rq = Requant8::new(m, sh, out);
            let samples = block
                .iter()
                .zip(y.chunks_exact_mut(n))
                .take(rows)
                .enumerate();
            for (s, (sums, y)) in samples {
                let acc: [i32; 8] = sums.as_chunks::<8>().0.get(half).copied().unwrap_or([0; 8]);
                // (each sample's row was checked to be in the table)
                let row = bias_rows.map_or(0, |b| b.get(s).copied().unwrap_or(0));
                let bias = lanes8(bias, row * n + r0);
                let q = match &rq {
                    Some(rq) => pack8(rq.apply(v(acc), v(bias))),
                    None => requantize8_portable(acc, [bias, m, sh], out),
                };
                let dst = y.get_mut(r0..).unwrap_or(&mut []);
                if let Some(dst) = dst.first_chunk_mut::<8>() {
                    *dst = q;
                } else {
                    // (the last block's rows one by one: a `copy_from_slice` of a
                    // variable length is a `memcpy` call)
                    for (d, &v) in dst.iter_mut().zip(&q) {
                        *d = v;
                    }
                }
            }
        }
    }
}

/// `v` (at most 16 values) zero-padded to 16.
#[inline(always)]
fn padded16(v: &[i8]) -> [i8; L] {
    let mut b = [0i8; L];
    for (d, &s) in b.iter_mut().zip(v) {
        *d = s;
    }
    b
}

/// AVX2: the exact dot products of two inputs `xs` (of one length `k`, their values from
/// `k − k % 16` on given zero-padded in `tails`) with four rows (each at least `k` long),
/// each weight vector widened once for both inputs; per input the four sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot2x4_avx2(
    xs: [&[i8]; 2],
    tails: [[i8; L]; 2],
    rows: [&[i8]; 4],
) -> [core::arch::x86_64::__m128i; 2] {
    use core::arch::x86_64::*;
    let widen = |v: &[i8; L]| _mm256_cvtepi8_epi16(bytemuck::cast::<[i8; L], __m128i>(*v));
    let zero = _mm256_setzero_si256();
    // the eight accumulators as locals, kept in registers
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    let (mut b0, mut b1, mut b2, mut b3) = (zero, zero, zero, zero);
    macro_rules! step {
        ($x0:expr, $x1:expr, $w0:expr, $w1:expr, $w2:expr, $w3:expr) => {{
            let (x0, x1) = ($x0, $x1);
            let w = $w0;
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w));
            b0 = _mm256_add_epi32(b0, _mm256_madd_epi16(x1, w));
            let w = $w1;
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x0, w));
            b1 = _mm256_add_epi32(b1, _mm256_madd_epi16(x1, w));
            let w = $w2;
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x0, w));
            b2 = _mm256_add_epi32(b2, _mm256_madd_epi16(x1, w));
            let w = $w3;
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x0, w));
            b3 = _mm256_add_epi32(b3, _mm256_madd_epi16(x1, w));
        }};
    }
    let len = xs[0].len().min(xs[1].len());
    let from = len - len % L;
    fn full(v: &[i8], from: usize) -> core::slice::ChunksExact<'_, i8> {
        v.get(..from).unwrap_or(&[]).chunks_exact(L)
    }
    let [x0, x1] = xs.map(|v| full(v, from));
    let [w0, w1, w2, w3] = rows.map(|v| full(v, from));
    let chunk = |v: &[i8]| -> [i8; L] { v.try_into().unwrap_or([0; L]) };
    for ((x0, x1), ((w0, w1), (w2, w3))) in x0.zip(x1).zip(w0.zip(w1).zip(w2.zip(w3))) {
        step!(
            widen(&chunk(x0)),
            widen(&chunk(x1)),
            widen(&chunk(w0)),
            widen(&chunk(w1)),
            widen(&chunk(w2)),
            widen(&chunk(w3))
        );
    }
    if from < len {
        // the weights straight from the row where 16 bytes remain (running into the next
        // row, against zero inputs), else zero-padded
        let w = |r: &[i8]| match r.get(from..).and_then(<[i8]>::first_chunk::<L>) {
            Some(c) => widen(c),
            None => widen(&padded16(r.get(from..len).unwrap_or(&[]))),
        };
        let (p0, p1, p2, p3) = (w(rows[0]), w(rows[1]), w(rows[2]), w(rows[3]));
        step!(widen(&tails[0]), widen(&tails[1]), p0, p1, p2, p3);
    }
    let sums = |a0, a1, a2, a3| {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    };
    [sums(a0, a1, a2, a3), sums(b0, b1, b2, b3)]
}

#[cfg(test)]
mod tests {
    crate::kernels::dense::dense_i8_tests!(dispatched, crate::kernels::host::dense::dense_i8_host);
    crate::kernels::dense::dense_i8_tests!(portable, super::portable);

    /// [`super::dense_i8_with`] with the portable body, in the reference's signature.
    fn portable(
        p: &crate::kernels::dense::DenseI8Params,
        x: &[i8],
        w: &[i8],
        bias: &[i32],
        multiplier: &[i32],
        shift: &[i32],
        y: &mut [i8],
    ) {
        super::dense_i8_with(p, x, w, (bias, multiplier, shift), y, super::Simd::PORTABLE);
    }

    // the batch kernel at one sample, through the per-kernel macro
    crate::kernels::dense::dense_i8_tests!(batch_dispatched, super::batch_of_one::<true>);
    crate::kernels::dense::dense_i8_tests!(batch_portable, super::batch_of_one::<false>);

    fn simd(dispatched: bool) -> super::Simd {
        if dispatched {
            super::Simd::detect()
        } else {
            super::Simd::PORTABLE
        }
    }

    /// [`super::dense_i8_batch_with`] for one sample, in the reference's signature.
    fn batch_of_one<const DISPATCHED: bool>(
        p: &crate::kernels::dense::DenseI8Params,
        x: &[i8],
        w: &[i8],
        bias: &[i32],
        multiplier: &[i32],
        shift: &[i32],
        y: &mut [i8],
    ) {
        super::dense_i8_batch_with(
            p,
            1,
            x,
            w,
            (bias, None),
            (multiplier, shift),
            y,
            simd(DISPATCHED),
        );
    }

    mod batch {
        use crate::kernels::dense::{DenseI8Params, dense_i8};
        use crate::kernels::test_util::*;
        use proptest::prelude::*;

        /// A batch problem: `rows` samples, a bias table of `classes` rows.
        #[derive(Debug, Clone)]
        struct Batch {
            p: DenseI8Params,
            rows: usize,
            x: Vec<i8>,
            w: Vec<i8>,
            bias: Vec<i32>,
            labels: Option<Vec<usize>>,
            mult: Vec<i32>,
            shift: Vec<i32>,
        }

        fn batch() -> impl Strategy<Value = Batch> {
            (
                1usize..15,
                1usize..70,
                1usize..21,
                1usize..4,
                -128i32..128,
                any::<bool>(),
            )
                .prop_flat_map(|(rows, k, n, classes, zp, relu)| {
                    (
                        i8_vec(rows * k),
                        i8_vec(k * n),
                        proptest::collection::vec(-100_000i32..100_000, classes * n),
                        proptest::option::of(proptest::collection::vec(0..classes, rows)),
                        proptest::collection::vec((1i32 << 30)..i32::MAX, n),
                        proptest::collection::vec(-20i32..2, n),
                    )
                        .prop_map(move |(x, w, bias, labels, mult, shift)| {
                            Batch {
                                p: DenseI8Params {
                                    in_features: k,
                                    out_features: n,
                                    output_zero_point: zp,
                                    act_min: if relu { zp } else { -128 },
                                    act_max: 127,
                                },
                                rows,
                                x,
                                w,
                                bias,
                                labels,
                                mult,
                                shift,
                            }
                        })
                })
        }

        /// Each row of the batch kernel's output against the reference on that row; with
        /// `dispatched`, the packed kernel's too (twice, through the buffers it keeps),
        /// where the CPU runs it.
        fn check(b: &Batch, dispatched: bool) -> Result<(), TestCaseError> {
            let n = b.p.out_features;
            let mut got = vec![99i8; b.rows * n];
            super::super::dense_i8_batch_with(
                &b.p,
                b.rows,
                &b.x,
                &b.w,
                (&b.bias, b.labels.as_deref()),
                (&b.mult, &b.shift),
                &mut got,
                super::simd(dispatched),
            );
            check_rows(b, &got)?;
            if dispatched {
                let packed = super::super::PackedDense::new(&b.p, &b.w, b.rows + 2);
                prop_assert_eq!(packed.is_some(), super::simd(true).avx2());
                if let Some(mut packed) = packed {
                    for _ in 0..2 {
                        let mut got = vec![99i8; b.rows * n];
                        let ran = super::super::dense_i8_packed_host(
                            &b.p,
                            &mut packed,
                            b.rows,
                            &b.x,
                            (&b.bias, b.labels.as_deref()),
                            &b.mult,
                            &b.shift,
                            &mut got,
                        );
                        prop_assert_eq!(ran, b.rows >= super::super::PACKED_SAMPLES / 2);
                        if ran {
                            check_rows(b, &got)?;
                        }
                    }
                }
            }
            Ok(())
        }

        /// `got` against the reference, row by row.
        fn check_rows(b: &Batch, got: &[i8]) -> Result<(), TestCaseError> {
            let (k, n) = (b.p.in_features, b.p.out_features);
            for s in 0..b.rows {
                let label = b.labels.as_ref().map_or(0, |l| l[s]);
                let mut want = vec![0i8; n];
                let bias = &b.bias[label * n..(label + 1) * n];
                let x = &b.x[s * k..(s + 1) * k];
                dense_i8(&b.p, x, &b.w, bias, &b.mult, &b.shift, &mut want);
                prop_assert_eq!(&got[s * n..(s + 1) * n], &want[..], "sample {}", s);
            }
            Ok(())
        }

        #[test]
        fn shipped_shapes_match_the_reference_row_by_row() {
            // ring8-cgan's 8 -> 128, 128 -> 128 and 128 -> 2 at odd and even batches
            for (rows, k, n) in [(64, 8, 128), (63, 128, 128), (5, 128, 2), (1, 100, 17)] {
                let b = Batch {
                    p: DenseI8Params {
                        in_features: k,
                        out_features: n,
                        output_zero_point: -3,
                        act_min: -128,
                        act_max: 127,
                    },
                    rows,
                    x: (0..rows * k)
                        .map(|i| (i as i32 * 37 % 256 - 128) as i8)
                        .collect(),
                    w: (0..k * n)
                        .map(|i| (i as i32 * 91 % 255 - 127) as i8)
                        .collect(),
                    bias: (0..2 * n as i32).map(|i| i * 1000 - 50_000).collect(),
                    labels: Some((0..rows).map(|s| s % 2).collect()),
                    mult: vec![1 << 30; n],
                    shift: (0..n as i32).map(|i| -(i % 12)).collect(),
                };
                check(&b, true).unwrap();
                check(&b, false).unwrap();
            }
        }

        #[test]
        fn packed_weights_refuse_what_they_were_not_made_for() {
            let p = DenseI8Params {
                in_features: 5,
                out_features: 3,
                output_zero_point: 0,
                act_min: -128,
                act_max: 127,
            };
            let (w, bias, mult, shift) =
                (vec![1i8; 15], vec![0i32; 6], vec![1 << 30; 3], vec![0; 3]);
            let Some(mut packed) = super::super::PackedDense::new(&p, &w, 4) else {
                assert!(!super::simd(true).avx2(), "no packed kernel on an AVX2 CPU");
                return;
            };
            let (x, mut y) = (vec![1i8; 25], vec![7i8; 15]);
            let mut run = |p: &DenseI8Params, rows: usize, labels: Option<&[usize]>| {
                let bias = (&bias[..], labels);
                let packed = &mut packed;
                super::super::dense_i8_packed_host(p, packed, rows, &x, bias, &mult, &shift, &mut y)
            };
            assert!(run(&p, 3, None));
            // more samples than it has room for, another geometry or clamp, too few
            // samples, a label past the bias table
            assert!(!run(&p, 5, None));
            assert!(!run(&p, 1, None));
            assert!(!run(
                &DenseI8Params {
                    in_features: 4,
                    ..p
                },
                2,
                None
            ));
            assert!(!run(&DenseI8Params { act_min: 0, ..p }, 2, None));
            assert!(!run(&p, 0, None));
            assert!(!run(&p, 3, Some(&[0, 2, 1])));
            assert!(run(&p, 3, Some(&[0, 1, 1])));
        }

        proptest! {
            #[test]
            fn every_row_matches_the_reference(b in batch()) {
                check(&b, true)?;
                check(&b, false)?;
            }
        }
    }
}
