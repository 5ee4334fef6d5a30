//! Conv2d variants: register-blocked tiles of `N` output channels × `T` output columns.
//!
//! For every output row the kernel walks the taps in the reference's `(c, ky, kx)` order and
//! adds `x[c, iy, ox + kx − pl] · w[m, c, ky, kx]` to a `N × T` block of accumulators that
//! stays in registers. The input row under the tile is first copied (converted, and less
//! the input zero point on the int8 path) into a small padded buffer, so the inner loops
//! have fixed lengths, no bounds checks and no edge cases: they vectorise over the `T`
//! columns on hosts, and on a Cortex-M4 each loaded input feeds `N` multiply-accumulates.
//!
//! Each output still receives its taps in `(c, ky, kx)` order, so f32 results are those of
//! the reference bit for bit (the golden files do not change). Taps in the padding add `0 · w` where the reference adds
//! nothing, which changes nothing unless a weight is infinite or NaN; the f32 kernels check
//! the weights once per call and run the reference then. Other shapes the tiles do not
//! cover (a horizontal stride other than 1, very wide kernels) also run the reference.
//!
//! The firmware is built for size (`opt-level = "z"`), which unrolls nothing, so the tiles'
//! fixed-length loops stay loops there. On the Cortex-M4 the int8 conv runs
//! [`conv2d_i8_m4`] instead, whose inner step is written out by hand.

use super::add::Rescale;
use super::dense::rows_dsp;
use super::dsp;
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dParams, conv2d_f32, conv2d_i8, conv2d_w8a32};
use crate::kernels::{FusedActivation, relu_f32, requantize};

/// Widest kernel the tiles cover.
const MAX_KW: usize = 8;
/// Length of the padded input buffer: at least `T + MAX_KW − 1` for every tile width `T`.
const XS_LEN: usize = 40;

/// Output channels per pass, and output columns per tile.
#[cfg(target_arch = "arm")]
const BLOCK: (usize, usize) = (2, 4);
#[cfg(not(target_arch = "arm"))]
const BLOCK: (usize, usize) = (4, 16);
const _: () = assert!(BLOCK.1 + MAX_KW <= XS_LEN + 1);

/// Whether the tiled kernels cover this geometry.
fn tiled(p: &Conv2dParams) -> bool {
    p.stride_w == 1 && p.kernel_w <= MAX_KW && p.out_w > 0 && p.out_h > 0
}

/// The tiled convolution, generic over the element types: `load_x` converts an input
/// value to the accumulator type (padding is `zero`), `mac(acc, x, w)` accumulates one
/// product, and `finish(m, acc)` turns channel `m`'s accumulator into an output.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_tiled<X: Copy, W: Copy, S: Copy, V: Copy, A: Copy, Y, const N: usize, const T: usize>(
    p: &Conv2dParams,
    x: &[X],
    w: &[W],
    y: &mut [Y],
    (pad, zero, pad_w): (S, A, W),
    load_x: impl Fn(X) -> S,
    load_w: impl Fn(W) -> V,
    mac: impl Fn(A, S, V) -> A,
    finish: impl Fn(usize, A) -> Y,
) {
    let taps = p.kernel_h * p.kernel_w;
    let per_m = (p.in_channels * taps).max(1);
    let plane = p.out_h * p.out_w;
    let mut w_blocks = w.chunks_exact(N * per_m);
    let mut y_blocks = y.chunks_exact_mut(N * plane);
    let blocks = (&mut w_blocks).zip(&mut y_blocks).take(p.out_channels / N);
    for (b, (wb, yb)) in blocks.enumerate() {
        conv_block::<X, W, S, V, A, Y, N, T>(
            p,
            x,
            wb,
            yb,
            (pad, zero, pad_w),
            &load_x,
            &load_w,
            &mac,
            |j, a| finish(b * N + j, a),
        );
    }
    // The last `out_channels % N` channels, one at a time.
    let rest = w_blocks.remainder().chunks_exact(per_m);
    let rest = rest.zip(y_blocks.into_remainder().chunks_exact_mut(plane));
    let first = p.out_channels / N * N;
    for (j, (wb, yb)) in rest.enumerate() {
        conv_block::<X, W, S, V, A, Y, 1, T>(
            p,
            x,
            wb,
            yb,
            (pad, zero, pad_w),
            &load_x,
            &load_w,
            &mac,
            |_, a| finish(first + j, a),
        );
    }
}

/// `N` output channels (weights `wb: [N, C, KH, KW]`, outputs `yb: [N, OH, OW]`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_block<X: Copy, W: Copy, S: Copy, V: Copy, A: Copy, Y, const N: usize, const T: usize>(
    p: &Conv2dParams,
    x: &[X],
    wb: &[W],
    yb: &mut [Y],
    (pad, zero, pad_w): (S, A, W),
    load_x: &impl Fn(X) -> S,
    load_w: &impl Fn(W) -> V,
    mac: &impl Fn(A, S, V) -> A,
    finish: impl Fn(usize, A) -> Y,
) {
    let (kh, kw) = (p.kernel_h, p.kernel_w);
    let taps = kh * kw;
    let per_m = p.in_channels * taps;
    let plane = p.out_h * p.out_w;
    let in_plane = p.in_h * p.in_w;
    // Padded input under one tile: `xs[i]` is column `ox0 + i − pl`.
    let mut xs = [pad; XS_LEN];
    for oy in 0..p.out_h {
        let row0 = oy * p.stride_h;
        for ox0 in (0..p.out_w).step_by(T) {
            let mut acc = [[zero; T]; N];
            // Tile columns whose input columns exist: `lo..hi` of `xs`.
            let lo = p.pad_left.saturating_sub(ox0);
            let hi = (p.in_w + p.pad_left)
                .saturating_sub(ox0)
                .min(T + kw - 1)
                .max(lo);
            let ix0 = ox0 + lo - p.pad_left;
            // Columns outside the image stay `pad` for the whole tile.
            if let Some(used) = xs.get_mut(..T + kw - 1) {
                used.fill(pad);
            }
            for c in 0..p.in_channels {
                for ky in 0..kh {
                    let Some(iy) = (row0 + ky).checked_sub(p.pad_top) else {
                        continue;
                    };
                    if iy >= p.in_h {
                        continue;
                    }
                    let start = c * in_plane + iy * p.in_w + ix0;
                    let Some(src) = x.get(start..start + (hi - lo)) else {
                        return;
                    };
                    for (d, &s) in xs[lo..hi].iter_mut().zip(src) {
                        *d = load_x(s);
                    }
                    let wrow = c * taps + ky * kw;
                    let wrows: [&[W]; N] = core::array::from_fn(|j| {
                        let at = j * per_m + wrow;
                        wb.get(at..at + kw).unwrap_or(&[])
                    });
                    for kx in 0..kw {
                        let Some(Ok(seg)) = xs.get(kx..kx + T).map(<&[S; T]>::try_from) else {
                            return;
                        };
                        let wv: [V; N] = core::array::from_fn(|j| {
                            load_w(wrows[j].get(kx).copied().unwrap_or(pad_w))
                        });
                        mac_tile(&mut acc, seg, &wv, mac);
                    }
                }
            }
            let t = T.min(p.out_w - ox0);
            for (j, accj) in acc.iter().enumerate() {
                let at = j * plane + oy * p.out_w + ox0;
                let Some(out) = yb.get_mut(at..at + t) else {
                    return;
                };
                for (o, &a) in out.iter_mut().zip(accj) {
                    *o = finish(j, a);
                }
            }
        }
    }
}

/// `acc[j][i] = mac(acc[j][i], seg[i], wv[j])` over the tile.
#[inline(always)]
fn mac_tile<S: Copy, V: Copy, A: Copy, const N: usize, const T: usize>(
    acc: &mut [[A; T]; N],
    seg: &[S; T],
    wv: &[V; N],
    mac: &impl Fn(A, S, V) -> A,
) {
    // The firmware is built for size (no loop unrolling): spell the 2 × 4 tile out so
    // that its accumulators live in registers.
    #[cfg(target_arch = "arm")]
    if let (Ok(a), Ok(&[x0, x1, x2, x3]), Ok(&[w0, w1])) = (
        <&mut [A; 8]>::try_from(acc.as_flattened_mut()),
        <&[S; 4]>::try_from(&seg[..]),
        <&[V; 2]>::try_from(&wv[..]),
    ) {
        a[0] = mac(a[0], x0, w0);
        a[1] = mac(a[1], x1, w0);
        a[2] = mac(a[2], x2, w0);
        a[3] = mac(a[3], x3, w0);
        a[4] = mac(a[4], x0, w1);
        a[5] = mac(a[5], x1, w1);
        a[6] = mac(a[6], x2, w1);
        a[7] = mac(a[7], x3, w1);
        return;
    }
    for (accj, &w) in acc.iter_mut().zip(wv) {
        for (a, &x) in accj.iter_mut().zip(seg) {
            *a = mac(*a, x, w);
        }
    }
}

/// f32 conv2d in tiles; bit-identical to [`conv2d_f32`].
pub fn conv2d_f32_tiled(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    if !tiled(p) || !w.iter().all(|v| v.is_finite()) {
        return conv2d_f32(p, x, w, bias, y);
    }
    let relu = p.activation == FusedActivation::Relu;
    let finish = |m: usize, acc: f32| {
        let acc = match bias.and_then(|b| b.get(m)) {
            Some(&b) => acc + b,
            None => acc,
        };
        if relu { relu_f32(acc) } else { acc }
    };
    conv_tiled::<f32, f32, f32, f32, f32, f32, { BLOCK.0 }, { BLOCK.1 }>(
        p,
        x,
        w,
        y,
        (0.0, 0.0, 0.0),
        |v| v,
        |v| v,
        |a, x, w| a + x * w,
        finish,
    );
}

/// w8a32 conv2d in tiles; bit-identical to [`conv2d_w8a32`].
pub fn conv2d_w8a32_tiled(
    p: &Conv2dParams,
    x: &[f32],
    w: &[i8],
    scale: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    if !tiled(p) || scale.len() < p.out_channels {
        return conv2d_w8a32(p, x, w, scale, bias, y);
    }
    let relu = p.activation == FusedActivation::Relu;
    let finish = |m: usize, acc: f32| {
        let acc = acc * scale.get(m).copied().unwrap_or(0.0);
        let acc = match bias.and_then(|b| b.get(m)) {
            Some(&b) => acc + b,
            None => acc,
        };
        if relu { relu_f32(acc) } else { acc }
    };
    conv_tiled::<f32, i8, f32, f32, f32, f32, { BLOCK.0 }, { BLOCK.1 }>(
        p,
        x,
        w,
        y,
        (0.0, 0.0, 0),
        |v| v,
        f32::from,
        |a, x, w| a + x * w,
        finish,
    );
}

/// int8 conv2d in tiles; equal to [`conv2d_i8`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_i8_tiled(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let n = p.out_channels;
    if !tiled(p) || bias.len() < n || multiplier.len() < n || shift.len() < n {
        return conv2d_i8(p, q, x, w, bias, multiplier, shift, y);
    }
    let Ok(zp16) = i8::try_from(q.input_zero_point).map(i16::from) else {
        return conv2d_i8(p, q, x, w, bias, multiplier, shift, y);
    };
    i8_tiled::<{ BLOCK.0 }, { BLOCK.1 }>(p, q, zp16, x, w, (bias, multiplier, shift), y);
}

/// [`conv2d_i8_tiled`] with `N × T` tiles (`zp16` is the input zero point).
#[inline(always)]
fn i8_tiled<const N: usize, const T: usize>(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    zp16: i16,
    x: &[i8],
    w: &[i8],
    requant: (&[i32], &[i32], &[i32]),
    y: &mut [i8],
) {
    let finish = |m: usize, acc: i32| finish_i8(q, requant, m, acc);
    conv_tiled::<i8, i8, i16, i16, i32, i8, N, T>(
        p,
        x,
        w,
        y,
        (0, 0, 0),
        // |x − zp| ≤ 255 with both in int8 range
        |v| i16::from(v) - zp16,
        i16::from,
        |a, x, w| a.wrapping_add(i32::from(x) * i32::from(w)),
        finish,
    );
}

/// Output columns per tile of [`conv2d_i8_m4`].
const M4_T: usize = 4;
/// Columns of input one tile of [`conv2d_i8_m4`] reads (3-wide kernels).
const M4_SPAN: usize = M4_T + 2;
/// Bytes of the padded input window [`conv2d_i8_m4`] stages on the stack: up to
/// `C·KH = 192` rows of [`M4_SPAN`] (64 channels of a 3×3 kernel).
const M4_BAND: usize = 192 * M4_SPAN;

/// int8 conv2d for the Cortex-M4, for 3-wide kernels at horizontal stride 1 (others run
/// [`conv2d_i8_tiled`]). Equal to [`conv2d_i8`].
///
/// The firmware is built for size, so nothing is unrolled for it; this kernel spells out
/// its inner step. For each tile of four output columns, the `KH` input rows under it are
/// staged, for every channel, into a padded window on the stack (the padding holding the
/// input zero point), shared by all output channels. Then the tile's four outputs of one
/// channel accumulate in registers in one loop over the `C·KH` (channel, row) pairs: three
/// weights and six inputs loaded, twelve multiply-accumulates. With padding read as the
/// zero point every tap is taken, and `Σ (x̃ − zp)·w = Σ x̃·w − zp·Σ w` takes the zero
/// point out of the loop.
///
/// Never inlined, so that the window is on the stack only while a conv runs.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_m4(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let n = p.out_channels;
    let rows = p.in_channels * p.kernel_h;
    let Some(zp8) = band_zero_point(p, q, [bias, multiplier, shift], (M4_BAND / M4_SPAN, 1)) else {
        return conv2d_i8_tiled(p, q, x, w, bias, multiplier, shift, y);
    };
    let zp = i32::from(zp8);
    let per_m = rows * 3;
    let plane = p.out_h * p.out_w;
    let mut band = [zp8; M4_BAND];
    for oy in 0..p.out_h {
        for ox0 in (0..p.out_w).step_by(M4_T) {
            stage_band(p, x, &mut band, (oy, ox0), zp8);
            let t = M4_T.min(p.out_w - ox0);
            for (m, wm) in w.chunks_exact(per_m).take(n).enumerate() {
                let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
                let (mut xs, mut ws) = (&band[..], wm);
                while let ([w0, w1, w2, wr @ ..], [x0, x1, x2, x3, x4, x5, xr @ ..]) = (ws, xs) {
                    let (w0, w1, w2) = (i32::from(*w0), i32::from(*w1), i32::from(*w2));
                    let x0 = i32::from(*x0);
                    a0 = a0.wrapping_add(x0 * w0);
                    let x1 = i32::from(*x1);
                    a0 = a0.wrapping_add(x1 * w1);
                    a1 = a1.wrapping_add(x1 * w0);
                    let x2 = i32::from(*x2);
                    a0 = a0.wrapping_add(x2 * w2);
                    a1 = a1.wrapping_add(x2 * w1);
                    a2 = a2.wrapping_add(x2 * w0);
                    let x3 = i32::from(*x3);
                    a1 = a1.wrapping_add(x3 * w2);
                    a2 = a2.wrapping_add(x3 * w1);
                    a3 = a3.wrapping_add(x3 * w0);
                    let x4 = i32::from(*x4);
                    a2 = a2.wrapping_add(x4 * w2);
                    a3 = a3.wrapping_add(x4 * w1);
                    let x5 = i32::from(*x5);
                    a3 = a3.wrapping_add(x5 * w2);
                    (ws, xs) = (wr, xr);
                }
                let corr = zp.wrapping_mul(weight_sum(wm));
                let at = m * plane + oy * p.out_w + ox0;
                if let Some(out) = y.get_mut(at..at + t) {
                    for (o, a) in out.iter_mut().zip([a0, a1, a2, a3]) {
                        *o = finish_i8(q, (bias, multiplier, shift), m, a.wrapping_sub(corr));
                    }
                }
            }
        }
    }
}

/// int8 conv2d for cores with the DSP extension: the band kernel
/// ([`conv2d_i8_band_dsp`]) for 3-wide kernels at horizontal stride 1 or 2, the patch
/// kernel ([`conv2d_i8_patch_dsp`]) for other geometries, the reference past their limits
/// (a patch of more than [`PATCH_MAX`] values, or more than [`DSP_CHANNELS`] channels of a
/// kernel that is not 3 wide); the last two only in a build with the int8 fallbacks
/// ([`INT8_FALLBACKS`](super::INT8_FALLBACKS): without them a conv the band kernel does
/// not cover is refused at load, [`needs_fallback`]). Neither [`conv2d_i8_m4`], which the
/// band kernel covers, nor [`conv2d_i8_tiled`] is linked then (3.5 KB of code). Equal to
/// [`conv2d_i8`]. It holds no
/// buffer itself, so only one kernel's is on the stack.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_i8_dsp(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let requant = [bias, multiplier, shift];
    let kernel = if band_zero_point(p, q, requant, (usize::MAX, 2)).is_some() {
        conv2d_i8_band_dsp
    } else if !super::INT8_FALLBACKS {
        // (a build without the fallbacks refuses such a model at load: [`needs_fallback`])
        return;
    } else if patch_zero_point(p, q, requant).is_some() {
        conv2d_i8_patch_dsp
    } else {
        conv2d_i8
    };
    kernel(p, q, x, w, bias, multiplier, shift, y);
}

/// Longest patch (`C·KH·KW` values) [`conv2d_i8_patch_dsp`] stages.
const PATCH_MAX: usize = 576;

/// The input zero point as int8 when [`conv2d_i8_patch_dsp`] covers this conv: a patch of
/// `1..=PATCH_MAX` values, at most [`DSP_CHANNELS`] channels, a requantisation for each.
fn patch_zero_point(p: &Conv2dParams, q: &Conv2dI8Quant, requant: [&[i32]; 3]) -> Option<i8> {
    let k = p.in_channels * p.kernel_h * p.kernel_w;
    let covered = (1..=PATCH_MAX).contains(&k)
        && p.out_channels <= DSP_CHANNELS
        && requant.iter().all(|r| r.len() >= p.out_channels);
    covered
        .then(|| i8::try_from(q.input_zero_point).ok())
        .flatten()
}

/// int8 conv2d for cores with the DSP extension, any geometry with a patch of at most
/// [`PATCH_MAX`] values (strided and wide kernels; others run the reference). Equal
/// to [`conv2d_i8`].
///
/// For each output pixel its patch `x[c, oy·sh + ky − pt, ox·sw + kx − pl]` is staged in
/// `(c, ky, kx)` order on the stack (the input zero point where it lies outside the image;
/// `zp·Σw` of each channel is subtracted at the end), and every channel's output is its
/// weight row times the patch, three rows per pass with dual multiply-accumulates
/// ([`rows_dsp`], Dense's loop).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_patch_dsp(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let Some(zp8) = patch_zero_point(p, q, [bias, multiplier, shift]) else {
        return conv2d_i8(p, q, x, w, bias, multiplier, shift, y);
    };
    let (n, k) = (p.out_channels, p.in_channels * p.kernel_h * p.kernel_w);
    let mut corr = [0i32; DSP_CHANNELS];
    for (c, wm) in corr.iter_mut().zip(w.chunks_exact(k)) {
        *c = i32::from(zp8).wrapping_mul(weight_sum(wm));
    }
    let (x, w): (&[u8], &[u8]) = (bytemuck::cast_slice(x), bytemuck::cast_slice(w));
    let zpb = zp8 as u8;
    let (plane, in_plane) = (p.out_h * p.out_w, p.in_h * p.in_w);
    let (zp, lo, hi) = (q.output_zero_point, q.act_min, q.act_max);
    let mut patch = [zpb; PATCH_MAX];
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let mut rows = patch.chunks_exact_mut(p.kernel_w);
            for c in 0..p.in_channels {
                for ky in 0..p.kernel_h {
                    let Some(row) = rows.next() else { break };
                    let iy = (oy * p.stride_h + ky).checked_sub(p.pad_top);
                    let iy = iy.filter(|&iy| iy < p.in_h);
                    for (kx, d) in row.iter_mut().enumerate() {
                        let ix = (ox * p.stride_w + kx).checked_sub(p.pad_left);
                        *d = match (iy, ix.filter(|&ix| ix < p.in_w)) {
                            (Some(iy), Some(ix)) => x
                                .get(c * in_plane + iy * p.in_w + ix)
                                .copied()
                                .unwrap_or(zpb),
                            _ => zpb,
                        };
                    }
                }
            }
            let at = oy * p.out_w + ox;
            let patch = patch.get(..k).unwrap_or(&[]);
            rows_dsp(patch, w, k, n, |m, acc| {
                let requant = (bias.get(m), multiplier.get(m), shift.get(m), corr.get(m));
                if let (Some(o), (Some(&b), Some(&mul), Some(&sh), Some(&cr))) =
                    (y.get_mut(m * plane + at), requant)
                {
                    let acc = acc.wrapping_sub(cr).wrapping_add(b);
                    *o = requantize(acc, mul, sh, zp, lo, hi);
                }
            });
        }
    }
}

/// Output columns per tile of [`conv2d_i8_band_dsp`] (its window is [`conv2d_i8_m4`]'s).
const DSP_T: usize = M4_T;
/// Output channels the DSP kernels keep a zero-point correction for.
const DSP_CHANNELS: usize = 64;
/// Window rows [`conv2d_i8_band_dsp`] stages at a time (1,536 bytes extended).
const Q15_ROWS: usize = 96;
/// Output channels [`conv2d_i8_band_dsp`] carries sums for from one staged part of the
/// window to the next (more are taken in groups, each staging the window again).
const Q15_GROUP: usize = 32;

/// int8 conv2d for cores with the DSP extension, for 3-wide kernels at horizontal stride 1
/// or 2 (others run the reference, in a build with the int8 fallbacks). Equal to
/// [`conv2d_i8`].
///
/// Like [`conv2d_i8_m4`], the `KH` input rows under a tile of four output columns (two at
/// stride 2) are
/// staged for every channel into a window on the stack, padded with the input zero point,
/// and shared by all output channels. Here each window row's six inputs `b0..b5` are
/// staged already sign-extended into 16-bit lanes, as the four words `(b0, b2)`,
/// `(b1, b3)`, `(b2, b4)`, `(b3, b5)` ([`dsp::q15_row`]), so that the inner loop
/// ([`dsp::conv3_q15_rows`], four rows per pass) spends no instruction on the inputs but
/// two `LDRD`. Each row's three weights are one word `w0 w1 w2 ·`, sign-extended into the
/// lanes `(w0, w2)` and `(w1, ·)`. Then output column `j` takes `b0·w0 + b2·w2` in one
/// `SMLAD` and `b1·w1` in one `SMLABB`, and column `j + 1` takes `b1·w0 + b3·w2` and
/// `b2·w1` (`SMLATB`): twelve multiply-accumulates in thirteen instructions (at stride 2,
/// columns `j` and `j + 1` take `(b0, b2)`, `b1` and `(b2, b4)`, `b3`). The window is
/// staged [`Q15_ROWS`] rows at a time (the stack of a 64 KB part is tight), the four sums
/// of each of up to [`Q15_GROUP`] channels carried from one part to the next. `zp·Σw` of
/// each channel is computed once per call and subtracted from its bias, since padding
/// reads as the zero point.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_band_dsp(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let rows = p.in_channels * p.kernel_h;
    let Some(zp8) = band_zero_point(p, q, [bias, multiplier, shift], (usize::MAX, 2)) else {
        if super::INT8_FALLBACKS {
            conv2d_i8(p, q, x, w, bias, multiplier, shift, y);
        }
        return;
    };
    let per_m = rows * 3;
    let plane = p.out_h * p.out_w;
    let x: &[u8] = bytemuck::cast_slice(x);
    let w: &[u8] = bytemuck::cast_slice(w);
    let mut win = [0u32; Q15_ROWS * dsp::Q15_ROW_WORDS];
    let mut sums = [[0i32; DSP_T]; Q15_GROUP];
    let mut corr = [0i32; Q15_GROUP];
    let (zp, lo, hi) = (q.output_zero_point, q.act_min, q.act_max);
    // output columns per tile: the window's six input columns cover two at stride 2
    let tile = if p.stride_w == 1 { DSP_T } else { 2 };
    // The rows split evenly into as few parts as the window takes, each a whole number of
    // 4-row passes but the last.
    let parts = rows.div_ceil(Q15_ROWS);
    let per_part = rows
        .div_ceil(parts.max(1))
        .next_multiple_of(4)
        .min(Q15_ROWS);
    let groups = w
        .chunks(Q15_GROUP * per_m)
        .zip(y.chunks_mut(Q15_GROUP * plane));
    for (g, (wg, yg)) in groups.enumerate() {
        let n = wg.len() / per_m.max(1);
        // each channel's bias less `zp·Σw`
        let biases = bias.get(g * Q15_GROUP..).unwrap_or(&[]);
        for ((c, wm), &b) in corr.iter_mut().zip(wg.chunks_exact(per_m)).zip(biases) {
            let zw = i32::from(zp8).wrapping_mul(weight_sum(bytemuck::cast_slice(wm)));
            *c = b.wrapping_sub(zw);
        }
        for oy in 0..p.out_h {
            for ox0 in (0..p.out_w).step_by(tile) {
                let sums = sums.get_mut(..n).unwrap_or(&mut []);
                sums.fill([0; DSP_T]);
                let cols = window_cols(p, ox0 * p.stride_w);
                for r0 in (0..rows).step_by(per_part) {
                    // The part's rows, then zero rows up to a multiple of four, which add
                    // nothing but let the loop take them all.
                    let part = per_part.min(rows - r0);
                    let words = part.next_multiple_of(4) * dsp::Q15_ROW_WORDS;
                    let win = win.get_mut(..words).unwrap_or(&mut []);
                    let (staged, zeros) = win.split_at_mut(part * dsp::Q15_ROW_WORDS);
                    stage_q15(p, x, staged, (cols, oy), r0, zp8 as u8);
                    zeros.fill(0);
                    let mut wm = wg.get(3 * r0..).unwrap_or(&[]);
                    for acc in sums.iter_mut() {
                        *acc = match p.stride_w {
                            1 => dsp::conv3_q15_rows::<1>(win, wm, *acc),
                            _ => dsp::conv3_q15_rows::<2>(win, wm, *acc),
                        };
                        wm = wm.get(per_m..).unwrap_or(&[]);
                    }
                }
                let t = tile.min(p.out_w - ox0);
                for (m, (acc, &corr)) in sums.iter().zip(&corr).enumerate() {
                    let mg = g * Q15_GROUP + m;
                    let at = m * plane + oy * p.out_w + ox0;
                    let requant = (multiplier.get(mg), shift.get(mg));
                    let (Some(out), (Some(&mul), Some(&sh))) = (yg.get_mut(at..at + t), requant)
                    else {
                        continue;
                    };
                    // (a slice iterator: at `opt-level = "z"` an array's `into_iter` stays a
                    // call per element)
                    let rescale = Rescale::new(mul, sh);
                    for (o, &acc) in out.iter_mut().zip(acc) {
                        *o = rescale.to_i8(acc.wrapping_add(corr), zp, lo, hi);
                    }
                }
            }
        }
    }
}

/// Stages rows `r0..` of [`conv2d_i8_band_dsp`]'s window, as many as `win` holds, for the
/// tile of output row `oy` whose columns are `cols` ([`window_cols`]): row `c·KH + ky` is
/// [`window_row`] `(c, ky)` extended by [`dsp::q15_row`]. A row inside the image is read
/// as two words straight from the input. (Not inlined: on its own it keeps its pointers
/// in registers.)
#[inline(never)]
fn stage_q15(
    p: &Conv2dParams,
    x: &[u8],
    win: &mut [u32],
    (cols, oy): ((usize, usize, usize), usize),
    r0: usize,
    pad: u8,
) {
    let kh = p.kernel_h.max(1);
    let (mut c, mut ky) = (r0 / kh, r0 % kh);
    let (lo, hi, ix) = cols;
    // The row's six bytes are read from input column `ix − lo` (`ox0 − pl`), then those
    // outside the image (window columns outside `lo..hi`) replaced by `pad`: `keep` has
    // the bytes in the image of the words at window columns 0 and 2.
    let keep = (0..M4_SPAN)
        .filter(|j| (lo..hi).contains(j))
        .fold(0u64, |k, j| k | (0xff << (8 * j)));
    let keep = [keep as u32, (keep >> 16) as u32];
    let pads = u32::from_le_bytes([pad; 4]);
    let pads = [pads & !keep[0], pads & !keep[1]];
    let outside = dsp::q15_row(&[pad; M4_SPAN]);
    // Row `(c, ky)` is input row `iy = iy0 + ky` (rows above the image, and columns left
    // of it, wrap to large values), read from `at`; both step by one row per window row,
    // and `at` to the next channel's first row after the last `ky`.
    let iy0 = (oy * p.stride_h).wrapping_sub(p.pad_top);
    let mut iy = iy0.wrapping_add(ky);
    let mut at = (c * p.in_h * p.in_w)
        .wrapping_add(iy.wrapping_mul(p.in_w))
        .wrapping_add(ix)
        .wrapping_sub(lo);
    let next_channel = (p.in_h * p.in_w).wrapping_sub(kh * p.in_w);
    for dst in win.chunks_exact_mut(dsp::Q15_ROW_WORDS) {
        let row = x.get(at..).and_then(|b| b.get(..M4_SPAN));
        let words = match row.map(<&[u8; M4_SPAN]>::try_from) {
            _ if iy >= p.in_h => outside,
            Some(Ok(b)) => dsp::q15_words(dsp::row_words(b), keep, pads),
            // (the first and last rows of `x`, where the bytes outside the image are not
            // all there)
            _ => dsp::q15_row(&window_row(p, x, cols, (c, ky), oy, pad)),
        };
        dst.copy_from_slice(&words);
        (ky, iy, at) = (ky + 1, iy.wrapping_add(1), at.wrapping_add(p.in_w));
        if ky == kh {
            (c, ky, iy, at) = (c + 1, 0, iy0, at.wrapping_add(next_channel));
        }
    }
}

/// The columns of the window from input column `ix0 − pl` (`ix0 = ox0·sw` for the tile
/// from output column `ox0`) that lie in the image, `lo..hi`, and the input column of `lo`
/// (see [`window_row`]).
fn window_cols(p: &Conv2dParams, ix0: usize) -> (usize, usize, usize) {
    let lo = p.pad_left.saturating_sub(ix0);
    let hi = (p.in_w + p.pad_left)
        .saturating_sub(ix0)
        .min(M4_SPAN)
        .max(lo);
    (lo, hi, ix0 + lo - p.pad_left)
}

/// Row `c·KH + ky` of the band kernels' window ([`conv2d_i8_m4`], [`conv2d_i8_band_dsp`])
/// for the tile of output row `oy` whose columns are `cols` ([`window_cols`]): the
/// [`M4_SPAN`] columns from `ix0 − pl` of input row `oy·sh + ky − pt` of channel `c`, and
/// `pad` where that lies outside the image. A row inside the image is one copy.
#[inline(always)]
fn window_row<T: Copy>(
    p: &Conv2dParams,
    x: &[T],
    (lo, hi, ix): (usize, usize, usize),
    (c, ky): (usize, usize),
    oy: usize,
    pad: T,
) -> [T; M4_SPAN] {
    let mut row = [pad; M4_SPAN];
    let iy = (oy * p.stride_h + ky).checked_sub(p.pad_top);
    let Some(iy) = iy.filter(|&iy| iy < p.in_h) else {
        return row;
    };
    let at = c * p.in_h * p.in_w + iy * p.in_w + ix;
    if hi - lo == M4_SPAN {
        if let Some(Ok(src)) = x.get(at..at + M4_SPAN).map(<&[T; M4_SPAN]>::try_from) {
            return *src;
        }
        return row;
    }
    let src = x.get(at..at + (hi - lo)).unwrap_or(&[]);
    for (d, &s) in row.iter_mut().skip(lo).zip(src) {
        *d = s;
    }
    row
}

/// Stages the window of [`conv2d_i8_m4`] for the tile of output row `oy` from column
/// `ox0`: band row `c·KH + ky` is [`window_row`] `(c, ky)`.
fn stage_band<T: Copy>(
    p: &Conv2dParams,
    x: &[T],
    band: &mut [T],
    (oy, ox0): (usize, usize),
    pad: T,
) {
    let cols = window_cols(p, ox0);
    let mut dsts = band.chunks_exact_mut(M4_SPAN);
    for c in 0..p.in_channels {
        for ky in 0..p.kernel_h {
            let Some(dst) = dsts.next() else {
                return;
            };
            dst.copy_from_slice(&window_row(p, x, cols, (c, ky), oy, pad));
        }
    }
}

/// The input zero point as int8 when the band kernels ([`conv2d_i8_m4`],
/// [`conv2d_i8_band_dsp`]) cover this conv: a 3-wide kernel at horizontal stride 1 over
/// `1..=max_rows` (channel, kernel row) pairs, and a requantisation for every channel.
fn band_zero_point(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    requant: [&[i32]; 3],
    (max_rows, max_stride): (usize, usize),
) -> Option<i8> {
    let covered =
        band_covers(p, (max_rows, max_stride)) && requant.iter().all(|r| r.len() >= p.out_channels);
    covered
        .then(|| i8::try_from(q.input_zero_point).ok())
        .flatten()
}

/// [`band_zero_point`]'s geometry: a 3-wide kernel at horizontal stride `1..=max_stride`
/// over `1..=max_rows` (channel, kernel row) pairs.
fn band_covers(p: &Conv2dParams, (max_rows, max_stride): (usize, usize)) -> bool {
    let rows = p.in_channels * p.kernel_h;
    (1..=max_stride).contains(&p.stride_w)
        && p.kernel_w == 3
        && (1..=max_rows).contains(&rows)
        && p.out_w > 0
        && p.in_w > 0
}

/// Whether [`conv2d_i8_dsp`] runs this conv on a fallback kernel (the patch kernel or the
/// reference) rather than the band kernel, given a requantisation per output channel (the
/// arrays a loaded model's conv has): such a model needs the int8 fallbacks
/// ([`INT8_FALLBACKS`](super::INT8_FALLBACKS)) on a DSP core.
pub fn needs_fallback(p: &Conv2dParams, q: &Conv2dI8Quant) -> bool {
    !(band_covers(p, (usize::MAX, 2)) && i8::try_from(q.input_zero_point).is_ok())
}

/// `Σ w`, wrapping.
fn weight_sum(w: &[i8]) -> i32 {
    w.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)))
}

/// Requantises output channel `m`'s accumulator (bias added here).
#[inline(always)]
fn finish_i8(
    q: &Conv2dI8Quant,
    (bias, multiplier, shift): (&[i32], &[i32], &[i32]),
    m: usize,
    acc: i32,
) -> i8 {
    let (b, mul, sh) = (
        bias.get(m).copied().unwrap_or(0),
        multiplier.get(m).copied().unwrap_or(0),
        shift.get(m).copied().unwrap_or(0),
    );
    requantize(
        acc.wrapping_add(b),
        mul,
        sh,
        q.output_zero_point,
        q.act_min,
        q.act_max,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::test_util::*;
    use proptest::prelude::*;

    /// A geometry with `(pt, pl, pb, pr)` padding and strides `(sh, sw)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn geometry(
        (c, h, w, m): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (pt, pl, pb, pr): (usize, usize, usize, usize),
        relu: bool,
    ) -> Conv2dParams {
        let (oh, ow) = ((h + pt + pb - kh) / sh + 1, (w + pl + pr - kw) / sw + 1);
        Conv2dParams {
            activation: if relu {
                FusedActivation::Relu
            } else {
                FusedActivation::None
            },
            ..Conv2dParams::new([c, h, w], [m, oh, ow], [kh, kw], [sh, sw], [pt, pl])
        }
    }

    /// Geometries with padding smaller than the kernel, up to 40 columns wide (several
    /// tiles), kernels up to 10 wide (the reference path past `MAX_KW`), strides 1–2.
    fn geometry_strategy() -> impl Strategy<Value = Conv2dParams> {
        (
            (1usize..4, 1usize..8, 1usize..41, 1usize..10),
            (1usize..5, prop_oneof![1usize..5, 8usize..11]),
            (1usize..3, prop_oneof![Just(1usize), Just(1), Just(2)]),
            (0usize..5, 0usize..10, 0usize..5, 0usize..10),
            any::<bool>(),
        )
            .prop_filter_map(
                "padding below the kernel, kernel fits",
                |(dims, (kh, kw), s, (pt, pl, pb, pr), relu)| {
                    let (_, h, w, _) = dims;
                    let ok = pt < kh && pb < kh && pl < kw && pr < kw;
                    (ok && h + pt + pb >= kh && w + pl + pr >= kw)
                        .then(|| geometry(dims, (kh, kw), s, (pt, pl, pb, pr), relu))
                },
            )
    }

    fn sizes(p: &Conv2dParams) -> (usize, usize, usize) {
        (
            p.in_channels * p.in_h * p.in_w,
            p.out_channels * p.in_channels * p.kernel_h * p.kernel_w,
            p.out_channels * p.out_h * p.out_w,
        )
    }

    fn check_f32(p: &Conv2dParams, x: &[f32], w: &[f32], bias: Option<&[f32]>) {
        let n = sizes(p).2;
        let (mut want, mut got) = (vec![0.0; n], vec![7.0; n]);
        conv2d_f32(p, x, w, bias, &mut want);
        conv2d_f32_tiled(p, x, w, bias, &mut got);
        assert_eq!(bits(&got), bits(&want), "{p:?}");
    }

    fn check_i8(p: &Conv2dParams, q: &Conv2dI8Quant, x: &[i8], w: &[i8], seed: i32) {
        let m = p.out_channels;
        let bias: Vec<i32> = (0..m as i32)
            .map(|i| (i * 7919 + seed) % 20_000 - 10_000)
            .collect();
        let mult: Vec<i32> = (0..m as i32).map(|i| (1 << 30) + i * 999_983).collect();
        let shift: Vec<i32> = (0..m as i32).map(|i| -((i + seed).rem_euclid(9))).collect();
        let n = sizes(p).2;
        let (mut want, mut got) = (vec![0i8; n], vec![99i8; n]);
        conv2d_i8(p, q, x, w, &bias, &mult, &shift, &mut want);
        conv2d_i8_tiled(p, q, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "{p:?} {q:?}");
        let mut got = vec![99i8; n];
        conv2d_i8_m4(p, q, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "m4 {p:?} {q:?}");
        let mut got = vec![99i8; n];
        conv2d_i8_dsp(p, q, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "dsp {p:?} {q:?}");
        let mut got = vec![99i8; n];
        conv2d_i8_patch_dsp(p, q, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "patch {p:?} {q:?}");
        // The Cortex-M4's tile shape (its hand-written step is the same sum).
        if tiled(p) && (-128..128).contains(&q.input_zero_point) {
            let mut got = vec![99i8; n];
            let zp16 = q.input_zero_point as i16;
            i8_tiled::<2, 4>(p, q, zp16, x, w, (&bias, &mult, &shift), &mut got);
            assert_eq!(got, want, "2x4 {p:?} {q:?}");
        }
    }

    #[test]
    fn fashion_shapes_match_reference() {
        // The conv layers of the label-conditioned fashion generator, the inpainting one's
        // decoder (window rows not a multiple of the DSP kernel's part), more channels than
        // the DSP kernel's group, and a 64-wide image.
        let inpaint = [(56, 14, 24), (48, 28, 12), (8, 12, 40), (4, 6, 70)];
        for (c, hw, m) in [(64, 14, 32), (32, 28, 16), (16, 28, 1), (3, 64, 5)]
            .into_iter()
            .chain(inpaint)
        {
            let p = geometry((c, hw, hw, m), (3, 3), (1, 1), (1, 1, 1, 1), m > 1);
            let (nx, nw, _) = sizes(&p);
            let x: Vec<f32> = (0..nx)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let w: Vec<f32> = (0..nw)
                .map(|i| ((i * 53) % 97) as f32 / 200.0 - 0.25)
                .collect();
            let b: Vec<f32> = (0..m).map(|i| i as f32 * 0.1 - 0.2).collect();
            check_f32(&p, &x, &w, Some(&b));
            fashion_i8_cases(&p, |q, xq, wq, zp| check_i8(&p, q, xq, wq, zp));
        }
    }

    /// The int8 inputs and quantisations every fashion shape `p` is checked with (the
    /// Cortex-M and the host kernels' tests share them): `check(q, x, w, zero point)`.
    pub(crate) fn fashion_i8_cases<F>(p: &Conv2dParams, mut check: F)
    where
        F: FnMut(&Conv2dI8Quant, &[i8], &[i8], i32),
    {
        let (nx, nw, _) = sizes(p);
        let xq: Vec<i8> = (0..nx).map(|i| ((i * 37) % 256) as u8 as i8).collect();
        let wq: Vec<i8> = (0..nw).map(|i| ((i * 91) % 255) as u8 as i8).collect();
        let relu = p.out_channels > 1;
        for zp in [-128, -3, 0, 127] {
            let q = Conv2dI8Quant {
                input_zero_point: zp,
                output_zero_point: 5,
                act_min: if relu { 5 } else { -128 },
                act_max: 127,
            };
            check(&q, &xq, &wq, zp);
        }
    }

    #[test]
    fn convs_off_the_band_kernel_need_the_fallbacks() {
        let q = |zp| Conv2dI8Quant {
            input_zero_point: zp,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        let conv = |k: (usize, usize), s: (usize, usize)| {
            geometry((4, 9, 9, 8), k, s, (0, 0, 0, 0), false)
        };
        // the shipped generators' up-block and output convs, and a stride-2 down conv
        assert!(!needs_fallback(&conv((3, 3), (1, 1)), &q(-5)));
        assert!(!needs_fallback(&conv((3, 3), (2, 2)), &q(127)));
        assert!(!needs_fallback(&conv((5, 3), (1, 1)), &q(0)));
        // 1x1, 5x5, 4x4 stride 2, 3x3 stride 3, a zero point past int8
        assert!(needs_fallback(&conv((1, 1), (1, 1)), &q(0)));
        assert!(needs_fallback(&conv((5, 5), (1, 1)), &q(0)));
        assert!(needs_fallback(&conv((4, 4), (2, 2)), &q(0)));
        assert!(needs_fallback(&conv((3, 3), (3, 3)), &q(0)));
        assert!(needs_fallback(&conv((3, 3), (1, 1)), &q(128)));
    }

    #[test]
    fn non_finite_weights_fall_back_to_the_reference() {
        // The padding taps would add 0·inf = NaN; the reference skips them.
        let p = geometry((1, 3, 3, 1), (3, 3), (1, 1), (1, 1, 1, 1), false);
        let mut w = [0.5f32; 9];
        w[0] = f32::INFINITY;
        check_f32(&p, &[1.0; 9], &w, None);
    }

    proptest! {
        /// `needs_fallback` (what a firmware's features are chosen by) says exactly when the
        /// dispatcher leaves the band kernel, for a loaded conv's full requantisation.
        #[test]
        fn needs_fallback_is_where_the_dispatcher_leaves_the_band_kernel(
            p in geometry_strategy(), zp in -200i32..200,
        ) {
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: 0, act_min: -128, act_max: 127 };
            let per_channel = vec![0i32; p.out_channels];
            let requant = [&per_channel[..]; 3];
            let band = band_zero_point(&p, &q, requant, (usize::MAX, 2)).is_some();
            prop_assert_eq!(needs_fallback(&p, &q), !band);
        }

        #[test]
        fn f32_matches_reference_bitwise(p in geometry_strategy(), seed in any::<u64>(), with_bias in any::<bool>()) {
            let (nx, nw, _) = sizes(&p);
            let mut rng = crate::noise::Gaussian::new(seed);
            let (mut x, mut w, mut b) = (vec![0.0; nx], vec![0.0; nw], vec![0.0; p.out_channels]);
            rng.fill(&mut x);
            rng.fill(&mut w);
            rng.fill(&mut b);
            check_f32(&p, &x, &w, with_bias.then_some(&b[..]));
        }

        #[test]
        fn w8a32_matches_reference_bitwise(p in geometry_strategy(), seed in any::<u64>(), wq in i8_vec(4000)) {
            let (nx, nw, n) = sizes(&p);
            let mut rng = crate::noise::Gaussian::new(seed);
            let (mut x, mut s, mut b) = (vec![0.0; nx], vec![0.0; p.out_channels], vec![0.0; p.out_channels]);
            rng.fill(&mut x);
            rng.fill(&mut s);
            rng.fill(&mut b);
            let w: Vec<i8> = wq.iter().cycle().take(nw).copied().collect();
            let (mut want, mut got) = (vec![0.0; n], vec![7.0; n]);
            conv2d_w8a32(&p, &x, &w, &s, Some(&b), &mut want);
            conv2d_w8a32_tiled(&p, &x, &w, &s, Some(&b), &mut got);
            prop_assert_eq!(bits(&got), bits(&want));
        }

        #[test]
        fn i8_matches_reference_exactly(
            p in geometry_strategy(),
            xq in i8_vec(3000),
            wq in i8_vec(4000),
            zp in prop_oneof![Just(-128i32), Just(127), -128i32..128],
            out_zp in -128i32..128,
            seed in 0i32..1000,
        ) {
            let (nx, nw, _) = sizes(&p);
            let x: Vec<i8> = xq.iter().cycle().take(nx).copied().collect();
            let w: Vec<i8> = wq.iter().cycle().take(nw).copied().collect();
            let act_min = if p.activation == FusedActivation::Relu { out_zp } else { -128 };
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: out_zp, act_min, act_max: 127 };
            check_i8(&p, &q, &x, &w, seed);
        }
    }
}
