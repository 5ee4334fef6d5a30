//! Upsampling by integer factors (ONNX `Resize`/`Upsample` with integer scales):
//! `x: [C, H, W]` → `y: [C, H·fh, W·fw]`.
//!
//! - nearest: `y[c, oy, ox] = x[c, oy / fh, ox / fw]`. Works on any element type, so one
//!   kernel serves f32 and int8 (int8 input and output share quantisation).
//! - bilinear with half-pixel centres (ONNX `linear` with `half_pixel` or
//!   `pytorch_half_pixel`, PyTorch `nn.Upsample(mode='bilinear', align_corners=False)`,
//!   Keras `UpSampling2D(interpolation='bilinear')`): output row `oy` samples the input at
//!   `(oy + ½)/f − ½`, clamped to the edges. With an integer factor that coordinate is
//!   `p/(2f)` for the integer `p = 2·oy + 1 − f`, so every weight is a multiple of
//!   `1/(2f)`: the int8 kernel interpolates the codes (input and output share
//!   quantisation) with integer weights and one rounding, exactly, with no tables.

/// Upsample geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpsampleParams {
    /// Channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub in_h: usize,
    /// Input width `W`.
    pub in_w: usize,
    /// Vertical factor (≥ 1).
    pub factor_h: usize,
    /// Horizontal factor (≥ 1).
    pub factor_w: usize,
}

/// Reference kernel.
pub fn upsample_nearest<T: Copy>(p: &UpsampleParams, x: &[T], y: &mut [T]) {
    let out_w = p.in_w * p.factor_w;
    let in_plane = (p.in_h * p.in_w).max(1);
    let out_plane = (in_plane * p.factor_h * p.factor_w).max(1);
    for (xc, yc) in x.chunks_exact(in_plane).zip(y.chunks_exact_mut(out_plane)) {
        for (xrow, yrows) in xc
            .chunks_exact(p.in_w.max(1))
            .zip(yc.chunks_exact_mut((out_w * p.factor_h).max(1)))
        {
            for yrow in yrows.chunks_exact_mut(out_w.max(1)) {
                for (&v, dst) in xrow.iter().zip(yrow.chunks_exact_mut(p.factor_w.max(1))) {
                    dst.fill(v);
                }
            }
        }
    }
}

/// One axis of a half-pixel bilinear upsampling: for output index `o`, the two input
/// indices and the weight of the second in units of `1/(2f)` (`f` = `factor`).
#[inline]
fn taps(o: usize, factor: usize, n: usize) -> (usize, usize, usize) {
    let p = 2 * o + 1;
    if p < factor {
        // left of the first input centre: the edge value
        return (0, 0, 0);
    }
    let p = p - factor;
    let (i0, r) = (p / (2 * factor), p % (2 * factor));
    let last = n.saturating_sub(1);
    let i0 = i0.min(last);
    (i0, (i0 + 1).min(last), r)
}

/// Reference kernel, f32: bilinear upsampling with half-pixel centres.
pub fn upsample_bilinear_f32(p: &UpsampleParams, x: &[f32], y: &mut [f32]) {
    let (h, w) = (p.in_h.max(1), p.in_w.max(1));
    let (oh, ow) = (h * p.factor_h, w * p.factor_w);
    let (dh, dw) = ((2 * p.factor_h) as f32, (2 * p.factor_w) as f32);
    for (xc, yc) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (oy, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            let (y0, y1, ry) = taps(oy, p.factor_h, h);
            let fy = ry as f32 / dh;
            let (r0, r1) = (&xc[y0 * w..(y0 + 1) * w], &xc[y1 * w..(y1 + 1) * w]);
            for (ox, v) in yrow.iter_mut().enumerate() {
                let (x0, x1, rx) = taps(ox, p.factor_w, w);
                let fx = rx as f32 / dw;
                let top = r0[x0] * (1.0 - fx) + r0[x1] * fx;
                let bottom = r1[x0] * (1.0 - fx) + r1[x1] * fx;
                *v = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}

/// Reference kernel, int8 (input and output share quantisation): the codes interpolated
/// with integer weights (multiples of `1/(2f)` per axis), rounded half up once.
pub fn upsample_bilinear_i8(p: &UpsampleParams, x: &[i8], y: &mut [i8]) {
    let (h, w) = (p.in_h.max(1), p.in_w.max(1));
    let (oh, ow) = (h * p.factor_h, w * p.factor_w);
    let (dh, dw) = ((2 * p.factor_h) as i32, (2 * p.factor_w) as i32);
    let d = dh * dw;
    for (xc, yc) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        for (oy, yrow) in yc.chunks_exact_mut(ow).enumerate() {
            let (y0, y1, ry) = taps(oy, p.factor_h, h);
            let (wy1, wy0) = (ry as i32, dh - ry as i32);
            let (r0, r1) = (&xc[y0 * w..(y0 + 1) * w], &xc[y1 * w..(y1 + 1) * w]);
            for (ox, v) in yrow.iter_mut().enumerate() {
                let (x0, x1, rx) = taps(ox, p.factor_w, w);
                let (wx1, wx0) = (rx as i32, dw - rx as i32);
                let q = |r: &[i8], i: usize| i32::from(r[i]);
                let top = q(r0, x0) * wx0 + q(r0, x1) * wx1;
                let bottom = q(r1, x0) * wx0 + q(r1, x1) * wx1;
                let acc = top * wy0 + bottom * wy1;
                // floor((acc + d/2) / d): round half up, also for negative sums
                let r = (2 * acc + d).div_euclid(2 * d);
                *v = r.clamp(-128, 127) as i8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ONNX Resize (linear, half_pixel), written from the operator's definition in f64.
    fn onnx_bilinear(p: &UpsampleParams, x: &[f32]) -> Vec<f64> {
        let (h, w) = (p.in_h, p.in_w);
        let (oh, ow) = (h * p.factor_h, w * p.factor_w);
        let src = |o: usize, f: usize, n: usize| {
            let s = ((o as f64 + 0.5) / f as f64 - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(n - 1);
            (i0, (i0 + 1).min(n - 1), s - s.floor())
        };
        let mut y = vec![];
        for c in 0..p.channels {
            for oy in 0..oh {
                let (y0, y1, fy) = src(oy, p.factor_h, h);
                for ox in 0..ow {
                    let (x0, x1, fx) = src(ox, p.factor_w, w);
                    let at = |yy: usize, xx: usize| f64::from(x[(c * h + yy) * w + xx]);
                    let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                    let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                    y.push(top * (1.0 - fy) + bottom * fy);
                }
            }
        }
        y
    }

    #[test]
    fn bilinear_doubles_a_ramp() {
        let p = UpsampleParams {
            channels: 1,
            in_h: 1,
            in_w: 3,
            factor_h: 2,
            factor_w: 2,
        };
        let mut y = [0.0f32; 12];
        upsample_bilinear_f32(&p, &[0.0, 4.0, 8.0], &mut y);
        assert_eq!(&y[..6], &[0.0, 1.0, 3.0, 5.0, 7.0, 8.0]);
        assert_eq!(&y[..6], &y[6..]);
        let mut q = [0i8; 12];
        upsample_bilinear_i8(&p, &[-8, 0, 9], &mut q);
        // -8·¾ + 0·¼ = -6, -8·¼ + 0·¾ = -2, 9·¼ = 2.25 → 2, 9·¾ = 6.75 → 7
        assert_eq!(&q[..6], &[-8, -6, -2, 2, 7, 9]);
    }

    #[test]
    fn doubles_a_two_by_two_image() {
        let p = UpsampleParams {
            channels: 1,
            in_h: 2,
            in_w: 2,
            factor_h: 2,
            factor_w: 2,
        };
        let mut y = [0u8; 16];
        upsample_nearest(&p, &[1, 2, 3, 4], &mut y);
        assert_eq!(y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    }

    proptest! {
        #[test]
        fn matches_index_definition(c in 1usize..4, h in 1usize..5, w in 1usize..5, fh in 1usize..4, fw in 1usize..4) {
            let p = UpsampleParams { channels: c, in_h: h, in_w: w, factor_h: fh, factor_w: fw };
            let x: Vec<i32> = (0..(c * h * w) as i32).collect();
            let (oh, ow) = (h * fh, w * fw);
            let mut y = vec![-1; c * oh * ow];
            upsample_nearest(&p, &x, &mut y);
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        prop_assert_eq!(y[(ch * oh + oy) * ow + ox], x[(ch * h + oy / fh) * w + ox / fw]);
                    }
                }
            }
        }

        #[test]
        fn bilinear_matches_the_onnx_definition(c in 1usize..3, h in 1usize..6, w in 1usize..6, fh in 1usize..5, fw in 1usize..5, seed in 0u32..1000) {
            let p = UpsampleParams { channels: c, in_h: h, in_w: w, factor_h: fh, factor_w: fw };
            let x: Vec<f32> = (0..c * h * w).map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 255) as f32 - 127.0).collect();
            let want = onnx_bilinear(&p, &x);
            let mut y = vec![0.0f32; want.len()];
            upsample_bilinear_f32(&p, &x, &mut y);
            for (a, b) in y.iter().zip(&want) {
                prop_assert!((f64::from(*a) - b).abs() < 1e-4, "{} vs {}", a, b);
            }
            // int8: the same sums on the codes, rounded once: within half a step
            let xq: Vec<i8> = x.iter().map(|&v| v as i8).collect();
            let mut yq = vec![0i8; want.len()];
            upsample_bilinear_i8(&p, &xq, &mut yq);
            for (a, b) in yq.iter().zip(&want) {
                prop_assert!((f64::from(*a) - b).abs() <= 0.5 + 1e-9, "{} vs {}", a, b);
            }
        }
    }
}
