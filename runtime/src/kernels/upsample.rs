//! Nearest-neighbour upsampling by integer factors (ONNX `Resize`/`Upsample`, mode
//! `nearest`, integer scales): `x: [C, H, W]` → `y: [C, H·fh, W·fw]`,
//! `y[c, oy, ox] = x[c, oy / fh, ox / fw]`. Works on any element type, so one kernel serves
//! f32 and int8 (int8 input and output share quantisation).

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }
}
