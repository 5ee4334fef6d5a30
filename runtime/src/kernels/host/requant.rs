//! Requantisation of eight accumulators at once:
//! `clamp(M_i(acc_i + bias_i) + zp, min, max)` for lanes `i`, each with its own multiplier
//! and shift, equal to [`requantize`] lane by lane.
//!
//! With AVX2, `SaturatingRoundingDoublingHighMul` is one 32×32→64-bit multiply per lane and
//! `(ab + 2^30) >> 31`: for `ab < 0` the reference's truncating `(ab + 1 − 2^30) / 2^31`
//! equals that floor, so one formula covers both signs, and only the low 32 bits are kept,
//! which a logical shift gets right. `RoundingDivideByPOT` uses per-lane shifts. The one
//! saturating case (`acc = multiplier = i32::MIN`) cannot occur when no multiplier is
//! `i32::MIN`; the zero point is added after clamping to ±2^24, which gives the reference's
//! saturating add once clamped to int8. Lanes that break these conditions run the reference.

#[cfg(test)]
use super::Simd;
use crate::kernels::requantize;

/// Output zero points up to this magnitude take the vector path.
const MAX_ZP: i32 = 1 << 20;

/// The int8 outputs of eight lanes, with the bodies `simd` allows (the kernels call the
/// bodies from their own, so that the AVX2 one is inlined).
#[cfg(test)]
fn requantize8(
    simd: Simd,
    acc: [i32; 8],
    [bias, multiplier, shift]: [[i32; 8]; 3],
    (zero_point, min, max): (i32, i32, i32),
) -> [i8; 8] {
    #[cfg(target_arch = "x86_64")]
    if simd.avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `requantize8_avx2` is safe code that needs AVX2, and a `Simd` says AVX2
        // only when `Simd::detect` found it on this CPU.
        return unsafe { requantize8_avx2(acc, [bias, multiplier, shift], (zero_point, min, max)) };
    }
    let _ = simd;
    requantize8_portable(acc, [bias, multiplier, shift], (zero_point, min, max))
}

/// The reference, lane by lane.
#[inline(always)]
pub(crate) fn requantize8_portable(
    acc: [i32; 8],
    [bias, multiplier, shift]: [[i32; 8]; 3],
    (zero_point, min, max): (i32, i32, i32),
) -> [i8; 8] {
    core::array::from_fn(|i| {
        requantize(
            acc[i].wrapping_add(bias[i]),
            multiplier[i],
            shift[i],
            zero_point,
            min,
            max,
        )
    })
}

/// AVX2 body, inlined into the AVX2 bodies of the kernels (the reference where the
/// conditions above do not hold).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn requantize8_avx2(
    acc: [i32; 8],
    [bias, multiplier, shift]: [[i32; 8]; 3],
    (zero_point, min, max): (i32, i32, i32),
) -> [i8; 8] {
    match Requant8::new(multiplier, shift, (zero_point, min, max)) {
        Some(rq) => {
            let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], core::arch::x86_64::__m256i>(a);
            pack8(rq.apply(v(acc), v(bias)))
        }
        None => requantize8_portable(acc, [bias, multiplier, shift], (zero_point, min, max)),
    }
}

/// Eight lanes' requantisation with its vectors made once (a kernel that requantises the
/// same eight channels many times makes it once): `clamp(M_i(x_i) + zp, min, max)`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    multiplier: core::arch::x86_64::__m256i,
    left: core::arch::x86_64::__m256i,
    right: core::arch::x86_64::__m256i,
    zero_point: core::arch::x86_64::__m256i,
    min: core::arch::x86_64::__m256i,
    max: core::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Requant8 {
    /// The vectors, or `None` where the vector path does not equal the reference (see the
    /// module doc): the caller then runs [`requantize8_portable`].
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn new(
        multiplier: [i32; 8],
        shift: [i32; 8],
        (zero_point, min, max): (i32, i32, i32),
    ) -> Option<Self> {
        use core::arch::x86_64::*;
        if zero_point.abs() > MAX_ZP || min > max || multiplier.contains(&i32::MIN) {
            return None;
        }
        let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], __m256i>(a);
        Some(Requant8 {
            multiplier: v(multiplier),
            left: v(shift.map(|s| s.clamp(0, 31))),
            right: v(shift.map(|s| (-s).clamp(0, 31))),
            zero_point: _mm256_set1_epi32(zero_point),
            min: _mm256_set1_epi32(min),
            max: _mm256_set1_epi32(max),
        })
    }

    /// The requantised lanes of `acc + bias` (each within `[min, max]`).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(
        &self,
        acc: core::arch::x86_64::__m256i,
        bias: core::arch::x86_64::__m256i,
    ) -> core::arch::x86_64::__m256i {
        use core::arch::x86_64::*;
        let x = _mm256_add_epi32(acc, bias);
        let r = mbqm8_vectors(x, self.multiplier, self.left, self.right);
        // + zero point (saturating, as clamped to int8 next), clamp
        let r = _mm256_min_epi32(
            _mm256_max_epi32(r, _mm256_set1_epi32(-(1 << 24))),
            _mm256_set1_epi32(1 << 24),
        );
        let r = _mm256_add_epi32(r, self.zero_point);
        _mm256_min_epi32(_mm256_max_epi32(r, self.min), self.max)
    }
}

/// Eight lanes already within int8 as bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pack8(r: core::arch::x86_64::__m256i) -> [i8; 8] {
    use core::arch::x86_64::*;
    // saturating packs, exact on values within int8: lane i's byte lands at byte i of
    // the low half (0..4) or of the high half (4..8)
    let p = _mm256_packs_epi16(_mm256_packs_epi32(r, r), _mm256_setzero_si256());
    let lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(p)) as u32;
    let hi = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(p)) as u32;
    bytemuck::cast((u64::from(lo) | (u64::from(hi) << 32)).to_le_bytes())
}

/// `multiply_by_quantized_multiplier` of eight lanes (no multiplier may be `i32::MIN`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn mbqm8_avx2(
    x: core::arch::x86_64::__m256i,
    multiplier: [i32; 8],
    shift: [i32; 8],
) -> core::arch::x86_64::__m256i {
    let v = |a: [i32; 8]| bytemuck::cast::<[i32; 8], core::arch::x86_64::__m256i>(a);
    let left = shift.map(|s| s.clamp(0, 31));
    let right = shift.map(|s| (-s).clamp(0, 31));
    mbqm8_vectors(x, v(multiplier), v(left), v(right))
}

/// [`mbqm8_avx2`] with the multiplier and the shifts (`left`: `shift` clamped to `0..=31`,
/// `right`: `−shift` clamped) as vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn mbqm8_vectors(
    x: core::arch::x86_64::__m256i,
    m: core::arch::x86_64::__m256i,
    left: core::arch::x86_64::__m256i,
    right: core::arch::x86_64::__m256i,
) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::*;
    let x = _mm256_sllv_epi32(x, left);
    // SaturatingRoundingDoublingHighMul: even and odd lanes as 64-bit products
    let round = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, m), round));
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m));
    let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, round));
    // odd: bits 31..62 moved to the high dword by shifting left 1 instead of right 31
    let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
    // RoundingDivideByPOT
    let one = _mm256_set1_epi32(1);
    let e = right;
    let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, e), one);
    let remainder = _mm256_and_si256(high, mask);
    let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), high);
    let threshold = _mm256_sub_epi32(_mm256_srli_epi32::<1>(mask), negative);
    let up = _mm256_cmpgt_epi32(remainder, threshold);
    _mm256_sub_epi32(_mm256_srav_epi32(high, e), up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(acc: [i32; 8], bms: [[i32; 8]; 3], out: (i32, i32, i32)) {
        let want = requantize8(Simd::PORTABLE, acc, bms, out);
        let got = requantize8(Simd::detect(), acc, bms, out);
        assert_eq!(got, want, "{acc:?} {bms:?} {out:?}");
    }

    #[test]
    fn edge_values_match_the_reference() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -1,
            0,
            1,
            1 << 30,
            i32::MAX,
        ];
        for &a in &edges {
            for &m in &[0, 1, 1 << 30, i32::MAX, -(1 << 30), i32::MIN + 1] {
                for s in [-31, -20, -1, 0, 1, 5, 31] {
                    let mut sh = [s; 8];
                    sh[7] = -s;
                    check([a; 8], [[0; 8], [m; 8], sh], (-128, -128, 127));
                    check([a; 8], [[-7; 8], [m; 8], sh], (127, 0, 127));
                }
            }
        }
        // a multiplier of i32::MIN takes the reference for that call
        check(
            [i32::MIN; 8],
            [[0; 8], [i32::MIN; 8], [0; 8]],
            (0, -128, 127),
        );
    }

    proptest! {
        #[test]
        fn random_lanes_match_the_reference(
            acc in proptest::array::uniform8(any::<i32>()),
            bias in proptest::array::uniform8(-100_000i32..100_000),
            mult in proptest::array::uniform8(prop_oneof![(1i32 << 30)..i32::MAX, any::<i32>()]),
            shift in proptest::array::uniform8(-40i32..40),
            zp in prop_oneof![-128i32..128, any::<i32>()],
            min in -128i32..0, max in 0i32..128,
        ) {
            check(acc, [bias, mult, shift], (zp, min, max));
        }
    }
}
