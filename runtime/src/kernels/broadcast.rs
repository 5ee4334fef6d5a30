//! Operand broadcasting for the elementwise binary ops (Add, Sub, Mul).
//!
//! The binary kernels work in place: `y` already holds the full-size operand and is
//! combined with the `other` operand, which is full size, a scalar, or one value per
//! channel (the first axis).

/// How the second operand maps onto the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broadcast {
    /// Same number of elements as the output.
    Full,
    /// One value for every element.
    Scalar,
    /// One value per channel: element `i` uses `other[i / inner]`.
    Channel {
        /// Elements per channel (at least 1).
        inner: usize,
    },
}

/// Calls `f(&mut y[i], other[map(i)])` for every element of `y`.
#[inline(always)]
pub fn zip_broadcast<T: Copy, U>(
    y: &mut [U],
    other: &[T],
    b: Broadcast,
    mut f: impl FnMut(&mut U, T),
) {
    match b {
        Broadcast::Full => {
            for (v, &o) in y.iter_mut().zip(other) {
                f(v, o);
            }
        }
        Broadcast::Scalar => {
            if let Some(&o) = other.first() {
                for v in y {
                    f(v, o);
                }
            }
        }
        Broadcast::Channel { inner } => {
            for (chunk, &o) in y.chunks_mut(inner.max(1)).zip(other) {
                for v in chunk {
                    f(v, o);
                }
            }
        }
    }
}

/// Which side of the op the in-place operand `y` is on: `y op other`, or `other op y`
/// (only matters for Sub, and for the int8 parameters of Add and Mul).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `y` holds the first operand `a`: the result is `a op other`.
    First,
    /// `y` holds the second operand `b`: the result is `other op b`.
    Second,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_broadcast_repeats_each_value_over_its_plane() {
        let mut y = [0; 6];
        zip_broadcast(
            &mut y,
            &[1, 2, 3],
            Broadcast::Channel { inner: 2 },
            |v, o| *v += o,
        );
        assert_eq!(y, [1, 1, 2, 2, 3, 3]);
        zip_broadcast(&mut y, &[10], Broadcast::Scalar, |v, o| *v *= o);
        assert_eq!(y, [10, 10, 20, 20, 30, 30]);
        zip_broadcast(&mut y, &[1, 1, 1, 1, 1, 1], Broadcast::Full, |v, o| *v -= o);
        assert_eq!(y, [9, 9, 19, 19, 29, 29]);
    }
}
