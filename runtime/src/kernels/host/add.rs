//! int8 Add for hosts: each operand's rescaling, a function of one byte, is read from a
//! 256-entry table built once per call, leaving one requantisation per element instead of
//! three. Every table entry is the reference's own value, so the result is
//! [`add_i8`]'s bit for bit.

#[cfg(target_arch = "x86_64")]
use super::Simd;
#[cfg(target_arch = "x86_64")]
use super::requant::{mbqm8_avx2, requantize8_avx2};
#[cfg(target_arch = "x86_64")]
use crate::kernels::add::ADD_LEFT_SHIFT;
use crate::kernels::add::{AddI8Operand, AddI8Params, add_i8, scaled_operand};
use crate::kernels::broadcast::{Broadcast, Side, zip_broadcast};
use crate::kernels::requantize;

/// Elements below which building the tables costs more than it saves.
const MIN_LEN: usize = 512;

/// `scaled_operand(q, op)` for every int8 `q`, indexed by `q as u8`.
fn table(op: &AddI8Operand) -> [i32; 256] {
    core::array::from_fn(|i| scaled_operand(i as u8 as i8, op))
}

/// int8 add for hosts; equal to [`add_i8`].
pub fn add_i8_host(p: &AddI8Params, side: Side, y: &mut [i8], other: &[i8], b: Broadcast) {
    #[cfg(target_arch = "x86_64")]
    if b == Broadcast::Full && Simd::detect().avx2() {
        #[allow(unsafe_code)]
        // SAFETY: `add_full_avx2` is safe code that needs AVX2, which `Simd::detect`
        // found on this CPU.
        return unsafe { add_full_avx2(p, side, y, other) };
    }
    if y.len() < MIN_LEN {
        return add_i8(p, side, y, other, b);
    }
    let (py, po) = match side {
        Side::First => (&p.a, &p.b),
        Side::Second => (&p.b, &p.a),
    };
    let ty = table(py);
    // the other operand through its table only where it is full size (one value per
    // element); a scalar or per-channel one is rescaled once per value anyway
    let to = (b == Broadcast::Full).then(|| table(po));
    zip_broadcast(y, other, b, |v, o| {
        let so = match &to {
            Some(t) => t[usize::from(o as u8)],
            None => scaled_operand(o, po),
        };
        *v = requantize(
            ty[usize::from(*v as u8)].wrapping_add(so),
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            p.act_min,
            p.act_max,
        );
    });
}

/// Full-size Add with AVX2, eight elements at a time: both operands rescaled and the sum
/// requantised by the vector `multiply_by_quantized_multiplier` (the reference for the
/// last `len % 8` elements, and for parameters the vector path does not cover).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_full_avx2(p: &AddI8Params, side: Side, y: &mut [i8], other: &[i8]) {
    let (py, po) = match side {
        Side::First => (&p.a, &p.b),
        Side::Second => (&p.b, &p.a),
    };
    use core::arch::x86_64::*;
    let covered = [py.multiplier, po.multiplier, p.output_multiplier]
        .iter()
        .all(|&m| m != i32::MIN);
    let n = if covered {
        y.len().min(other.len()) / 8 * 8
    } else {
        0
    };
    let (head, tail) = y.split_at_mut(n);
    let scaled = |q: [i8; 8], op: &AddI8Operand| {
        let x = _mm256_sub_epi32(
            bytemuck::cast::<[i32; 8], __m256i>(q.map(i32::from)),
            _mm256_set1_epi32(op.zero_point),
        );
        let x = _mm256_slli_epi32::<{ ADD_LEFT_SHIFT }>(x);
        mbqm8_avx2(x, [op.multiplier; 8], [op.shift; 8])
    };
    let out = (p.output_zero_point, p.act_min, p.act_max);
    let requant = [[0; 8], [p.output_multiplier; 8], [p.output_shift; 8]];
    for (v, o) in head.chunks_exact_mut(8).zip(other.chunks_exact(8)) {
        let (Some(v8), Some(o8)) = (v.first_chunk::<8>(), o.first_chunk::<8>()) else {
            break;
        };
        let raw = _mm256_add_epi32(scaled(*v8, py), scaled(*o8, po));
        let q = requantize8_avx2(bytemuck::cast(raw), requant, out);
        v.copy_from_slice(&q);
    }
    add_i8(
        p,
        side,
        tail,
        other.get(n..).unwrap_or(&[]),
        Broadcast::Full,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::add::tests::params;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_reference_exactly(
            a in proptest::collection::vec(any::<i8>(), 1..1100),
            bytes in proptest::collection::vec(any::<i8>(), 1100),
            sa in 0.001f32..0.1, sb in 0.001f32..0.1, za in -128i32..128, zb in -128i32..128,
            zo in -50i32..50, so_factor in 0.3f32..3.0,
            relu in any::<bool>(), second in any::<bool>(), kind in 0usize..3,
        ) {
            let mut p = params(sa, za, sb, zb, (sa + sb) * so_factor, zo);
            if relu {
                p.act_min = zo;
            }
            let side = if second { Side::Second } else { Side::First };
            let (b, other) = match kind {
                0 => (Broadcast::Full, &bytes[..a.len()]),
                1 => (Broadcast::Scalar, &bytes[..1]),
                _ => (Broadcast::Channel { inner: 7 }, &bytes[..a.len().div_ceil(7)]),
            };
            let (mut want, mut got) = (a.clone(), a.clone());
            add_i8(&p, side, &mut want, other, b);
            add_i8_host(&p, side, &mut got, other, b);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn every_pair_of_bytes_matches_the_reference() {
        // all 65,536 (a, b) pairs in one full-size call, both sides
        let p = params(0.02, -5, 0.07, 17, 0.05, 3);
        let a: Vec<i8> = (0..65_536u32).map(|i| (i >> 8) as u8 as i8).collect();
        let b: Vec<i8> = (0..65_536u32).map(|i| i as u8 as i8).collect();
        for side in [Side::First, Side::Second] {
            let (mut want, mut got) = (a.clone(), a.clone());
            add_i8(&p, side, &mut want, &b, Broadcast::Full);
            add_i8_host(&p, side, &mut got, &b, Broadcast::Full);
            assert_eq!(got, want);
        }
    }
}
