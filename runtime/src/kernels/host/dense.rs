//! int8 Dense for hosts: four output rows per pass, sixteen inputs per step.
//!
//! Each row's sum is kept in 16 (portable) or 8 (AVX2, `vpmaddwd` adding adjacent
//! products) 32-bit lanes and added up at the end; int8 sums are exact, so the result is
//! [`dense_i8`](crate::kernels::dense::dense_i8)'s bit for bit.

use super::Simd;
#[cfg(target_arch = "x86_64")]
use super::requant::requantize8_avx2;
use super::requant::requantize8_portable;
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
    let [a, b] = [0, 4].map(|i| dot4_avx2(x, [rows[i], rows[i + 1], rows[i + 2], rows[i + 3]]));
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
/// `vpmaddwd` (|x·w| ≤ 2^14: no pair saturates).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot4_avx2(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    use core::arch::x86_64::*;
    let widen = |v: &[i8; L]| _mm256_cvtepi8_epi16(bytemuck::cast::<[i8; L], __m128i>(*v));
    let mut acc = [_mm256_setzero_si256(); 4];
    let steps = x.len() / L;
    for s in 0..steps {
        let Some(xv) = x[s * L..].first_chunk::<L>() else {
            break;
        };
        let xv = widen(xv);
        for (a, row) in acc.iter_mut().zip(rows) {
            let Some(wv) = row.get(s * L..).and_then(<[i8]>::first_chunk::<L>) else {
                break;
            };
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, widen(wv)));
        }
    }
    // the last `len % 16` inputs as one more step, zero-padded
    // (the weights read straight from the row, running into the next rows' bytes where
    // there are 16: those lanes meet zero inputs)
    let from = steps * L;
    if from < x.len() {
        let padded = |v: &[i8], len: usize| {
            let mut b = [0i8; L];
            for (d, &s) in b.iter_mut().zip(v.get(from..len).unwrap_or(&[])) {
                *d = s;
            }
            widen(&b)
        };
        let xv = padded(x, x.len());
        for (a, row) in acc.iter_mut().zip(rows) {
            let wv = match row.get(from..).and_then(<[i8]>::first_chunk::<L>) {
                Some(wv) => widen(wv),
                None => padded(row, x.len()),
            };
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
        }
    }
    // the four rows' eight lanes added up by horizontal adds (wrapping, like the sums)
    let h = _mm256_hadd_epi32(
        _mm256_hadd_epi32(acc[0], acc[1]),
        _mm256_hadd_epi32(acc[2], acc[3]),
    );
    let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    bytemuck::cast(sums)
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
}
