//! int8 Conv2d for hosts, at horizontal stride 1 (others run
//! [`conv2d_i8_tiled`]).
//!
//! The input, less its zero point, is staged once per call as 16-bit pairs of adjacent
//! channels, `stage[(c/2, y + pt)][x + pl] = (x̃[c], x̃[c+1])` (zero outside the image),
//! and the weights as the matching pairs `(w[m, c, ky, kx], w[m, c+1, ky, kx])`. A tile is
//! [`PT`] consecutive staged positions × [`MB`] output channels; for each tap `(c/2, ky, kx)`
//! the tile's 16 input pairs are one contiguous run of the stage, and one `vpmaddwd` per 8
//! positions adds both channels' products to the 32-bit accumulators. The int8 sum is exact,
//! so the pairing (a different order than the reference's) changes no output.
//!
//! A 3×3 convolution (stride 1, padding 1) of a nearest-neighbour ×2 upsampling — a DCGAN
//! generator's up-block, where most of its multiply-accumulates are — runs as four 2×2
//! convolutions of the low-resolution input ([`Conv2dInput::Upsampled2x`]). Output row
//! `2i + a` reads upsampled rows `2i + a − 1 ..= 2i + a + 1`, which are low rows
//! `i − 1, i, i` (`a = 0`) or `i, i, i + 1` (`a = 1`); so the output phase `(a, b)` is a
//! 2×2 kernel whose taps are sums of the 3×3 taps (per axis `[w0, w1 + w2]` or
//! `[w0 + w1, w2]`), over the low-resolution input padded by one. Each term of the
//! reference's sum is still there (a tap that reads one input twice now multiplies it once
//! by the two weights' sum), so the integer result is the same: 4/9 of the
//! multiply-accumulates, exactly. The phases' positions are laid out flat, one row after
//! another with one zero column between rows (its left and right padding at once), so that
//! a 7-column image fills 7 of every 8 lanes rather than 7 of 16.

use super::Simd;
#[cfg(target_arch = "x86_64")]
use super::requant::requantize8_avx2;
use super::requant::requantize8_portable;
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dInput, Conv2dParams};
use crate::kernels::cortex_m::conv2d::conv2d_i8_tiled;

/// Output positions per tile: two vectors of eight 32-bit accumulators.
const PT: usize = 16;
/// Output channels per pass (eight accumulator vectors).
const MB: usize = 4;
/// The smaller stage and weight buffers (8 and 16 KiB), for convolutions that fit.
const SMALL: usize = 4 * 1024;
/// Most packed weight pairs (64 KiB of stack): `M · ⌈C/2⌉ · KH · KW`, or `4 · M · ⌈C/2⌉ · 4`
/// for the phases of an upsampled input.
const MAX_WEIGHT_PAIRS: usize = 16 * 1024;
/// Most staged 16-bit inputs (64 KiB of stack): `⌈C/2⌉ · HP · 2 · (⌈OW/PT⌉·PT + KW − 1)`, or
/// `⌈C/2⌉ · 2 · ((H/2 + 2)·(W/2 + 1) + PT + 1)` for an upsampled input.
const MAX_STAGE: usize = 32 * 1024;

/// Most int8 outputs of the four phases of an upsampled input before they are interleaved,
/// `4 · M · (H/2)·(W/2 + 1)` rounded up to tiles (16 KiB of stack).
const MAX_PHASE_OUTPUTS: usize = 16 * 1024;

/// The sizes of one call on the input as it is, derived once.
#[derive(Clone, Copy, Debug)]
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

/// The sizes of a 3×3 convolution of a ×2 upsampling run as its four output phases.
#[derive(Clone, Copy, Debug)]
struct Phases {
    /// Channel pairs `⌈C/2⌉`.
    pairs: usize,
    /// The low-resolution input's height and width (half the conv's input).
    low_h: usize,
    low_w: usize,
    /// Staged pairs per row: `W/2 + 1` (the zero column between rows pads both sides).
    pitch: usize,
    /// Staged 16-bit values per channel pair: `2·((H/2 + 2)·pitch + PT + 1)`, which covers
    /// every tap of every tile, the last tile's unused positions included.
    pair_len: usize,
    /// Weight pairs per output channel and phase: `⌈C/2⌉·4`.
    per_m: usize,
    /// Positions per phase and channel in the phase outputs: `(H/2)·pitch` rounded up to
    /// whole tiles.
    padded: usize,
}

impl Phases {
    /// `Some` for a 3×3, stride-1, padding-1 convolution of an even-sized input that fits
    /// the buffers.
    fn of(p: &Conv2dParams) -> Option<Self> {
        let same = p.out_h == p.in_h && p.out_w == p.in_w;
        let geometry = (p.kernel_h, p.kernel_w, p.stride_h, p.stride_w) == (3, 3, 1, 1)
            && (p.pad_top, p.pad_left) == (1, 1)
            && same
            && p.in_h.is_multiple_of(2)
            && p.in_w.is_multiple_of(2);
        if !geometry {
            return None;
        }
        let pairs = p.in_channels.div_ceil(2);
        let (low_h, low_w) = (p.in_h / 2, p.in_w / 2);
        let pitch = low_w + 1;
        let pair_len = 2 * (low_h.checked_add(2)?.checked_mul(pitch)? + PT + 1);
        let per_m = pairs * 4;
        let padded = (low_h * pitch).div_ceil(PT) * PT;
        let fits = pairs.checked_mul(pair_len)? <= MAX_STAGE
            && per_m.checked_mul(p.out_channels)?.checked_mul(4)? <= MAX_WEIGHT_PAIRS
            && padded.checked_mul(p.out_channels)?.checked_mul(4)? <= MAX_PHASE_OUTPUTS;
        fits.then_some(Phases {
            pairs,
            low_h,
            low_w,
            pitch,
            pair_len,
            per_m,
            padded,
        })
    }
}

/// How a call is computed.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// The kernel over the input as it is.
    Direct(Shape),
    /// The four output phases' 2×2 kernels over the low-resolution input.
    Phases(Phases),
}

impl Plan {
    /// Staged 16-bit values and packed weight pairs the plan needs for `m` output channels.
    fn sizes(&self, m: usize) -> (usize, usize) {
        match self {
            Plan::Direct(s) => (s.pairs * s.rows * s.row_len, s.per_m * m),
            Plan::Phases(f) => (f.pairs * f.pair_len, 4 * f.per_m * m),
        }
    }
}

/// int8 conv2d for hosts; equal to [`conv2d_i8`](crate::kernels::conv2d::conv2d_i8). `input`
/// says what is known of `x` (an [`Conv2dInput::Upsampled2x`] input must be one).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_i8_host(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    input: Conv2dInput,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let simd = Simd::detect();
    conv2d_i8_with(p, q, (input, 1, x), w, (bias, multiplier, shift), y, simd);
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
    input: Conv2dInput,
    rows: usize,
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    multiplier: &[i32],
    shift: &[i32],
    y: &mut [i8],
) {
    let simd = Simd::detect();
    conv2d_i8_with(
        p,
        q,
        (input, rows, x),
        w,
        (bias, multiplier, shift),
        y,
        simd,
    );
}

/// The plan for a call and the input zero point, or `None` where the kernel runs
/// [`conv2d_i8_tiled`] (a geometry or size it does not take, short arrays).
fn plan_for(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    input: Conv2dInput,
    w: &[i8],
    (bias, multiplier, shift): Requant<'_>,
) -> Option<(Plan, i16)> {
    let m = p.out_channels;
    let taps = p.kernel_h * p.kernel_w;
    let contract = p.stride_w == 1
        && p.stride_h >= 1
        && bias.len() >= m
        && multiplier.len() >= m
        && shift.len() >= m
        && w.len() >= m * p.in_channels * taps;
    let zp = i8::try_from(q.input_zero_point).ok().map(i16::from)?;
    let phases = match input {
        Conv2dInput::Upsampled2x => Phases::of(p).map(Plan::Phases),
        Conv2dInput::Any => None,
    };
    let plan = phases.or_else(|| Shape::of(p).map(Plan::Direct))?;
    contract.then_some((plan, zp))
}

/// One sample's input and output lengths.
fn sample_lens(p: &Conv2dParams) -> (usize, usize) {
    (
        p.in_channels * p.in_h * p.in_w,
        p.out_channels * p.out_h * p.out_w,
    )
}

/// Whether `x` and `y` hold `rows` inputs and outputs.
fn holds_rows(p: &Conv2dParams, rows: usize, x: &[i8], y: &[i8]) -> bool {
    let (x_len, y_len) = sample_lens(p);
    x.len() >= rows * x_len && y.len() >= rows * y_len
}

/// [`conv2d_i8_tiled`] on each of `rows` samples.
#[allow(clippy::too_many_arguments)]
fn tiled_rows(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    rows: usize,
    x: &[i8],
    w: &[i8],
    (bias, multiplier, shift): Requant<'_>,
    y: &mut [i8],
) {
    let (x_len, y_len) = sample_lens(p);
    let samples = x.chunks(x_len.max(1)).zip(y.chunks_mut(y_len.max(1)));
    for (x, y) in samples.take(rows) {
        conv2d_i8_tiled(p, q, x, w, bias, multiplier, shift, y);
    }
}

/// [`conv2d_i8_batch_host`] with the bodies `simd` allows.
fn conv2d_i8_with(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    (input, rows, x): (Conv2dInput, usize, &[i8]),
    w: &[i8],
    requant: Requant<'_>,
    y: &mut [i8],
    simd: Simd,
) {
    let planned = plan_for(p, q, input, w, requant).filter(|_| holds_rows(p, rows, x, y));
    let Some((plan, zp)) = planned else {
        return tiled_rows(p, q, rows, x, w, requant, y);
    };
    // the buffers live on the stack, zeroed on every call: the smallest size that fits
    let (stage_len, pack_len) = plan.sizes(p.out_channels);
    let args = (p, q, plan, zp, (rows, x), w, requant, simd);
    match (stage_len <= SMALL, pack_len <= SMALL) {
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
    Plan,
    i16,
    (usize, &'a [i8]),
    &'a [i8],
    Requant<'a>,
    Simd,
);

/// The convolution with a stage of `S` values and `W` weight pairs (enough for the plan).
#[inline(never)]
fn run<const S: usize, const W: usize>(
    (p, q, plan, zp, (rows, x), w, requant, simd): RunArgs<'_>,
    y: &mut [i8],
) {
    let mut packed = [0i32; W];
    pack(p, plan, w, &mut packed);
    // every sample is staged at the same places: the padding stays zero
    let mut stage = [0i16; S];
    let mut phase_outputs = [0i8; MAX_PHASE_OUTPUTS];
    let buffers = (&packed[..], &mut stage[..], &mut phase_outputs[..]);
    run_rows(p, q, (plan, zp), (rows, x), buffers, (requant, simd), y);
}

/// Packs `w` for `plan` into `packed`.
fn pack(p: &Conv2dParams, plan: Plan, w: &[i8], packed: &mut [i32]) {
    let (c, m, taps) = (p.in_channels, p.out_channels, p.kernel_h * p.kernel_w);
    // `w[m, c, t]` (zero past the last channel)
    let weight = |m: usize, ch: usize, t: usize| {
        if ch < c {
            i16::from(w[(m * c + ch) * taps + t])
        } else {
            0
        }
    };
    match plan {
        Plan::Direct(s) => pack_weights(m, s.pairs, taps, weight, packed),
        Plan::Phases(f) => pack_phase_weights(m, c, &f, w, packed),
    }
}

/// `rows` samples with the packed weights, a stage whose padding is zero and the phases'
/// output buffer.
fn run_rows(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    (plan, zp): (Plan, i16),
    (rows, x): (usize, &[i8]),
    (packed, stage, phase_outputs): (&[i32], &mut [i16], &mut [i8]),
    (requant, simd): (Requant<'_>, Simd),
    y: &mut [i8],
) {
    let (x_len, y_len) = sample_lens(p);
    let samples = x.chunks(x_len.max(1)).zip(y.chunks_mut(y_len.max(1)));
    for (x, y) in samples.take(rows) {
        match plan {
            Plan::Direct(s) => {
                stage_input(p, &s, zp, x, stage);
                run_sample(p, q, &s, (stage, packed), requant, simd, y);
            }
            Plan::Phases(f) => {
                stage_low_resolution(p, &f, zp, x, stage);
                run_phases(p, q, &f, (stage, packed), requant, simd, phase_outputs, y);
            }
        }
    }
}

/// A conv's weights packed once, with its stage and output buffers, for a sampler that
/// runs it many times ([`crate::BatchSampler`]): what [`conv2d_i8_batch_host`] does on
/// every call, the packing and the buffers' zeroing, done when it is made.
#[cfg(any(test, feature = "std"))]
#[derive(Clone, Debug)]
pub struct PackedConv2d {
    /// The geometry and quantisation it was packed for (a call with others is refused).
    made_for: (Conv2dParams, Conv2dI8Quant),
    plan: Plan,
    zp: i16,
    packed: std::vec::Vec<i32>,
    stage: std::vec::Vec<i16>,
    phase_outputs: std::vec::Vec<i8>,
}

#[cfg(any(test, feature = "std"))]
impl PackedConv2d {
    /// `w` packed for the kernel, or `None` where it runs the reference path (then
    /// [`conv2d_i8_batch_host`] is what runs).
    pub fn new(
        p: &Conv2dParams,
        q: &Conv2dI8Quant,
        input: Conv2dInput,
        w: &[i8],
        requant: Requant<'_>,
    ) -> Option<Self> {
        let (plan, zp) = plan_for(p, q, input, w, requant)?;
        let (stage_len, pack_len) = plan.sizes(p.out_channels);
        let mut packed = std::vec![0; pack_len];
        pack(p, plan, w, &mut packed);
        let phase_outputs = match plan {
            Plan::Phases(_) => std::vec![0; MAX_PHASE_OUTPUTS],
            Plan::Direct(_) => std::vec::Vec::new(),
        };
        Some(PackedConv2d {
            made_for: (*p, *q),
            plan,
            zp,
            packed,
            stage: std::vec![0; stage_len],
            phase_outputs,
        })
    }
}

/// [`conv2d_i8_batch_host`] with the weights packed by [`PackedConv2d::new`] for the same
/// `p`, `q`, input kind, weights and requantisation: equal to it, bit for bit. `false` (nothing
/// written) for another geometry or quantisation than it was packed for, or short `x`/`y`.
#[cfg(any(test, feature = "std"))]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_i8_packed_host(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    packed: &mut PackedConv2d,
    rows: usize,
    x: &[i8],
    requant: Requant<'_>,
    y: &mut [i8],
) -> bool {
    // (its buffers are sized for that geometry: another would index past them)
    if packed.made_for != (*p, *q) || !holds_rows(p, rows, x, y) {
        return false;
    }
    let PackedConv2d {
        made_for: _,
        plan,
        zp,
        packed,
        stage,
        phase_outputs,
    } = packed;
    let buffers = (&packed[..], &mut stage[..], &mut phase_outputs[..]);
    run_rows(
        p,
        q,
        (*plan, *zp),
        (rows, x),
        buffers,
        (requant, Simd::detect()),
        y,
    );
    true
}

/// The requantisation parameters of channel `m`, each splat over eight lanes.
fn channel_requant((bias, multiplier, shift): Requant<'_>, m: usize) -> [[i32; 8]; 3] {
    [bias[m], multiplier[m], shift[m]].map(|v| [v; 8])
}

/// Every channel's bias, multiplier and shift.
type Requant<'a> = (&'a [i32], &'a [i32], &'a [i32]);

/// The tile's int8 outputs for each output channel: `put(m0, outputs)` for the channels
/// `m0..` in blocks of [`MB`], then one by one.
#[inline(always)]
fn each_channel(
    (t, stage, packed): (&Tile, &[i16], &[i32]),
    m: usize,
    (requant, out): (Requant<'_>, (i32, i32, i32)),
    simd: Simd,
    mut put: impl FnMut(usize, &[[i8; PT]]),
) {
    let full = m - m % MB;
    for m0 in (0..full).step_by(MB) {
        let r = core::array::from_fn(|j| channel_requant(requant, m0 + j));
        put(m0, &block::<MB>(t, stage, packed, m0, r, out, simd));
    }
    for m0 in full..m {
        let r = [channel_requant(requant, m0)];
        put(m0, &block::<1>(t, stage, packed, m0, r, out, simd));
    }
}

/// One sample's output from its staged input and the packed weights.
fn run_sample(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    s: &Shape,
    (stage, packed): (&[i16], &[i32]),
    requant: (&[i32], &[i32], &[i32]),
    simd: Simd,
    y: &mut [i8],
) {
    let m = p.out_channels;
    let plane = p.out_h * p.out_w;
    let out = (q.output_zero_point, q.act_min, q.act_max);
    let pitch = s.row_len / 2;
    for oy in 0..p.out_h {
        for x0 in (0..p.out_w).step_by(PT) {
            let t = Tile {
                pairs: s.pairs,
                pair_len: s.rows * s.row_len,
                pitch,
                kh: p.kernel_h,
                kw: p.kernel_w,
                base: oy * p.stride_h * pitch + x0,
                per_m: s.per_m,
            };
            let cols = PT.min(p.out_w - x0);
            let at = oy * p.out_w + x0;
            let tile = (&t, stage, packed);
            each_channel(tile, m, (requant, out), simd, |m0, q| {
                for (j, q) in q.iter().enumerate() {
                    y[(m0 + j) * plane + at..][..cols].copy_from_slice(&q[..cols]);
                }
            });
        }
    }
}

/// One sample's output of a 3×3 convolution of a ×2 upsampling: each phase's outputs into
/// `phases` (`[phase][m][position]`, rows `pitch` apart), then interleaved into `y`.
#[allow(clippy::too_many_arguments)]
fn run_phases(
    p: &Conv2dParams,
    q: &Conv2dI8Quant,
    f: &Phases,
    (stage, packed): (&[i16], &[i32]),
    requant: (&[i32], &[i32], &[i32]),
    simd: Simd,
    phases: &mut [i8],
    y: &mut [i8],
) {
    let m = p.out_channels;
    let out = (q.output_zero_point, q.act_min, q.act_max);
    let positions = f.low_h * f.pitch;
    let per_phase = f.per_m * m;
    for (phase, packed) in packed.chunks_exact(per_phase).take(4).enumerate() {
        let (a, b) = (phase / 2, phase % 2);
        let outputs = &mut phases[phase * m * f.padded..][..m * f.padded];
        for f0 in (0..positions).step_by(PT) {
            let t = Tile {
                pairs: f.pairs,
                pair_len: f.pair_len,
                pitch: f.pitch,
                kh: 2,
                kw: 2,
                base: f0 + a * f.pitch + b,
                per_m: f.per_m,
            };
            each_channel((&t, stage, packed), m, (requant, out), simd, |m0, q| {
                for (j, q) in q.iter().enumerate() {
                    outputs[(m0 + j) * f.padded + f0..][..PT].copy_from_slice(q);
                }
            });
        }
    }
    // output row 2i + a, column 2j + b is phase (a, b)'s position i·pitch + j
    let plane = p.out_h * p.out_w;
    for (ch, y) in y.chunks_exact_mut(plane).take(m).enumerate() {
        let phase = |ph: usize| &phases[(ph * m + ch) * f.padded..][..positions];
        for (r, row) in y.chunks_exact_mut(p.out_w).enumerate() {
            let (i, a) = (r / 2, r % 2);
            let even = &phase(2 * a)[i * f.pitch..][..f.low_w];
            let odd = &phase(2 * a + 1)[i * f.pitch..][..f.low_w];
            for (o, (&e, &d)) in row.chunks_exact_mut(2).zip(even.iter().zip(odd)) {
                o[0] = e;
                o[1] = d;
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

/// Writes the low-resolution input under a ×2 upsampling `x` (its even rows' even columns),
/// less `zp`, as channel pairs into `stage`: low pixel `(i, j)` at position
/// `(i + 1)·pitch + j + 1` (zero elsewhere: the padding and the columns between rows).
fn stage_low_resolution(p: &Conv2dParams, f: &Phases, zp: i16, x: &[i8], stage: &mut [i16]) {
    for (c, plane) in x
        .chunks_exact(p.in_h * p.in_w)
        .take(p.in_channels)
        .enumerate()
    {
        let (cp, lane) = (c / 2, c % 2);
        let staged = &mut stage[cp * f.pair_len..][..f.pair_len];
        for (i, src) in plane.chunks_exact(2 * p.in_w).take(f.low_h).enumerate() {
            let row = &mut staged[2 * ((i + 1) * f.pitch + 1)..][..2 * f.low_w];
            for (pair, v) in row.chunks_exact_mut(2).zip(src.iter().step_by(2)) {
                pair[lane] = i16::from(*v) - zp;
            }
        }
    }
}

/// Packs weight pairs `(weight(m, 2i, t), weight(m, 2i + 1, t))` of `taps` taps as `i32`s
/// (low half first): for output channels in blocks of [`MB`] (then one by one), tap
/// `(i, t)` of block `m0` holds its channels' pairs at `m0·per_m + (i·taps + t)·n + j`.
fn pack_weights(
    m_count: usize,
    pairs: usize,
    taps: usize,
    weight: impl Fn(usize, usize, usize) -> i16,
    packed: &mut [i32],
) {
    let full = m_count - m_count % MB;
    let per_m = pairs * taps;
    for m in 0..m_count {
        let (m0, n) = if m < full { (m - m % MB, MB) } else { (m, 1) };
        for i in 0..pairs {
            for t in 0..taps {
                let (lo, hi) = (weight(m, 2 * i, t), weight(m, 2 * i + 1, t));
                let tap = i * taps + t;
                packed[m0 * per_m + tap * n + (m - m0)] = pair(lo, hi);
            }
        }
    }
}

/// The 2×2 kernels of the four output phases of the 3×3 kernel `k` (row-major):
/// `[phase 2a + b][tap 2·dy + dx]`. Per axis, phase 0's taps are `[k0, k1 + k2]` and phase
/// 1's `[k0 + k1, k2]` (see the module's documentation).
fn phase_kernels(k: [i16; 9]) -> [[i16; 4]; 4] {
    // the kernel rows each phase's two rows sum: [r0, r1 + r2] (a = 0), [r0 + r1, r2] (a = 1)
    let row = |r: usize| [k[3 * r], k[3 * r + 1], k[3 * r + 2]];
    let add = |u: [i16; 3], v: [i16; 3]| [u[0] + v[0], u[1] + v[1], u[2] + v[2]];
    let (r0, r1, r2) = (row(0), row(1), row(2));
    let rows = [[r0, add(r1, r2)], [add(r0, r1), r2]];
    core::array::from_fn(|phase| {
        let [top, bottom] = rows[phase / 2];
        // the same per column: [c0, c1 + c2] (b = 0), [c0 + c1, c2] (b = 1)
        let cols = |v: [i16; 3]| match phase % 2 {
            0 => [v[0], v[1] + v[2]],
            _ => [v[0] + v[1], v[2]],
        };
        let ([t0, t1], [b0, b1]) = (cols(top), cols(bottom));
        [t0, t1, b0, b1]
    })
}

/// [`pack_weights`] for the four phases, one after another (`4·per_m·M` pairs), from the
/// `[M, C, 3, 3]` weights `w` (zeros past the last channel). A block of `n` channels' taps
/// of one channel pair are `4·n` consecutive values in each phase's part, written at once.
fn pack_phase_weights(m_count: usize, c: usize, f: &Phases, w: &[i8], packed: &mut [i32]) {
    let full = m_count - m_count % MB;
    let per_phase = f.per_m * m_count;
    // channel ch's 3×3 kernel for output channel m
    let kernel = |m: usize, ch: usize| {
        let k = w.get((m * c + ch) * 9..).and_then(<[i8]>::first_chunk::<9>);
        match k {
            Some(k) if ch < c => k.map(i16::from),
            _ => [0; 9],
        }
    };
    let mut m0 = 0;
    while m0 < m_count {
        let n = if m0 < full { MB } else { 1 };
        for i in 0..f.pairs {
            // [phase][tap · n + j]: channel m0 + j's pair of taps
            let mut taps = [[0i32; 4 * MB]; 4];
            for j in 0..n {
                let lo = phase_kernels(kernel(m0 + j, 2 * i));
                let hi = phase_kernels(kernel(m0 + j, 2 * i + 1));
                for (phase, taps) in taps.iter_mut().enumerate() {
                    for t in 0..4 {
                        taps[t * n + j] = pair(lo[phase][t], hi[phase][t]);
                    }
                }
            }
            let at = m0 * f.per_m + i * 4 * n;
            for (part, taps) in packed.chunks_exact_mut(per_phase).zip(&taps) {
                if let Some(dst) = part.get_mut(at..at + 4 * n) {
                    dst.copy_from_slice(&taps[..4 * n]);
                }
            }
        }
        m0 += n;
    }
}

/// Two 16-bit values as one `i32`, `lo` in the low half (what `vpmaddwd` multiplies with
/// the even lane).
fn pair(lo: i16, hi: i16) -> i32 {
    (u32::from(lo as u16) | (u32::from(hi as u16) << 16)) as i32
}

/// One tile: [`PT`] consecutive staged positions, read through a `kh × kw` kernel.
struct Tile {
    /// Channel pairs.
    pairs: usize,
    /// Staged 16-bit values per channel pair.
    pair_len: usize,
    /// Staged pairs per row: tap `(ky, kx)` reads `ky·pitch + kx` pairs past [`base`](Self::base).
    pitch: usize,
    kh: usize,
    kw: usize,
    /// The staged pair tap `(0, 0)` reads for the tile's first output.
    base: usize,
    /// Weight pairs per output channel.
    per_m: usize,
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
    let weights = packed.get(m0 * t.per_m..).unwrap_or(&[]);
    let mut wi = 0;
    for i in 0..t.pairs {
        for ky in 0..t.kh {
            let row = i * t.pair_len + 2 * (t.base + ky * t.pitch);
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
        run_with(p, q, Conv2dInput::Any, x, w, seed);
    }

    /// [`run`] with what the kernel is told about the input.
    fn run_with(
        p: &Conv2dParams,
        q: &Conv2dI8Quant,
        input: Conv2dInput,
        x: &[i8],
        w: &[i8],
        seed: i32,
    ) {
        let m = p.out_channels;
        let bias: Vec<i32> = (0..m as i32)
            .map(|i| (i * 7919 + seed) % 20_000 - 10_000)
            .collect();
        let mult: Vec<i32> = (0..m as i32).map(|i| (1 << 30) + i * 999_983).collect();
        let shift: Vec<i32> = (0..m as i32).map(|i| -((i + seed).rem_euclid(9))).collect();
        let n = m * p.out_h * p.out_w;
        let (mut want, mut got) = (vec![0i8; n], vec![99i8; n]);
        conv2d_i8(p, q, x, w, &bias, &mult, &shift, &mut want);
        conv2d_i8_host(p, q, input, x, w, &bias, &mult, &shift, &mut got);
        assert_eq!(got, want, "{input:?} {p:?} {q:?}");
        // the portable body too, where the dispatcher picked AVX2
        let mut got = vec![99i8; n];
        let one = (input, 1, x);
        conv2d_i8_with(
            p,
            q,
            one,
            w,
            (&bias, &mult, &shift),
            &mut got,
            Simd::PORTABLE,
        );
        assert_eq!(got, want, "portable {input:?} {p:?} {q:?}");
        // a batch of three: the input, its reverse and its negation, each its own output
        // (each still an upsampling where the input is one)
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
            let three = (input, 3, &xs[..]);
            conv2d_i8_with(p, q, three, w, (&bias, &mult, &shift), &mut got, simd);
            assert_eq!(got, want3, "batch of 3, {simd:?} {input:?} {p:?} {q:?}");
        }
        // the weights packed once, run twice (the kept stage and buffers reused)
        let requant = (&bias[..], &mult[..], &shift[..]);
        if let Some(mut packed) = PackedConv2d::new(p, q, input, w, requant) {
            for run in 0..2 {
                let mut got = vec![99i8; 3 * n];
                assert!(conv2d_i8_packed_host(
                    p,
                    q,
                    &mut packed,
                    3,
                    &xs,
                    requant,
                    &mut got
                ));
                assert_eq!(got, want3, "packed, run {run}, {input:?} {p:?} {q:?}");
            }
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

    /// Nearest ×2 upsampling of `[c, h, w]`.
    fn upsample2x(x: &[i8], (c, h, w): (usize, usize, usize)) -> Vec<i8> {
        let mut y = Vec::with_capacity(4 * c * h * w);
        for plane in x.chunks_exact(h * w).take(c) {
            for row in plane.chunks_exact(w) {
                let wide: Vec<i8> = row.iter().flat_map(|&v| [v, v]).collect();
                y.extend_from_slice(&wide);
                y.extend_from_slice(&wide);
            }
        }
        y
    }

    /// A 3×3, stride-1, padding-1 conv of `c` maps upsampled from `h × w` to `m` maps.
    fn upconv(c: usize, (h, w): (usize, usize), m: usize, relu: bool) -> Conv2dParams {
        geometry((c, 2 * h, 2 * w, m), (3, 3), (1, 1), (1, 1, 1, 1), relu)
    }

    #[test]
    fn upsampled_fashion_shapes_match_reference() {
        // fashion-cgan's up-blocks (7 → 14 and 14 → 28), and one with an odd channel count
        for (c, hw, m) in [(64, 7, 32), (32, 14, 16), (5, 4, 3)] {
            let p = upconv(c, (hw, hw), m, m > 3);
            fashion_i8_cases(&p, |q, x, w, zp| {
                let low = &x[..c * hw * hw];
                let x = upsample2x(low, (c, hw, hw));
                assert!(Phases::of(&p).is_some(), "{p:?} takes the phases");
                run_with(&p, q, Conv2dInput::Upsampled2x, &x, w, zp);
            });
        }
    }

    #[test]
    fn upsampled_extreme_values_do_not_saturate_the_pairs() {
        // four taps of −128 summed (−512) against x̃ = 255 in both lanes of every pair
        let p = upconv(6, (3, 9), 5, false);
        let q = Conv2dI8Quant {
            input_zero_point: -128,
            output_zero_point: 0,
            act_min: -128,
            act_max: 127,
        };
        let up = |v: i8| upsample2x(&[v; 6 * 27], (6, 3, 9));
        run_with(&p, &q, Conv2dInput::Upsampled2x, &up(127), &[-128; 270], 1);
        run_with(&p, &q, Conv2dInput::Upsampled2x, &up(-128), &[127; 270], 2);
    }

    #[test]
    fn phase_kernels_sum_the_taps_each_phase_reads() {
        // with a distinct bit per tap, each phase tap's sum says which 3×3 taps it holds
        let k: [i16; 9] = core::array::from_fn(|i| 1 << i);
        let taps = |sum: i16| (0..9).filter(|i| sum & (1 << i) != 0).collect::<Vec<_>>();
        let phases = phase_kernels(k);
        // phase (0, 0): rows [0], [1, 2] × columns [0], [1, 2]
        assert_eq!(
            phases[0].map(taps),
            [vec![0], vec![1, 2], vec![3, 6], vec![4, 5, 7, 8]]
        );
        // phase (1, 1): rows [0, 1], [2] × columns [0, 1], [2]
        assert_eq!(
            phases[3].map(taps),
            [vec![0, 1, 3, 4], vec![2, 5], vec![6, 7], vec![8]]
        );
        // every phase sums each 3×3 tap exactly once
        for phase in phases {
            assert_eq!(phase.iter().sum::<i16>(), 511);
        }
    }

    #[test]
    fn other_geometries_told_upsampled_take_the_direct_path() {
        // stride 2, padding 0 and an odd input: no phases, still the reference's output
        for p in [
            geometry((3, 8, 8, 2), (3, 3), (2, 1), (1, 1, 1, 1), false),
            geometry((3, 8, 8, 2), (3, 3), (1, 1), (0, 0, 0, 0), false),
            geometry((3, 8, 8, 2), (2, 2), (1, 1), (1, 1, 1, 1), false),
        ] {
            assert!(Phases::of(&p).is_none(), "{p:?}");
            let q = Conv2dI8Quant {
                input_zero_point: 3,
                output_zero_point: -2,
                act_min: -128,
                act_max: 127,
            };
            let x = upsample2x(
                &(0..48)
                    .map(|i| (i * 37 % 255 - 127) as i8)
                    .collect::<Vec<_>>(),
                (3, 4, 4),
            );
            let w: Vec<i8> = (0..54).map(|i| (i * 53 % 255 - 127) as i8).collect();
            run_with(&p, &q, Conv2dInput::Upsampled2x, &x, &w, 7);
        }
    }

    proptest! {
        #[test]
        fn upsampled_matches_reference_exactly(
            (c, h, w, m) in (1usize..9, 1usize..8, 1usize..21, 1usize..10),
            relu in any::<bool>(),
            xq in i8_vec(2000),
            wq in i8_vec(1000),
            zp in prop_oneof![Just(-128i32), Just(127), -128i32..128],
            out_zp in -128i32..128,
            seed in 0i32..1000,
        ) {
            let p = upconv(c, (h, w), m, relu);
            let low: Vec<i8> = xq.iter().cycle().take(c * h * w).copied().collect();
            let wt: Vec<i8> = wq.iter().cycle().take(m * c * 9).copied().collect();
            let act_min = if relu { out_zp } else { -128 };
            let q = Conv2dI8Quant { input_zero_point: zp, output_zero_point: out_zp, act_min, act_max: 127 };
            run_with(&p, &q, Conv2dInput::Upsampled2x, &upsample2x(&low, (c, h, w)), &wt, seed);
        }

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
