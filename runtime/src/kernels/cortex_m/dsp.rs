//! The Armv7E-M DSP instructions the int8 kernels use: one function per instruction, and
//! the inner loops of the int8 Dense and Conv2d kernels ([`dot3_q15`], [`dot3_quads`],
//! [`conv3_q15_rows`]).
//!
//! With the `cortex-m-dsp` feature on an Arm target these are `asm!`; everywhere else the
//! same arithmetic in plain Rust, so that the host tests run the very kernels the device
//! runs, lane for lane, against the reference kernels. LLVM does not form these
//! instructions from plain Rust on its own (its ARM parallel-DSP pass only pairs adjacent
//! 16-bit loads; int8 operands need `SXTB16` first), and with the instruction functions
//! alone the size-optimised firmware (`opt-level = "z"`) spilled the accumulators of the
//! inner loops to the stack, two loads and stores per multiply-accumulate pair (checked
//! with `arm-none-eabi-objdump -d` on the firmware). So the inner loops are written out
//! in assembly too, with every accumulator and pointer in a register.
//!
//! This is the crate's one module with `unsafe` code. The single-instruction `asm!` blocks
//! are register to register, with no memory access, no stack use and no flags read
//! (`SMLAD`/`SMLAxy` may set the sticky Q flag, which nothing reads). The loops read
//! memory only through pointers into slices whose lengths are checked first (the number
//! of iterations is cut to what the slices hold), and write only their register outputs.
//!
//! Lanes: a `u32` holds two 16-bit lanes, bottom (bits 0–15) and top (bits 16–31).
//! Accumulations wrap like `i32::wrapping_add`, as the reference kernels' do.
//!
//! The feature must only be enabled for cores with the DSP extension (Cortex-M4, M7, and
//! M33/M35P/M55 built with it); on others the instructions do not exist.
//!
//! One floating-point instruction lives here too, for the same reason (no `unsafe`
//! elsewhere): [`sqrt_f32`], `VSQRT.F32` on hard-float Arm targets.

/// `√x` correctly rounded, as `libm::sqrtf` (IEEE 754 asks both for the correctly rounded
/// square root, so they agree bit for bit, −0 and NaN included). On hard-float Arm
/// targets (`eabihf`: Cortex-M4F, M7F, M33F) the FPU's `VSQRT.F32`: `libm::sqrtf` is a
/// software routine there (no Arm `asm` in libm), about 250 bytes of code in the noise
/// generator and a few hundred instructions per pair of normals. With std (hosts) std's
/// `sqrt` (`SQRTSS` on x86-64, where libm's generic routine took 64 instructions).
#[inline(always)]
pub fn sqrt_f32(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        fpu::vsqrt(x)
    }
    #[cfg(all(
        any(test, feature = "std"),
        not(all(target_arch = "arm", target_abi = "eabihf"))
    ))]
    {
        x.sqrt()
    }
    #[cfg(not(any(all(target_arch = "arm", target_abi = "eabihf"), test, feature = "std")))]
    {
        libm::sqrtf(x)
    }
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[allow(unsafe_code)]
mod fpu {
    /// `VSQRT.F32` on `x`.
    #[inline(always)]
    pub fn vsqrt(x: f32) -> f32 {
        let r: u32;
        // SAFETY: register to register (through `s15`, which is declared clobbered: Rust
        // gives no `sreg` operands to these targets, whose FPU it does not name as a
        // target feature), no memory, no stack, no flags (`VSQRT` sets only FPSCR's
        // sticky exception bits, which nothing reads). `.fpu` lets the assembler take the
        // instruction: every `eabihf` Arm core has a single-precision FPU.
        unsafe {
            core::arch::asm!(
                ".fpu fpv4-sp-d16",
                "vmov s15, {x}",
                "vsqrt.f32 s15, s15",
                "vmov {r}, s15",
                r = lateout(reg) r,
                x = in(reg) x.to_bits(),
                out("s15") _,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        f32::from_bits(r)
    }
}

/// Whether these functions are the DSP instructions (else their plain-Rust equivalents).
pub const NATIVE: bool = cfg!(all(target_arch = "arm", feature = "cortex-m-dsp"));

#[cfg(all(target_arch = "arm", feature = "cortex-m-dsp"))]
#[allow(unsafe_code)]
mod native {
    use core::arch::asm;

    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let r: u32;
        // SAFETY: one register-to-register instruction (see the module doc).
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        // SAFETY: as above.
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: as above; the Q flag is sticky and never read.
        unsafe {
            asm!("smlad {r}, {x}, {y}, {a}", r = lateout(reg) r, x = in(reg) x, y = in(reg) y, a = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlabb(x: u32, y: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: as above.
        unsafe {
            asm!("smlabb {r}, {x}, {y}, {a}", r = lateout(reg) r, x = in(reg) x, y = in(reg) y, a = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlatb(x: u32, y: u32, acc: i32) -> i32 {
        let r: i32;
        // SAFETY: as above.
        unsafe {
            asm!("smlatb {r}, {x}, {y}, {a}", r = lateout(reg) r, x = in(reg) x, y = in(reg) y, a = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    /// One weight row of `dot3_quads`' loop: its next word against the input word's lanes
    /// (`{x}`, `{xo}`), into accumulator `$acc`.
    macro_rules! dot_row {
        ($ptr:literal, $acc:literal) => {
            concat!(
                "ldr {w}, [{",
                $ptr,
                "}], #4\n",
                "sxtb16 {wo}, {w}, ror #8\n",
                "sxtb16 {w}, {w}\n",
                "smlad {",
                $acc,
                "}, {x}, {w}, {",
                $acc,
                "}\n",
                "smlad {",
                $acc,
                "}, {xo}, {wo}, {",
                $acc,
                "}\n",
            )
        };
    }

    /// One window row of `conv3_q15_quads`' loop: the row's weight word, then its two
    /// pairs of sign-extended input words, each pair feeding two outputs.
    macro_rules! q15_row {
        () => {
            q15_row_with!(q15_pair!("a0", "a1"), q15_pair!("a2", "a3"))
        };
    }

    /// One window row of `conv3_q15_quads`' loop at horizontal stride 2: the row's weight
    /// word, then two pairs of sign-extended input words, each feeding one output.
    macro_rules! q15_row_s2 {
        () => {
            q15_row_with!(q15_even!("a0"), q15_even!("a1"))
        };
    }

    /// A window row: the weight word extended into `{we}`, `{wo}`, then `$first` and
    /// `$second` on the row's two pairs of input words in `{x}`, `{xo}`.
    macro_rules! q15_row_with {
        ($first:expr, $second:expr) => {
            concat!(
                "ldr {we}, [{wp}], #3\n",
                "sxtb16 {wo}, {we}, ror #8\n",
                "sxtb16 {we}, {we}\n",
                "ldrd {x}, {xo}, [{xp}], #8\n",
                $first,
                "ldrd {x}, {xo}, [{xp}], #8\n",
                $second,
            )
        };
    }

    /// The output whose inputs `b0 b1 b2` start the words in `{x}` (`(b0, b2)`) and `{xo}`
    /// (`(b1, ·)`), into `$acc`.
    macro_rules! q15_even {
        ($acc:literal) => {
            concat!(
                "smlad {",
                $acc,
                "}, {x}, {we}, {",
                $acc,
                "}\n",
                "smlabb {",
                $acc,
                "}, {xo}, {wo}, {",
                $acc,
                "}\n",
            )
        };
    }

    /// Two neighbouring outputs from the extended input words in `{x}`, `{xo}` (see
    /// `column_pair`).
    macro_rules! q15_pair {
        ($even:literal, $odd:literal) => {
            concat!(
                q15_even!($even),
                "smlad {",
                $odd,
                "}, {xo}, {we}, {",
                $odd,
                "}\n",
                "smlatb {",
                $odd,
                "}, {x}, {wo}, {",
                $odd,
                "}\n",
            )
        };
    }

    /// [`super::dot3_quads`] with `q ≥ 1` checked against every slice.
    /// A three-row loop over the input at `$x` and the rows `$w0..$w2` (`$n` its count
    /// operand), the template lines `$line`: the operands both Dense loops share, each
    /// accumulator and pointer in a register.
    macro_rules! dot3_loop {
        ($x:expr, [$w0:expr, $w1:expr, $w2:expr], $n:expr, $($line:expr),* $(,)?) => {{
            let (mut a0, mut a1, mut a2) = (0i32, 0i32, 0i32);
            asm!(
                $($line,)*
                x = out(reg) _,
                xo = out(reg) _,
                w = out(reg) _,
                wo = out(reg) _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                xp = inout(reg) $x.as_ptr() => _,
                p0 = inout(reg) $w0.as_ptr() => _,
                p1 = inout(reg) $w1.as_ptr() => _,
                p2 = inout(reg) $w2.as_ptr() => _,
                n = inout(reg) $n => _,
                options(nostack, readonly),
            );
            [a0, a1, a2]
        }};
    }

    #[inline(always)]
    pub fn dot3_quads(x: &[u8], [w0, w1, w2]: [&[u8]; 3], q: usize) -> [i32; 3] {
        // SAFETY: `q ≥ 1` and each slice holds at least `4·q` bytes (the caller cut `q`), so
        // the `q` iterations read within them; unaligned `LDR` is allowed on Armv7-M.
        unsafe {
            dot3_loop!(
                x,
                [w0, w1, w2],
                q,
                "2:",
                "ldr {x}, [{xp}], #4",
                "sxtb16 {xo}, {x}, ror #8",
                "sxtb16 {x}, {x}",
                dot_row!("p0", "a0"),
                dot_row!("p1", "a1"),
                dot_row!("p2", "a2"),
                "subs {n}, #1",
                "bne 2b",
            )
        }
    }

    /// One quad of `dot3_q15`'s loop: the input's two extended words, then the three rows.
    macro_rules! q15_dot_step {
        () => {
            concat!(
                "ldrd {x}, {xo}, [{xp}], #8\n",
                dot_row!("p0", "a0"),
                dot_row!("p1", "a1"),
                dot_row!("p2", "a2"),
            )
        };
    }

    /// [`super::dot3_q15`] with `q ≥ 1` checked against every slice.
    #[inline(always)]
    pub fn dot3_q15(xe: &[u32], [w0, w1, w2]: [&[u8]; 3], q: usize) -> [i32; 3] {
        // SAFETY: `q ≥ 1`, `xe` holds `2·q` words (word-aligned, as `LDRD` needs: a `u32`
        // slice) and each row `4·q` bytes (the caller cut `q`), so the `q` steps read
        // within them; unaligned `LDR` is allowed on Armv7-M. The flags are the loop's own.
        unsafe {
            dot3_loop!(
                xe,
                [w0, w1, w2],
                q,
                // an odd quad first (the carry of the halving), then two per pass (the
                // steps leave the flags of `lsrs` alone: `beq` sees `q / 2 = 0`)
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                q15_dot_step!(),
                "3:",
                "beq 4f",
                "2:",
                q15_dot_step!(),
                q15_dot_step!(),
                "subs {n}, #1",
                "bne 2b",
                "4:",
            )
        }
    }

    /// The four-row loop of `conv3_q15_quads` with window rows `$row` (`q15_row` or
    /// `q15_row_s2`) into the accumulators `$a`.
    macro_rules! q15_quads_loop {
        ($row:ident, $win:expr, $w:expr, $q:expr, $($a:ident),*) => {
            asm!(
                "2:",
                $row!(),
                $row!(),
                $row!(),
                $row!(),
                "subs {n}, #1",
                "bne 2b",
                x = out(reg) _,
                xo = out(reg) _,
                we = out(reg) _,
                wo = out(reg) _,
                $($a = inout(reg) $a,)*
                xp = inout(reg) $win.as_ptr() => _,
                wp = inout(reg) $w.as_ptr() => _,
                n = inout(reg) $q => _,
                options(nostack, readonly),
            )
        };
    }

    /// [`super::conv3_q15_rows`]' loop, four rows per pass, with `q ≥ 1` passes checked
    /// against both slices.
    #[inline(always)]
    pub fn conv3_q15_quads<const S: usize>(
        win: &[u32],
        w: &[u8],
        q: usize,
        acc: [i32; 4],
    ) -> [i32; 4] {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: `q ≥ 1`, `win` holds `16·q` words and `w` at least `12·q + 1` bytes (the
        // caller cut `q`): pass `i` reads words `16i..16i + 16` (word-aligned, as `LDRD`
        // needs: `win` is a `u32` slice) and weight bytes `12i..12i + 13`, at either
        // stride.
        unsafe {
            if S == 2 {
                q15_quads_loop!(q15_row_s2, win, w, q, a0, a1);
            } else {
                q15_quads_loop!(q15_row, win, w, q, a0, a1, a2, a3);
            }
        }
        [a0, a1, a2, a3]
    }
}

#[cfg(not(all(target_arch = "arm", feature = "cortex-m-dsp")))]
mod native {
    /// Bottom and top 16-bit lanes of `x`, signed.
    #[inline(always)]
    fn lanes(x: u32) -> (i32, i32) {
        (
            i32::from(x as u16 as i16),
            i32::from((x >> 16) as u16 as i16),
        )
    }

    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let lo = i16::from(x as u8 as i8) as u16;
        let hi = i16::from((x >> 16) as u8 as i8) as u16;
        u32::from(lo) | (u32::from(hi) << 16)
    }

    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        sxtb16(x.rotate_right(8))
    }

    #[inline(always)]
    pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
        let ((x0, x1), (y0, y1)) = (lanes(x), lanes(y));
        acc.wrapping_add(x0 * y0).wrapping_add(x1 * y1)
    }

    #[inline(always)]
    pub fn smlabb(x: u32, y: u32, acc: i32) -> i32 {
        acc.wrapping_add(lanes(x).0 * lanes(y).0)
    }

    #[inline(always)]
    pub fn smlatb(x: u32, y: u32, acc: i32) -> i32 {
        acc.wrapping_add(lanes(x).1 * lanes(y).0)
    }

    /// [`super::dot3_quads`] in plain Rust.
    pub fn dot3_quads(x: &[u8], w: [&[u8]; 3], q: usize) -> [i32; 3] {
        let quads = x.chunks_exact(4).take(q);
        w.map(|row| {
            quads
                .clone()
                .zip(row.chunks_exact(4))
                .fold(0i32, |acc, (xv, wv)| {
                    let (xv, wv) = (super::word(xv), super::word(wv));
                    let acc = smlad(sxtb16(xv), sxtb16(wv), acc);
                    smlad(sxtb16_ror8(xv), sxtb16_ror8(wv), acc)
                })
        })
    }

    /// [`super::dot3_q15`] in plain Rust.
    pub fn dot3_q15(xe: &[u32], w: [&[u8]; 3], q: usize) -> [i32; 3] {
        let quads = xe.chunks_exact(2).take(q);
        w.map(|row| {
            quads
                .clone()
                .zip(row.chunks_exact(4))
                .fold(0i32, |acc, (xv, wv)| {
                    let wv = super::word(wv);
                    let acc = smlad(xv[0], sxtb16(wv), acc);
                    smlad(xv[1], sxtb16_ror8(wv), acc)
                })
        })
    }

    /// [`super::conv3_q15_rows`]' loop in plain Rust.
    pub fn conv3_q15_quads<const S: usize>(
        win: &[u32],
        w: &[u8],
        q: usize,
        acc: [i32; 4],
    ) -> [i32; 4] {
        let rows = win.chunks_exact(super::Q15_ROW_WORDS).take(4 * q);
        rows.enumerate().fold(acc, |acc, (r, x)| {
            super::conv3_q15_row::<S>(x, super::word(w.get(3 * r..).unwrap_or(&[])), acc)
        })
    }
}

/// `SXTB16 x`: bytes 0 and 2 of `x`, sign-extended into the bottom and top lanes.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    native::sxtb16(x)
}

/// `SXTB16 x, ROR #8`: bytes 1 and 3 of `x`, sign-extended into the bottom and top lanes.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    native::sxtb16_ror8(x)
}

/// `SMLAD`: `acc + bottom(x)·bottom(y) + top(x)·top(y)`, wrapping.
#[inline(always)]
pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
    native::smlad(x, y, acc)
}

/// `SMLABB`: `acc + bottom(x)·bottom(y)`, wrapping.
#[inline(always)]
pub fn smlabb(x: u32, y: u32, acc: i32) -> i32 {
    native::smlabb(x, y, acc)
}

/// `SMLATB`: `acc + top(x)·bottom(y)`, wrapping.
#[inline(always)]
pub fn smlatb(x: u32, y: u32, acc: i32) -> i32 {
    native::smlatb(x, y, acc)
}

/// The first four bytes of `b` as a little-endian word (one unaligned `LDR` on the
/// Cortex-M4); bytes past the end of a shorter `b` read as 0.
#[inline(always)]
pub fn word(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
        short => {
            let mut w = [0u8; 4];
            for (d, s) in w.iter_mut().zip(short) {
                *d = *s;
            }
            u32::from_le_bytes(w)
        }
    }
}

/// `[Σ x·w0, Σ x·w1, Σ x·w2]` over the first `4·quads` int8 values of `x` and of each row
/// (fewer when a slice is shorter): each word of `x` is sign-extended once and meets the
/// three rows' words in two `SMLAD` each.
#[inline(always)]
pub fn dot3_quads(x: &[u8], [w0, w1, w2]: [&[u8]; 3], quads: usize) -> [i32; 3] {
    let q = quads
        .min(x.len() / 4)
        .min(w0.len() / 4)
        .min(w1.len() / 4)
        .min(w2.len() / 4);
    if q == 0 {
        return [0; 3];
    }
    native::dot3_quads(x, [w0, w1, w2], q)
}

/// `x`'s first `4·quads` int8 values as [`dot3_q15`] reads them: per input word `v`, the
/// words `SXTB16 v` and `SXTB16 v, ROR #8` (fewer when `x` or `xe` is shorter).
#[inline(always)]
pub fn q15_quads(x: &[u8], quads: usize, xe: &mut [u32]) {
    for (v, e) in x.chunks_exact(4).zip(xe.chunks_exact_mut(2)).take(quads) {
        // (one unaligned `LDR`; `word`'s `from_le_bytes` is four byte loads at opt-level z)
        let v = u32::from_le(bytemuck::pod_read_unaligned(v));
        e[0] = sxtb16(v);
        e[1] = sxtb16_ror8(v);
    }
}

/// `[Σ x·w0, Σ x·w1, Σ x·w2]` over the first `4·quads` int8 values of each row,
/// with `x` given extended by [`q15_quads`] (fewer when a slice is shorter): the extension
/// made once for every row, and the loop two quads per pass. Per quad 16 instructions and
/// a half, against [`dot3_quads`]' 20.
#[inline(always)]
pub fn dot3_q15(xe: &[u32], [w0, w1, w2]: [&[u8]; 3], quads: usize) -> [i32; 3] {
    let q = quads
        .min(xe.len() / 2)
        .min(w0.len() / 4)
        .min(w1.len() / 4)
        .min(w2.len() / 4);
    if q == 0 {
        return [0; 3];
    }
    native::dot3_q15(xe, [w0, w1, w2], q)
}

/// Words per row of the window [`conv3_q15_rows`] reads: the six int8 inputs `b0..b5`
/// under four outputs of a 3-wide kernel, sign-extended into 16-bit lanes as
/// `(b0, b2)`, `(b1, b3)`, `(b2, b4)`, `(b3, b5)` ([`q15_row`]).
pub const Q15_ROW_WORDS: usize = 4;

/// The window row [`conv3_q15_rows`] reads for the inputs `b0..b5`.
#[inline(always)]
pub fn q15_row(b: &[u8; 6]) -> [u32; Q15_ROW_WORDS] {
    q15_words(row_words(b), [!0; 2], [0; 2])
}

/// The words `b0 b1 b2 b3` and `b2 b3 b4 b5` of `b`.
#[inline(always)]
pub fn row_words(b: &[u8; 6]) -> [u32; 2] {
    // (unaligned word reads: one `LDR` each on the Cortex-M4, where LLVM builds the word
    // from byte loads for `from_le_bytes`)
    [
        u32::from_le(bytemuck::pod_read_unaligned(&b[..4])),
        u32::from_le(bytemuck::pod_read_unaligned(&b[2..])),
    ]
}

/// The window row [`conv3_q15_rows`] reads for the words `[lo, hi]` of [`row_words`],
/// each first taking the bytes of `keep` from itself and the others from `pads`
/// (`pads & !keep`).
#[inline(always)]
pub fn q15_words([lo, hi]: [u32; 2], keep: [u32; 2], pads: [u32; 2]) -> [u32; Q15_ROW_WORDS] {
    let (lo, hi) = ((lo & keep[0]) | pads[0], (hi & keep[1]) | pads[1]);
    [sxtb16(lo), sxtb16_ror8(lo), sxtb16(hi), sxtb16_ror8(hi)]
}

/// Neighbouring outputs of a 3-wide kernel at horizontal stride `S` over the rows of `win`
/// (fewer when `w` is shorter): row `r` is `win[4r..4r + 4]` (a [`q15_row`]) and its
/// weights `w[3r..3r + 3]`; adds `Σ_kx b[S·j + kx]·w[kx]` to `acc[j]`, for the four outputs
/// `j` the six inputs cover at stride 1 and the two at stride 2 (`acc[2..]` unchanged).
/// Four rows per pass of the loop, the inputs already extended, so that each row takes one
/// weight load and two extends, two `LDRD` and eight multiply-accumulate instructions for
/// its twelve products at stride 1 (four for six at stride 2). The loop reads each row's
/// weights as the word `w0 w1 w2 ·`, so it stops where that would read past `w`; the rows
/// left are taken one at a time.
#[inline(always)]
pub fn conv3_q15_rows<const S: usize>(win: &[u32], w: &[u8], acc: [i32; 4]) -> [i32; 4] {
    let rows = win.len() / Q15_ROW_WORDS;
    // (no division by 3 while `w` holds a byte past the rows, as it does but for the last
    // channel's last part)
    let (rows, quads) = if w.len() > 3 * rows {
        (rows, rows / 4)
    } else {
        let rows = w.len() / 3;
        (rows, rows.min(w.len().saturating_sub(1) / 3) / 4)
    };
    let acc = if quads == 0 {
        acc
    } else {
        native::conv3_q15_quads::<S>(win, w, quads, acc)
    };
    (4 * quads..rows).fold(acc, |acc, r| {
        match (win.get(4 * r..), w.get(3 * r..3 * r + 3)) {
            (Some(x), Some(&[w0, w1, w2])) => {
                conv3_q15_row::<S>(x, u32::from_le_bytes([w0, w1, w2, 0]), acc)
            }
            _ => acc,
        }
    })
}

/// Two neighbouring outputs of one 3-wide kernel row: inputs `b0 b1 b2 b3` extended as
/// `(b0, b2)` (`xe`) and `(b1, b3)` (`xo`), weights `(w0, w2)` (`we`) and `(w1, ·)`
/// (`wo`); returns `(ae + b0·w0 + b1·w1 + b2·w2, ao + b1·w0 + b2·w1 + b3·w2)`.
#[inline(always)]
pub fn column_pair(xe: u32, xo: u32, we: u32, wo: u32, (ae, ao): (i32, i32)) -> (i32, i32) {
    let ae = smlabb(xo, wo, smlad(xe, we, ae));
    let ao = smlatb(xe, wo, smlad(xo, we, ao));
    (ae, ao)
}

/// One row of [`conv3_q15_rows`]: window words `x[0..4]`, weight word `wv` (`w0 w1 w2 ·`).
#[inline(always)]
pub fn conv3_q15_row<const S: usize>(x: &[u32], wv: u32, [a0, a1, a2, a3]: [i32; 4]) -> [i32; 4] {
    let (we, wo) = (sxtb16(wv), sxtb16_ror8(wv));
    let Some(&[e0, o0, e1, o1]) = x.get(..Q15_ROW_WORDS) else {
        return [a0, a1, a2, a3];
    };
    if S == 2 {
        // inputs `b0 b1 b2` and `b2 b3 b4`
        let a0 = smlabb(o0, wo, smlad(e0, we, a0));
        let a1 = smlabb(o1, wo, smlad(e1, we, a1));
        return [a0, a1, a2, a3];
    }
    let (a0, a1) = column_pair(e0, o0, we, wo, (a0, a1));
    let (a2, a3) = column_pair(e1, o1, we, wo, (a2, a3));
    [a0, a1, a2, a3]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(lo: i16, hi: i16) -> u32 {
        u32::from(lo as u16) | (u32::from(hi as u16) << 16)
    }

    #[test]
    fn extends_take_bytes_0_2_and_1_3_signed() {
        let x = u32::from_le_bytes([0x80, 0x7f, 0xff, 0x01]);
        assert_eq!(sxtb16(x), pack(-128, -1));
        assert_eq!(sxtb16_ror8(x), pack(127, 1));
    }

    #[test]
    fn multiply_accumulates_match_their_definitions() {
        let (x, y) = (pack(-128, 127), pack(-128, -128));
        assert_eq!(smlad(x, y, 5), 5 + 16384 - 16256);
        assert_eq!(smlabb(x, y, 5), 5 + 16384);
        assert_eq!(smlatb(x, y, 5), 5 - 16256);
        assert_eq!(smlad(x, y, i32::MAX), i32::MAX.wrapping_add(128));
    }

    /// `acc[j] + Σ_r Σ_kx b_r[S·j + kx]·w[3r + kx]` over the rows `w` holds in full.
    fn conv3_direct<const S: usize>(rows: &[[u8; 6]], w: &[u8], outputs: usize) -> [i32; 4] {
        let mut acc = [7, -3, 11, 0];
        for (b, wr) in rows.iter().zip(w.chunks_exact(3)) {
            for (j, a) in acc.iter_mut().enumerate().take(outputs) {
                for (kx, &wv) in wr.iter().enumerate() {
                    *a += i32::from(b[S * j + kx] as i8) * i32::from(wv as i8);
                }
            }
        }
        acc
    }

    #[test]
    fn conv3_q15_rows_match_the_direct_sums_at_strides_1_and_2() {
        // every row count around the loop's four-row passes, with and without the byte past
        // the last row's weights (the loop reads each row's weights as a word), and
        // weights for fewer rows than the window holds
        let mut seed = 12345u32;
        let mut byte = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        };
        for rows in 0usize..14 {
            let window: Vec<[u8; 6]> = (0..rows)
                .map(|_| core::array::from_fn(|_| byte()))
                .collect();
            let win: Vec<u32> = window.iter().flat_map(q15_row).collect();
            let weights: Vec<u8> = (0..3 * rows + 1).map(|_| byte()).collect();
            for w_len in [3 * rows + 1, 3 * rows, (3 * rows).saturating_sub(4)] {
                let w = &weights[..w_len];
                assert_eq!(
                    conv3_q15_rows::<1>(&win, w, [7, -3, 11, 0]),
                    conv3_direct::<1>(&window, w, 4),
                    "stride 1, {rows} rows, {w_len} weight bytes"
                );
                assert_eq!(
                    conv3_q15_rows::<2>(&win, w, [7, -3, 11, 0]),
                    conv3_direct::<2>(&window, w, 2),
                    "stride 2, {rows} rows, {w_len} weight bytes"
                );
            }
        }
    }

    #[test]
    fn word_is_little_endian_and_zero_past_the_end() {
        assert_eq!(word(&[1, 2, 3, 4, 5]), 0x0403_0201);
        assert_eq!(word(&[1, 2, 3]), 0x0003_0201);
        assert_eq!(word(&[]), 0);
    }
}
