//! Concat along the first (channel / feature) axis, batch 1: the inputs are laid end to
//! end, so the kernel is a sequence of copies. Int8 inputs share the output's quantisation.

/// Reference kernel: copies each input in order into `y`.
pub fn concat<T: Copy>(inputs: &[&[T]], y: &mut [T]) {
    let mut rest = y;
    for x in inputs {
        let n = x.len().min(rest.len());
        let (head, tail) = rest.split_at_mut(n);
        head.copy_from_slice(&x[..n]);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lays_inputs_end_to_end() {
        let mut y = [0; 6];
        super::concat(&[&[1, 2][..], &[3][..], &[4, 5, 6][..]], &mut y);
        assert_eq!(y, [1, 2, 3, 4, 5, 6]);
    }
}
