//! A small reader and writer for NumPy's `.npy` files, limited to what the golden files
//! need: `float32` (`<f4`) and `int64` (`<i8`) arrays in C order, little endian.
//!
//! Written here rather than taken from a crate because the subset is about a hundred lines
//! and the reader must turn every malformed file into an error (golden files are input the
//! tests do not control). The format is documented in `models/README.md`; in short: the
//! magic `\x93NUMPY`, a version (1.0 written; 1.0, 2.0 and 3.0 read), the header length
//! (u16, or u32 from 2.0 on), an ASCII Python dict `{'descr': '<f4', 'fortran_order':
//! False, 'shape': (1, 2), }` padded with spaces to a 64-byte boundary and ended by `\n`,
//! then the raw elements.

use std::path::Path;

use thiserror::Error;

use crate::array::Array;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the data to 64 bytes (since 1.x); readers accept any alignment.
const ALIGN: usize = 64;

/// What can go wrong reading or writing a `.npy` file.
#[derive(Debug, Error)]
pub enum NpyError {
    /// the file could not be read or written
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// the bytes are not a `.npy` file this reader understands
    #[error("not a valid .npy file: {0}")]
    Format(String),
    /// a valid file of another element type than the one asked for
    #[error("element type `{found}`, expected `{expected}`")]
    Dtype {
        /// the file's `descr`
        found: String,
        /// the `descr` of the requested type
        expected: &'static str,
    },
}

/// An element type the golden files use.
pub trait Element: Copy + Sized {
    /// NumPy's type string for it, little endian
    const DESCR: &'static str;
    /// bytes per element
    const SIZE: usize;
    /// decodes one element from exactly `SIZE` little-endian bytes
    fn from_le(bytes: &[u8]) -> Self;
    /// appends the element's little-endian bytes
    fn put_le(self, out: &mut Vec<u8>);
}

/// Implements [`Element`] for a primitive number type through its `from_le_bytes`.
macro_rules! element {
    ($t:ty, $descr:literal) => {
        impl Element for $t {
            const DESCR: &'static str = $descr;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

element!(f32, "<f4");
element!(i64, "<i8");

/// Encodes `array` as a version 1.0 `.npy` file.
pub fn to_bytes<T: Element>(array: &Array<T>) -> Vec<u8> {
    let shape = match array.shape() {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        T::DESCR
    );
    // magic (6) + version (2) + length (2) + header + '\n' must be a multiple of ALIGN
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((ALIGN - unpadded % ALIGN) % ALIGN));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + array.len() * T::SIZE);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // a 1.0 header is at most u16::MAX bytes; ours is about 80 plus the shape's digits
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in array.data() {
        v.put_le(&mut out);
    }
    out
}

/// Decodes a `.npy` file holding `T` elements in C order.
pub fn from_bytes<T: Element>(bytes: &[u8]) -> Result<Array<T>, NpyError> {
    let format = |m: String| NpyError::Format(m);
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format("no \\x93NUMPY magic".into()));
    }
    let major = bytes[MAGIC.len()];
    // the header length is a u16 in version 1, a u32 from version 2 on
    let start = match major {
        1 => MAGIC.len() + 4,
        2 | 3 => MAGIC.len() + 6,
        v => return Err(format(format!("unsupported version {v}"))),
    };
    if bytes.len() < start {
        return Err(format("truncated before the header".into()));
    }
    let header_len = bytes[MAGIC.len() + 2..start]
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header_end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| format(format!("header of {header_len} bytes runs past the end")))?;
    let header = std::str::from_utf8(&bytes[start..header_end])
        .map_err(|_| format("header is not text".into()))?;
    let (descr, fortran, shape) = parse_header(header).map_err(format)?;
    if descr != T::DESCR {
        return Err(NpyError::Dtype {
            found: descr,
            expected: T::DESCR,
        });
    }
    if fortran {
        return Err(format(
            "Fortran order is not supported (write C order)".into(),
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format(format!("shape {shape:?} overflows")))?;
    let body = &bytes[header_end..];
    let expected = count
        .checked_mul(T::SIZE)
        .ok_or_else(|| format(format!("shape {shape:?} overflows")))?;
    if body.len() != expected {
        return Err(format(format!(
            "shape {shape:?} needs {expected} data bytes, the file has {}",
            body.len()
        )));
    }
    let data = body.chunks_exact(T::SIZE).map(T::from_le).collect();
    Array::new(shape, data).map_err(format)
}

/// Reads a `.npy` file (see [`from_bytes`]).
pub fn read<T: Element>(path: &Path) -> Result<Array<T>, NpyError> {
    from_bytes(&std::fs::read(path)?)
}

/// Writes `array` to `path` as a version 1.0 `.npy` file.
pub fn write<T: Element>(path: &Path, array: &Array<T>) -> Result<(), NpyError> {
    std::fs::write(path, to_bytes(array))?;
    Ok(())
}

/// Parses the header dict into (descr, fortran_order, shape). Keys may come in any order,
/// as NumPy only promises a dict literal.
fn parse_header(header: &str) -> Result<(String, bool, Vec<usize>), String> {
    let body = header
        .trim()
        .strip_prefix('{')
        .and_then(|h| h.strip_suffix('}'))
        .ok_or_else(|| format!("header is not a dict: {header:?}"))?;
    let value_after = |key: &str| -> Result<&str, String> {
        let at = body
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("header lacks '{key}'"))?;
        let rest = &body[at + key.len() + 2..];
        rest.trim_start()
            .strip_prefix(':')
            .map(str::trim_start)
            .ok_or_else(|| format!("no ':' after '{key}'"))
    };

    let descr_rest = value_after("descr")?;
    let descr = descr_rest
        .strip_prefix('\'')
        .and_then(|r| r.split_once('\''))
        .map(|(d, _)| d.to_string())
        .ok_or_else(|| "'descr' is not a quoted string".to_string())?;

    let fortran_rest = value_after("fortran_order")?;
    let fortran = if fortran_rest.starts_with("False") {
        false
    } else if fortran_rest.starts_with("True") {
        true
    } else {
        return Err("'fortran_order' is neither True nor False".into());
    };

    let shape_rest = value_after("shape")?;
    let tuple = shape_rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .map(|(t, _)| t)
        .ok_or_else(|| "'shape' is not a tuple".to_string())?;
    let shape = tuple
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("'shape' has a non-integer dimension `{s}`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((descr, fortran, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32_and_i64_with_aligned_headers() {
        let a = Array::new(vec![2, 3], vec![0.5f32, -1.0, 2.25, 3.0, f32::MIN, 1e-7]).unwrap();
        let bytes = to_bytes(&a);
        let data_start = bytes.len() - 6 * 4;
        assert_eq!(data_start % ALIGN, 0);
        assert_eq!(from_bytes::<f32>(&bytes).unwrap(), a);

        let l = Array::new(vec![4], vec![0i64, 7, -3, i64::MAX]).unwrap();
        assert_eq!(from_bytes::<i64>(&to_bytes(&l)).unwrap(), l);
        let scalar = Array::new(vec![], vec![1.5f32]).unwrap();
        assert_eq!(from_bytes::<f32>(&to_bytes(&scalar)).unwrap(), scalar);
    }

    #[test]
    fn reads_what_numpy_writes() {
        // np.save(f, np.array([[1, 2]], dtype='<i8')) with numpy 1.26, byte for byte
        let mut bytes = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        let mut header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }".to_string();
        header.push_str(&" ".repeat(118 - header.len() - 1));
        header.push('\n');
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&1i64.to_le_bytes());
        bytes.extend_from_slice(&2i64.to_le_bytes());
        let a = from_bytes::<i64>(&bytes).unwrap();
        assert_eq!(a.shape(), &[1, 2]);
        assert_eq!(a.data(), &[1, 2]);
    }

    #[test]
    fn reads_version_2_headers() {
        let v1 = to_bytes(&Array::new(vec![2], vec![1.5f32, -2.0]).unwrap());
        let header = &v1[10..v1.len() - 8];
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
        v2.extend_from_slice(header);
        v2.extend_from_slice(&v1[v1.len() - 8..]);
        assert_eq!(from_bytes::<f32>(&v2).unwrap().data(), &[1.5, -2.0]);
    }

    #[test]
    fn malformed_files_are_errors() {
        let a = Array::new(vec![3], vec![1.0f32, 2.0, 3.0]).unwrap();
        let good = to_bytes(&a);
        for cut in [0, 5, 9, 40, good.len() - 1] {
            assert!(
                matches!(from_bytes::<f32>(&good[..cut]), Err(NpyError::Format(_))),
                "cut at {cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(from_bytes::<f32>(&long).is_err());
        assert!(matches!(
            from_bytes::<i64>(&good),
            Err(NpyError::Dtype {
                expected: "<i8",
                ..
            })
        ));
        let mut fortran = good.clone();
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(from_bytes::<f32>(&fortran).is_err());
        let mut bad_version = good.clone();
        bad_version[6] = 9;
        assert!(from_bytes::<f32>(&bad_version).is_err());
    }
}
