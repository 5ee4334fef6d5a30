//! Nearest-neighbour upsampling that writes each output row once and copies it.
//!
//! The reference fills every output row from the input, value by value, with a `fill` of
//! `factor_w` elements each (a `memset` call per input value on the Cortex-M4 at
//! `opt-level = "z"`). Here the first of each group of `factor_h` equal rows is built
//! (the common factor 2 as two plain stores per value) and the others are copies of it.

use crate::kernels::upsample::UpsampleParams;

/// [`crate::kernels::upsample::upsample_nearest`], equal to it for every geometry.
pub fn upsample_nearest_rows<T: Copy>(p: &UpsampleParams, x: &[T], y: &mut [T]) {
    let out_w = p.in_w * p.factor_w;
    let in_plane = (p.in_h * p.in_w).max(1);
    let out_plane = (in_plane * p.factor_h * p.factor_w).max(1);
    for (xc, yc) in x.chunks_exact(in_plane).zip(y.chunks_exact_mut(out_plane)) {
        for (xrow, yrows) in xc
            .chunks_exact(p.in_w.max(1))
            .zip(yc.chunks_exact_mut((out_w * p.factor_h).max(1)))
        {
            let Some((first, rest)) = yrows.split_at_mut_checked(out_w) else {
                continue;
            };
            if p.factor_w == 2 {
                for (&v, d) in xrow.iter().zip(first.chunks_exact_mut(2)) {
                    d[0] = v;
                    d[1] = v;
                }
            } else {
                for (&v, d) in xrow.iter().zip(first.chunks_exact_mut(p.factor_w.max(1))) {
                    d.fill(v);
                }
            }
            for yrow in rest.chunks_exact_mut(out_w.max(1)) {
                yrow.copy_from_slice(first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::upsample::upsample_nearest;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn equals_the_reference(
            c in 1usize..4, h in 0usize..5, w in 0usize..6, fh in 1usize..4, fw in 1usize..4,
            x in proptest::collection::vec(any::<i8>(), 120),
        ) {
            let p = UpsampleParams { channels: c, in_h: h, in_w: w, factor_h: fh, factor_w: fw };
            let x = &x[..c * h * w];
            let n = c * h * fh * w * fw;
            let (mut want, mut got) = (vec![0i8; n], vec![0i8; n]);
            upsample_nearest(&p, x, &mut want);
            upsample_nearest_rows(&p, x, &mut got);
            prop_assert_eq!(got, want);
        }
    }
}
