//! Gather (class table look-up, ONNX `Gather` on axis 0 of a constant `[classes, D]`
//! table): `y = table[label]`. The label comes from the sampling condition and is checked
//! against the class count before any op runs.

/// Reference kernel: copies row `label` of a `[classes, row_len]` table into `y`; a label
/// past the table leaves `y` unchanged.
pub fn gather<T: Copy>(table: &[T], row_len: usize, label: usize, y: &mut [T]) {
    let start = label.saturating_mul(row_len);
    if let Some(row) = table.get(start..start.saturating_add(row_len)) {
        for (dst, &v) in y.iter_mut().zip(row) {
            *dst = v;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copies_the_labelled_row() {
        let table = [0.0f32, 0.1, 1.0, 1.1, 2.0, 2.1];
        let mut y = [9.0; 2];
        super::gather(&table, 2, 2, &mut y);
        assert_eq!(y, [2.0, 2.1]);
        super::gather(&table, 2, 3, &mut y);
        assert_eq!(y, [2.0, 2.1]);
    }
}
