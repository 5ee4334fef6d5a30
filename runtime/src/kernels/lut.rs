//! Int8 unary ops by table look-up: `y = table[x + 128]`.
//!
//! The writer fills the 256 entries from the op (relu, leaky relu, tanh, sigmoid) and the
//! input and output quantisation: `table[i] = quantize(f(dequantize(i − 128)))`. A table is
//! exact by construction (it *is* the op on int8), costs 256 bytes of flash and one load
//! per element, and makes every unary op bit-identical on every target.

/// Reference kernel, in place.
pub fn lut_i8(table: &[i8; 256], y: &mut [i8]) {
    for v in y {
        *v = table[usize::from((*v as u8) ^ 0x80)];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_is_value_plus_128() {
        let table: [i8; 256] = core::array::from_fn(|i| (255 - i) as u8 as i8);
        let mut y = [-128i8, 0, 127];
        super::lut_i8(&table, &mut y);
        // i = x + 128 -> 255 - i
        assert_eq!(y, [(255u8) as i8, 127, 0]);
    }
}
