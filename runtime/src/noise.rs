//! Deterministic Gaussian noise: PCG32 plus Box–Muller.
//!
//! The generator's input `z` is a function of the seed only, with the same bits on every
//! target: PCG32 is integer arithmetic, the uniform-to-float step is exact, `log` and
//! `sqrt` come from `libm` (software, the same code everywhere), never from `std` or a
//! platform maths library, and `cos`/`sin` are libm's polynomials evaluated in integer
//! fixed point (`cos_sin_turn`), bit for bit libm's. Nothing here depends on Cargo
//! features, so feature unification cannot switch the maths.

/// PCG32 (XSH-RR, 64-bit state, 32-bit output), as in O'Neill's reference `pcg32_random_r`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

const PCG_MULTIPLIER: u64 = 6_364_136_223_846_793_005;

/// The PCG stream the sampler uses for generator noise.
pub const NOISE_STREAM: u64 = 0x6564_6765_6761_6E00; // "edgegan\0"

impl Pcg32 {
    /// A generator seeded as the reference `pcg32_srandom_r(seed, stream)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use edgegan_runtime::noise::Pcg32;
    /// let mut rng = Pcg32::new(42, 54);
    /// assert_eq!(rng.next_u32(), 0xa15c_02b7); // pcg32-demo's first output
    /// ```
    pub const fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg32 {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.step();
        rng.state = rng.state.wrapping_add(seed);
        rng.step();
        rng
    }

    const fn step(&mut self) {
        self.state = self
            .state
            .wrapping_mul(PCG_MULTIPLIER)
            .wrapping_add(self.inc);
    }

    /// The next 32 random bits.
    pub const fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.step();
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }
}

/// Standard normal samples (mean 0, variance 1) by the Box–Muller transform.
///
/// Each pair of normals consumes two PCG32 outputs: `u1 = (a >> 8 + 1) / 2^24` in `(0, 1]`,
/// `u2 = (b >> 8) / 2^24` in `[0, 1)`, then `r = sqrt(-2 ln u1)` and
/// `(r cos 2πu2, r sin 2πu2)`. The magnitude never exceeds `sqrt(48 ln 2) ≈ 5.77`.
#[derive(Clone, Debug)]
pub struct Gaussian {
    rng: Pcg32,
}

impl Gaussian {
    /// The noise source for one sample: PCG32 seeded with `seed` on [`NOISE_STREAM`].
    pub const fn new(seed: u64) -> Self {
        Gaussian {
            rng: Pcg32::new(seed, NOISE_STREAM),
        }
    }

    /// The next two normals.
    pub fn next_pair(&mut self) -> (f32, f32) {
        const TWO_POW_MINUS_24: f32 = 1.0 / 16_777_216.0;
        let u1 = ((self.rng.next_u32() >> 8) + 1) as f32 * TWO_POW_MINUS_24;
        let u2 = (self.rng.next_u32() >> 8) as f32 * TWO_POW_MINUS_24;
        let r = crate::kernels::cortex_m::dsp::sqrt_f32(-2.0 * libm::logf(u1));
        let theta = core::f32::consts::TAU * u2;
        let (cos, sin) = cos_sin_turn(theta);
        (r * cos, r * sin)
    }

    /// Fills `out` with normals, pair by pair; an odd length drops the last pair's second.
    pub fn fill(&mut self, out: &mut [f32]) {
        let mut pairs = out.chunks_exact_mut(2);
        for pair in &mut pairs {
            let (a, b) = self.next_pair();
            pair[0] = a;
            pair[1] = b;
        }
        if let [last] = pairs.into_remainder() {
            *last = self.next_pair().0;
        }
    }
}

/// `(libm::cosf(x), libm::sinf(x))` bit for bit, for `0 ≤ x ≤ 9π/4` (Box–Muller's angle
/// `2πu2` is below `2π`), in integer arithmetic.
///
/// libm computes these (FreeBSD's `s_cosf.c`/`s_sinf.c`) by choosing a multiple `m` of
/// π/2, reducing `y = x − m·π/2` in `f64` and rounding an `f64` polynomial in `y` to `f32`.
/// On a core without double-precision hardware (every Cortex-M, RISC-V `imac`) that `f64`
/// arithmetic is software, about 2,500 instructions per angle, and 2 KB of code. Here the
/// same polynomials (libm's `k_cosf`/`k_sinf` coefficients, exactly) are evaluated in 64-bit
/// fixed point: `y` is exact (an `f32` minus an `f64` multiple of π/2 is a whole number of
/// 2^-52 below 2^52), each product keeps 64 fractional bits, and the one rounding is the
/// final one to `f32`. Fixed point is more accurate than libm's own `f64` evaluation, so the
/// two round to the same `f32` unless a value lies within about 2^-50 of a rounding
/// boundary; a test runs every angle the noise can take (all 2^24 + 1) and finds none.
fn cos_sin_turn(x: f32) -> (f32, f32) {
    let ix = x.to_bits() & 0x7fff_ffff;
    if ix < 0x3980_0000 {
        // |x| < 2^-12: libm's shortcut
        return (1.0, x);
    }
    // libm's choice of the multiple of π/2 for each range of x (…0fda ≈ π/4, …cbe3 ≈ 3π/4,
    // …53d1 ≈ 5π/4, …eddf ≈ 7π/4)
    let m = match ix {
        ..=0x3f49_0fda => 0,
        0x3f49_0fdb..=0x4016_cbe3 => 1,
        0x4016_cbe4..=0x407b_53d1 => 2,
        0x407b_53d2..=0x40af_eddf => 3,
        _ => 4,
    };
    // x and m·π/2 (libm's f64 constant) as whole numbers of 2^-52; x ≥ 2^-12, so the
    // shift is at least 17, and x < 8 keeps it under 2^55
    let exponent = (ix >> 23) as i32;
    let x_units = i64::from((ix & 0x7f_ffff) | 0x80_0000) << (exponent - 98);
    let y = x_units - MULTIPLES_OF_PI_2[m];
    // |y| ≤ π/4 < 1 as a 64-bit fraction (exact: |y| < 2^52 units of 2^-52)
    let y_q64 = y.unsigned_abs() << 12;
    let z = mul_hi(y_q64, y_q64);
    // k_cosf: 1 + z·(C0 + z·(C1 + z·(C2 + z·C3))), signs (− + − +) taken out
    let t = COS_C2 - mul_hi(z, COS_C3);
    let t = COS_C1 - mul_hi(z, t);
    let t = COS_C0 - mul_hi(z, t);
    let cos_y = round_to_f32(0u64.wrapping_sub(mul_hi(z, t)), -64);
    // k_sinf: y·(1 + z·(S1 + z·(S2 + z·(S3 + z·S4)))), signs (− + − +) taken out; the
    // product with y normalised first, so that a small y keeps 64 significant bits
    let t = SIN_S3 - mul_hi(z, SIN_S4);
    let t = SIN_S2 - mul_hi(z, t);
    let t = SIN_S1 - mul_hi(z, t);
    let factor = 0u64.wrapping_sub(mul_hi(z, t));
    let sin_abs_y = match y_q64.leading_zeros() {
        64 => 0.0,
        lz => round_to_f32(mul_hi(y_q64 << lz, factor), -64 - lz as i32),
    };
    let sin_y = if y < 0 { -sin_abs_y } else { sin_abs_y };
    // cos x and sin x from cos y and sin y, as libm's branches combine them
    match m {
        0 | 4 => (cos_y, sin_y),
        1 => (-sin_y, cos_y),
        2 => (-cos_y, -sin_y),
        _ => (sin_y, -cos_y),
    }
}

/// libm's `f64` multiples of π/2 (`m · FRAC_PI_2`, rounded as libm rounds them) as whole
/// numbers of 2^-52.
const MULTIPLES_OF_PI_2: [i64; 5] = {
    use core::f64::consts::FRAC_PI_2;
    [
        0,
        units_of_2_pow_minus_52(FRAC_PI_2),
        units_of_2_pow_minus_52(2.0 * FRAC_PI_2),
        units_of_2_pow_minus_52(3.0 * FRAC_PI_2),
        units_of_2_pow_minus_52(4.0 * FRAC_PI_2),
    ]
};

/// libm's `k_cosf`/`k_sinf` coefficients (magnitudes; written as libm's source prints them,
/// the extra digits round to the same f64) as 64-bit fractions: exact except C3, S3 and S4,
/// whose last bits lie below 2^-64.
#[allow(clippy::excessive_precision)]
mod coefficients {
    use super::q64;
    pub const COS_C0: u64 = q64(0.499_999_997_251_031_003_120);
    pub const COS_C1: u64 = q64(0.041_666_623_323_739_063_189_4);
    pub const COS_C2: u64 = q64(0.001_388_676_377_460_992_946_92);
    pub const COS_C3: u64 = q64(0.000_024_390_448_796_277_409_065_4);
    pub const SIN_S1: u64 = q64(0.166_666_666_416_265_235_595);
    pub const SIN_S2: u64 = q64(0.008_333_329_385_889_463_175_6);
    pub const SIN_S3: u64 = q64(0.000_198_393_348_360_966_317_347);
    pub const SIN_S4: u64 = q64(0.000_002_718_311_493_989_821_906_4);
}
use coefficients::*;

/// A positive `f64` of at least 1 and below 2^11 as a whole number of 2^-52 (exact).
const fn units_of_2_pow_minus_52(c: f64) -> i64 {
    let bits = c.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    (((bits & ((1 << 52) - 1)) | (1 << 52)) as i64) << exponent
}

/// A positive `f64` below 1 as a 64-bit fraction (`⌊c · 2^64⌋`).
const fn q64(c: f64) -> u64 {
    let bits = c.to_bits();
    let shift = ((bits >> 52) & 0x7ff) as i32 - 1023 - 52 + 64;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    if shift >= 0 {
        mantissa << shift
    } else {
        mantissa >> -shift
    }
}

/// `⌊a · b / 2^64⌋`, from four 32 × 32 → 64-bit products (one `UMULL` each on Armv7-M;
/// a `u128` product would be a library call on 32-bit cores).
fn mul_hi(a: u64, b: u64) -> u64 {
    let (a1, a0) = (a >> 32, a & 0xffff_ffff);
    let (b1, b0) = (b >> 32, b & 0xffff_ffff);
    let mid = a1 * b0 + ((a0 * b0) >> 32);
    let mid2 = a0 * b1 + (mid & 0xffff_ffff);
    a1 * b1 + (mid >> 32) + (mid2 >> 32)
}

/// `v · 2^exponent` (`v > 0`) rounded to the nearest `f32`, ties to even; the result must
/// be a normal number (it is, for every angle: |sin y| > 2^-30).
fn round_to_f32(v: u64, exponent: i32) -> f32 {
    let lz = v.leading_zeros() as i32;
    let n = v << lz;
    let mantissa = (n >> 40) as u32; // 24 bits, the leading one included
    let rest = n << 24;
    let up = u32::from(rest > 1 << 63 || (rest == 1 << 63 && mantissa & 1 == 1));
    let biased = (exponent - lz + 63 + 127) as u32;
    // the leading one adds 1 to the exponent field, and a carry out of the mantissa too
    f32::from_bits(((biased - 1) << 23) + mantissa + up)
}

/// Fills `out` with the generator noise `z` for `seed`: what the sampler feeds the model.
///
/// # Examples
///
/// ```
/// let mut z = [0.0f32; 4];
/// edgegan_runtime::noise::fill(42, &mut z);
/// let mut again = [0.0f32; 4];
/// edgegan_runtime::noise::fill(42, &mut again);
/// assert_eq!(z, again);
/// ```
pub fn fill(seed: u64, out: &mut [f32]) {
    Gaussian::new(seed).fill(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cos_sin_turn_is_libm_for_every_angle_the_noise_takes() {
        // every u2 = k / 2^24, as `next_pair` makes it, and the range's upper end
        for k in (0..1u32 << 24).chain([1 << 24]) {
            let theta = core::f32::consts::TAU * (k as f32 * (1.0 / 16_777_216.0));
            let (c, s) = cos_sin_turn(theta);
            assert_eq!(c.to_bits(), libm::cosf(theta).to_bits(), "cos {theta}");
            assert_eq!(s.to_bits(), libm::sinf(theta).to_bits(), "sin {theta}");
        }
        let top = f32::from_bits(0x40e2_31d5); // the last angle of the 9π/4 branch
        for x in [0.0, 1e-5, 0.5, 2.0, 4.0, 5.5, 6.9, top] {
            assert_eq!(cos_sin_turn(x), (libm::cosf(x), libm::sinf(x)), "{x}");
        }
    }

    #[test]
    fn pcg32_matches_reference_demo_output() {
        // pcg32-demo (O'Neill's pcg-c-basic), seed 42, sequence 54.
        let mut rng = Pcg32::new(42, 54);
        let got: [u32; 6] = core::array::from_fn(|_| rng.next_u32());
        assert_eq!(
            got,
            [
                0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e
            ]
        );
    }

    /// The first eight normals for seed 42, as bits. Pinned once (and checked against an
    /// independent float64 Python transcription to 1e-6): a change here changes every
    /// sample of every shipped model.
    const GOLDEN_SEED42: [u32; 8] = [
        0x3fec4b72, 0xbf11e7c8, 0x4049f1f9, 0xbecca3fe, 0x3f212844, 0x3fc6e100, 0xbfca1a21,
        0x3f99427a,
    ];

    #[test]
    fn seed42_normals_match_golden_bits() {
        let mut z = [0.0f32; 8];
        fill(42, &mut z);
        let bits = z.map(f32::to_bits);
        assert_eq!(bits, GOLDEN_SEED42, "got {bits:#010x?}");
    }

    #[test]
    fn odd_length_is_prefix_of_even_length() {
        let mut odd = [0.0f32; 7];
        let mut even = [0.0f32; 8];
        fill(7, &mut odd);
        fill(7, &mut even);
        assert_eq!(
            odd.map(f32::to_bits),
            even[..7].iter().map(|v| v.to_bits()).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn different_seeds_give_different_noise() {
        let mut a = [0.0f32; 4];
        let mut b = [0.0f32; 4];
        fill(1, &mut a);
        fill(2, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn normals_have_unit_moments_and_bounded_magnitude() {
        let mut z = [0.0f32; 20_000];
        fill(3, &mut z);
        let n = z.len() as f64;
        let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = z
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        assert!(z.iter().all(|v| v.is_finite() && v.abs() <= 5.78));
    }
}
