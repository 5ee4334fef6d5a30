//! int8 ConvTranspose2d variants, equal to the reference
//! [`conv_transpose2d_i8`](crate::kernels::conv_transpose2d::conv_transpose2d_i8).
//!
//! The reference asks, for every tap of every output of every channel, whether the tap
//! lands (a division and a remainder per kernel row and column). Both variants here are
//! gathers too (one accumulator per output, so one requantisation, as the reference), but
//! find the taps that land once per output pixel and share them across channels:
//!
//! - [`conv_transpose2d_i8_gather`] (plain Rust, every core): the landing taps of an
//!   output pixel as `(input offset, weight offset)` pairs, then for every output channel
//!   and input channel one loop over the pairs;
//! - [`conv_transpose2d_i8_phase_dsp`] (cores with the DSP extension): the outputs of a
//!   stride phase `(oy mod sh, ox mod sw)` all take the same kernel rows and columns
//!   (`ky ≡ oy + pt`, `kx ≡ ox + pl` modulo the stride), so that phase's weights are staged
//!   once as a `[M, C·nky·nkx]` matrix, each output's patch of inputs in the same order
//!   (the input zero point where a tap falls outside the image; `zp·Σw` comes off at the
//!   end), and every channel's output is its row times the patch through Dense's loop
//!   ([`rows_dsp`], dual 16-bit multiply-accumulates). Past its buffers it runs the gather.
//!
//! int8 sums are exact (wrapping, in any order), so both equal the reference bit for bit.

use super::dense::rows_dsp;
use crate::kernels::conv_transpose2d::source;
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dParams};
use crate::kernels::requantize;

/// Most kernel rows (and columns) the variants list landing taps for; wider kernels run
/// the reference.
const MAX_K: usize = 16;

/// Requantises output channel `m`'s accumulator (bias added here) into `y[at]`.
#[inline(always)]
fn store(
    q: &Conv2dI8Quant,
    (bias, multiplier, shift): (&[i32], &[i32], &[i32]),
    m: usize,
    acc: i32,
    out: Option<&mut i8>,
) {
    if let (Some(o), Some(&b), Some(&mul), Some(&sh)) =
        (out, bias.get(m), multiplier.get(m), shift.get(m))
    {
        *o = requantize(
            acc.wrapping_add(b),
            mul,
            sh,
            q.output_zero_point,
            q.act_min,
            q.act_max,
        );
    }
}

/// The `(k, i)` pairs of the kernel rows (or columns) `k` that land on output coordinate
/// `o`, reading input coordinate `i`, in `k` order; returns how many.
#[inline(always)]
fn landing(
    o: usize,
    (pad, k, stride, len): (usize, usize, usize, usize),
    out: &mut [(usize, usize); MAX_K],
) -> usize {
    let mut n = 0;
    for t in 0..k.min(MAX_K) {
        if let Some(i) = source(o, pad, t, stride, len) {
            out[n] = (t, i);
            n += 1;
        }
    }
    n
}

/// int8 ConvTranspose2d for every core: equal to the reference.
///
/// For each output pixel the landing taps are listed once as `(iy·W + ix, ky·KW + kx)`
/// pairs; then every output channel's accumulator runs over the pairs and, for each, over
/// the input channels (the input strided by a plane, the weights by the kernel): two
/// loads, a subtract and a multiply-accumulate per tap. Never inlined, so that its tap list is on the stack only while it runs.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv_transpose2d_i8_gather(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    if p.kernel_h > MAX_K || p.kernel_w > MAX_K {
        return crate::kernels::conv_transpose2d::conv_transpose2d_i8(
            p, q, x, w, bias, multiplier, shift, y,
        );
    }
    let taps = p.kernel_h * p.kernel_w;
    let (plane, in_plane) = (p.out_h * p.out_w, p.in_h * p.in_w);
    let per_m = p.in_channels * taps;
    let zp = q.input_zero_point;
    let rows = (p.pad_top, p.kernel_h, p.stride_h, p.in_h);
    let cols = (p.pad_left, p.kernel_w, p.stride_w, p.in_w);
    let (mut ys, mut xs) = ([(0, 0); MAX_K], [(0, 0); MAX_K]);
    let mut pairs = [(0usize, 0usize); MAX_K * MAX_K];
    for oy in 0..p.out_h {
        let ny = landing(oy, rows, &mut ys);
        for ox in 0..p.out_w {
            let nx = landing(ox, cols, &mut xs);
            let mut n = 0;
            for &(ky, iy) in &ys[..ny] {
                for &(kx, ix) in &xs[..nx] {
                    pairs[n] = (iy * p.in_w + ix, ky * p.kernel_w + kx);
                    n += 1;
                }
            }
            let pairs = &pairs[..n];
            let at = oy * p.out_w + ox;
            for (m, wm) in w
                .chunks_exact(per_m.max(1))
                .take(p.out_channels)
                .enumerate()
            {
                let mut acc = 0i32;
                // each landing tap over the input channels: x strided by a plane, w by
                // the kernel (a 1×1 input lands one tap per output, so the channel loop
                // is the long one)
                for &(xo, wo) in pairs {
                    let (mut xi, mut wi) = (xo, wo);
                    for _ in 0..p.in_channels {
                        if let (Some(&xv), Some(&wv)) = (x.get(xi), wm.get(wi)) {
                            acc = acc.wrapping_add((i32::from(xv) - zp) * i32::from(wv));
                        }
                        xi += in_plane;
                        wi += taps;
                    }
                }
                store(
                    q,
                    (bias, multiplier, shift),
                    m,
                    acc,
                    y.get_mut(m * plane + at),
                );
            }
        }
    }
}

/// Longest patch (`C·nky·nkx` values of one stride phase) [`conv_transpose2d_i8_phase_dsp`]
/// stages.
const PHASE_PATCH: usize = 576;
/// Most weights (`M·C·nky·nkx`) of one stride phase it stages.
const PHASE_WEIGHTS: usize = 6144;
/// Output channels it keeps a zero-point correction for.
const PHASE_CHANNELS: usize = 64;

/// int8 ConvTranspose2d for cores with the DSP extension: equal to the reference.
///
/// One stride phase at a time (see the module docs): its weights staged as a
/// `[M, C·nky·nkx]` matrix on the stack, each of its outputs' patches staged in the same
/// `(c, ky, kx)` order, and each output channel's accumulator taken as the row times the
/// patch by [`rows_dsp`] (Dense's inner loop: three rows per pass, two multiply-accumulates
/// per instruction on the DSP cores). At stride 1 the one phase is the whole kernel and the
/// weights are used as stored. Layers whose phase does not fit the buffers (more than
/// [`PHASE_CHANNELS`] output channels, a patch over [`PHASE_PATCH`] or staged weights over
/// [`PHASE_WEIGHTS`]), with fewer than three output channels, whose input is smaller than a phase's kernel (most of each patch
/// would be padding: the DCGAN's first layer on a 1×1 input), or whose input zero point
/// is not an int8 run [`conv_transpose2d_i8_gather`].
///
/// Never inlined, so that the buffers are on the stack only while the op runs.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv_transpose2d_i8_phase_dsp(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let gather = conv_transpose2d_i8_gather;
    let (sh, sw) = (p.stride_h, p.stride_w);
    let (n, c) = (p.out_channels, p.in_channels);
    // a phase takes every sh-th kernel row: at most ceil(KH / sh) of them
    let (nky, nkx) = (
        p.kernel_h.div_ceil(sh.max(1)),
        p.kernel_w.div_ceil(sw.max(1)),
    );
    let k_max = c * nky * nkx;
    let zp8 = i8::try_from(q.input_zero_point).ok();
    // at stride 1 the one phase is the whole kernel: the weights are already its matrix
    let unit = sh == 1 && sw == 1;
    // an input smaller than a phase's kernel leaves most of every patch padding (a 1×1
    // input under a 4×4 kernel: one tap in 16 lands); the gather takes only what lands
    let dense = p.in_h * sh >= p.kernel_h && p.in_w * sw >= p.kernel_w;
    // Dense's loop takes three rows per pass: one or two output channels (a DCGAN's
    // image layer) stage a patch per pixel for little work, where the gather is cheaper
    let fits = k_max <= PHASE_PATCH
        && (3..=PHASE_CHANNELS).contains(&n)
        && (unit || n * k_max <= PHASE_WEIGHTS)
        && dense
        && p.kernel_h <= MAX_K
        && p.kernel_w <= MAX_K
        && [bias, multiplier, shift].iter().all(|r| r.len() >= n);
    let (Some(zp8), true) = (zp8, fits) else {
        return gather(p, q, x, w, bias, multiplier, shift, y);
    };
    let taps = p.kernel_h * p.kernel_w;
    let plane = p.out_h * p.out_w;
    let zpb = zp8 as u8;
    let xb: &[u8] = bytemuck::cast_slice(x);
    let mut weights = [0u8; PHASE_WEIGHTS];
    let mut patch = [zpb; PHASE_PATCH];
    let mut corr = [0i32; PHASE_CHANNELS];
    let mut offsets = [OUTSIDE; MAX_K * MAX_K];
    for ry in 0..sh.min(p.out_h) {
        // the kernel rows of this phase: ky ≡ oy + pt (mod sh)
        let mut kys = [0usize; MAX_K];
        let ny = phase_taps(ry + p.pad_top, sh, p.kernel_h, &mut kys);
        for rx in 0..sw.min(p.out_w) {
            let mut kxs = [0usize; MAX_K];
            let nx = phase_taps(rx + p.pad_left, sw, p.kernel_w, &mut kxs);
            let (kys, kxs) = (&kys[..ny], &kxs[..nx]);
            let k = c * ny * nx;
            if k == 0 {
                // no tap lands on this phase: each output is its bias
                for m in 0..n {
                    for oy in (ry..p.out_h).step_by(sh) {
                        for ox in (rx..p.out_w).step_by(sw) {
                            let out = y.get_mut(m * plane + oy * p.out_w + ox);
                            store(q, (bias, multiplier, shift), m, 0, out);
                        }
                    }
                }
                continue;
            }
            // the phase's weights, [M, C·ny·nx] (at stride 1, the weights as they are), and
            // zp·Σw per channel
            let mut i = 0;
            for (m, wm) in w.chunks_exact(c * taps).take(n).enumerate() {
                let mut sum = 0i32;
                for wc in wm.chunks_exact(taps) {
                    for &ky in kys {
                        for &kx in kxs {
                            let v = wc.get(ky * p.kernel_w + kx).copied().unwrap_or(0);
                            if let (false, Some(d)) = (unit, weights.get_mut(i)) {
                                *d = v as u8;
                            }
                            sum = sum.wrapping_add(i32::from(v));
                            i += 1;
                        }
                    }
                }
                if let Some(cr) = corr.get_mut(m) {
                    *cr = i32::from(zp8).wrapping_mul(sum);
                }
            }
            let wk = if unit {
                bytemuck::cast_slice(w.get(..n * k).unwrap_or(&[]))
            } else {
                weights.get(..n * k).unwrap_or(&[])
            };
            for oy in (ry..p.out_h).step_by(sh) {
                for ox in (rx..p.out_w).step_by(sw) {
                    stage_patch(p, xb, (oy, ox), (kys, kxs), zpb, &mut offsets, &mut patch);
                    let at = oy * p.out_w + ox;
                    let patch = patch.get(..k).unwrap_or(&[]);
                    rows_dsp(patch, wk, k, n, |m, acc| {
                        let acc = acc.wrapping_sub(corr.get(m).copied().unwrap_or(0));
                        store(
                            q,
                            (bias, multiplier, shift),
                            m,
                            acc,
                            y.get_mut(m * plane + at),
                        );
                    });
                }
            }
        }
    }
}

/// The kernel taps `t < k` with `t ≡ r (mod s)`, in order, into `out`; returns how many.
#[inline(always)]
fn phase_taps(r: usize, s: usize, k: usize, out: &mut [usize; MAX_K]) -> usize {
    let mut n = 0;
    for t in (r % s.max(1)..k.min(MAX_K)).step_by(s.max(1)) {
        out[n] = t;
        n += 1;
    }
    n
}

/// Marks a tap outside the image in [`stage_patch`]'s offsets.
const OUTSIDE: usize = usize::MAX;

/// Stages output `(oy, ox)`'s patch: for each input channel, kernel row in `kys` and
/// column in `kxs`, the input the tap reads, or the zero point where it falls outside.
/// The taps' offsets in a plane are found once (into `offsets`, the caller's, so that it
/// is not cleared per pixel), then each channel copies through them.
#[inline(always)]
fn stage_patch(
    p: &Conv2dParams,
    x: &[u8],
    (oy, ox): (usize, usize),
    (kys, kxs): (&[usize], &[usize]),
    zpb: u8,
    offsets: &mut [usize; MAX_K * MAX_K],
    patch: &mut [u8; PHASE_PATCH],
) {
    let mut n = 0;
    for &ky in kys {
        // on this phase (o + pad − k) is a multiple of the stride when it is not negative
        let iy = (oy + p.pad_top)
            .checked_sub(ky)
            .map(|t| t / p.stride_h)
            .filter(|&iy| iy < p.in_h);
        for &kx in kxs {
            let ix = (ox + p.pad_left)
                .checked_sub(kx)
                .map(|t| t / p.stride_w)
                .filter(|&ix| ix < p.in_w);
            if let Some(o) = offsets.get_mut(n) {
                *o = match (iy, ix) {
                    (Some(iy), Some(ix)) => iy * p.in_w + ix,
                    _ => OUTSIDE,
                };
            }
            n += 1;
        }
    }
    let offsets = offsets.get(..n).unwrap_or(&[]);
    let in_plane = p.in_h * p.in_w;
    for (c, slots) in patch
        .chunks_exact_mut(n.max(1))
        .take(p.in_channels)
        .enumerate()
    {
        let plane = x.get(c * in_plane..).unwrap_or(&[]);
        for (slot, &o) in slots.iter_mut().zip(offsets) {
            *slot = if o == OUTSIDE {
                zpb
            } else {
                plane.get(o).copied().unwrap_or(zpb)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::FusedActivation;
    use crate::kernels::conv_transpose2d::conv_transpose2d_i8;
    use crate::kernels::test_util::*;
    use proptest::prelude::*;

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        (c, h, w, m): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (pt, pl, pb, pr): (usize, usize, usize, usize),
        (ah, aw): (usize, usize),
        relu: bool,
    ) -> Option<Conv2dParams> {
        let oh = ((h - 1) * sh + kh + ah)
            .checked_sub(pt + pb)
            .filter(|&o| o > 0)?;
        let ow = ((w - 1) * sw + kw + aw)
            .checked_sub(pl + pr)
            .filter(|&o| o > 0)?;
        Some(Conv2dParams {
            activation: if relu {
                FusedActivation::Relu
            } else {
                FusedActivation::None
            },
            ..Conv2dParams::new([c, h, w], [m, oh, ow], [kh, kw], [sh, sw], [pt, pl])
        })
    }

    fn check(p: &Conv2dParams, q: &Conv2dI8Quant, x: &[i8], w: &[i8], seed: i32) {
        let m = p.out_channels;
        let bias: Vec<i32> = (0..m as i32)
            .map(|i| (i * 7919 + seed) % 20_000 - 10_000)
            .collect();
        let mult: Vec<i32> = (0..m as i32).map(|i| (1 << 30) + i * 999_983).collect();
        let shift: Vec<i32> = (0..m as i32).map(|i| -((i + seed).rem_euclid(9))).collect();
        let n = m * p.out_h * p.out_w;
        let mut want = vec![0i8; n];
        conv_transpose2d_i8(p, q, x, w, &bias, &mult, &shift, &mut want);
        type Kernel =
            fn(&Conv2dParams, &Conv2dI8Quant, &[i8], &[i8], &[i32], &[i32], &[i32], &mut [i8]);
        for (name, kernel) in [
            ("gather", conv_transpose2d_i8_gather as Kernel),
            ("phase", conv_transpose2d_i8_phase_dsp as Kernel),
        ] {
            let mut got = vec![99i8; n];
            kernel(p, q, x, w, &bias, &mult, &shift, &mut got);
            assert_eq!(got, want, "{name} {p:?} {q:?}");
        }
    }

    fn data(p: &Conv2dParams) -> (Vec<i8>, Vec<i8>) {
        let nx = p.in_channels * p.in_h * p.in_w;
        let nw = p.out_channels * p.in_channels * p.kernel_h * p.kernel_w;
        (
            (0..nx).map(|i| ((i * 37) % 256) as u8 as i8).collect(),
            (0..nw).map(|i| ((i * 91) % 255) as u8 as i8).collect(),
        )
    }

    #[test]
    fn dcgan_shapes_match_reference() {
        // the trained Fashion-MNIST DCGAN (models/torch-dcgan-fashion) and the corpus's
        for (dims, k, s, pad) in [
            ((40, 1, 1, 48), 7, 1, 0),
            ((48, 7, 7, 24), 4, 2, 1),
            ((24, 14, 14, 1), 4, 2, 1),
            ((24, 1, 1, 32), 4, 1, 0),
            ((32, 4, 4, 16), 4, 2, 1),
            ((16, 8, 8, 1), 4, 2, 1),
            ((8, 7, 7, 6), 3, 2, 1),
            // stride 1 on an input as large as the kernel: the weights used as stored
            ((6, 5, 5, 4), 3, 1, 1),
        ] {
            let adj = usize::from(k == 3);
            let p = geometry(
                dims,
                (k, k),
                (s, s),
                (pad, pad, pad, pad),
                (adj, adj),
                dims.3 > 1,
            )
            .unwrap();
            let (x, w) = data(&p);
            for zp in [-128, -3, 0, 127] {
                let q = Conv2dI8Quant {
                    input_zero_point: zp,
                    output_zero_point: 5,
                    act_min: if dims.3 > 1 { 5 } else { -128 },
                    act_max: 127,
                };
                check(&p, &q, &x, &w, zp);
            }
        }
    }

    #[test]
    fn wide_kernels_and_channels_past_the_buffers_still_match() {
        // 70 output channels (past PHASE_CHANNELS), a 17-wide kernel (past MAX_K)
        for (dims, k) in [((2, 3, 3, 70), 4), ((1, 2, 2, 2), 17)] {
            let p = geometry(dims, (k, k), (2, 2), (1, 1, 1, 1), (0, 0), false).unwrap();
            let (x, w) = data(&p);
            let q = Conv2dI8Quant {
                input_zero_point: 300,
                output_zero_point: 0,
                act_min: -128,
                act_max: 127,
            };
            check(&p, &q, &x, &w, 1);
        }
    }

    fn geometry_strategy() -> impl Strategy<Value = Conv2dParams> {
        (
            (1usize..6, 1usize..7, 1usize..7, 1usize..9),
            (1usize..6, 1usize..6),
            (1usize..4, 1usize..4),
            (0usize..5, 0usize..5, 0usize..5, 0usize..5),
            (0usize..3, 0usize..3),
            any::<bool>(),
        )
            .prop_filter_map(
                "padding below the kernel, output padding below the stride",
                |(dims, (kh, kw), (sh, sw), (pt, pl, pb, pr), (ah, aw), relu)| {
                    let ok = pt < kh && pb < kh && pl < kw && pr < kw && ah < sh && aw < sw;
                    ok.then(|| geometry(dims, (kh, kw), (sh, sw), (pt, pl, pb, pr), (ah, aw), relu))
                        .flatten()
                },
            )
    }

    proptest! {
        #[test]
        fn i8_matches_reference_exactly(
            p in geometry_strategy(),
            xq in i8_vec(400),
            wq in i8_vec(2000),
            zp in prop_oneof![Just(-128i32), Just(127), -128i32..128],
            out_zp in -128i32..128,
            seed in 0i32..1000,
        ) {
            let nx = p.in_channels * p.in_h * p.in_w;
            let nw = p.out_channels * p.in_channels * p.kernel_h * p.kernel_w;
            let x: Vec<i8> = xq.iter().cycle().take(nx).copied().collect();
            let w: Vec<i8> = wq.iter().cycle().take(nw).copied().collect();
            let act_min = if p.activation == FusedActivation::Relu { out_zp } else { -128 };
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: out_zp, act_min, act_max: 127 };
            check(&p, &q, &x, &w, seed);
        }
    }
}
