//! NumPy `.npy` files, the one codec of the host tools: `firmware-sim`'s inputs and
//! samples, the tests' golden files.
//!
//! The subset is what those files need: little-endian `float32` (`<f4`) and `int64`
//! (`<i8`) arrays in C order. The format: the magic `\x93NUMPY`, a version (1.0 written;
//! 1.0, 2.0 and 3.0 read), the header length (u16, or u32 from 2.0 on), an ASCII Python
//! dict `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }` padded with spaces
//! to a 64-byte boundary and ended by `\n`, then the raw elements.
//!
//! The reader trusts nothing in a file it does not control: every malformed file is an
//! error, and the shape is checked against the bytes that follow the header *before*
//! anything is read or allocated, so a header that claims 2^58 items, or a shape whose
//! product overflows, is an error and not a wrap-around or a huge allocation. The writer
//! lays a file out as NumPy's `np.save` does, so the golden files `regen-golden` rewrites
//! keep their bytes.
//!
//! Hand-written rather than taken from `npyz` (0.9.1): that crate's header parser pulls in
//! `py_literal`, `pest` and `num-bigint`, which changes the features of the dependencies
//! tract and Burn share and rebuilds both; it allocates a header length the file claims
//! and multiplies the shape unchecked (so it needed these guards anyway); and it pads
//! headers to 16 bytes, not NumPy's 64.

use std::path::Path;

use thiserror::Error;

/// What can go wrong reading or writing a `.npy` file. The caller names the file.
#[derive(Debug, Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a `.npy` file this reader accepts.
    #[error("not a valid .npy file: {0}")]
    Format(String),
    /// A valid file of another element type than the one asked for.
    #[error("dtype {found} is not {name} ({expected}): save it as {name}")]
    Dtype {
        /// The file's `descr`.
        found: String,
        /// The `descr` of the requested type.
        expected: &'static str,
        /// The requested type in words.
        name: &'static str,
    },
}

/// An element type of the files we read and write.
pub trait Element: Copy {
    /// NumPy's type string for it, little endian.
    const DESCR: &'static str;
    /// The type in words, for errors.
    const NAME: &'static str;
    /// Appends the element's little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
    /// Decodes one element from exactly `size_of::<Self>()` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

/// Implements [`Element`] for a primitive number through its `{from,to}_le_bytes`.
macro_rules! element {
    ($t:ty, $descr:literal, $name:literal) => {
        impl Element for $t {
            const DESCR: &'static str = $descr;
            const NAME: &'static str = $name;
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0; size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
        }
    };
}

element!(f32, "<f4", "little-endian float32");
element!(i64, "<i8", "little-endian int64");

/// A `.npy` array: its C-order shape and its elements (as many as the shape holds).
#[derive(Debug, Clone, PartialEq)]
pub struct Npy<T> {
    /// The dimensions.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<T>,
}

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy pads the header so that the data starts at a multiple of 64 bytes.
const ALIGN: usize = 64;

/// Decodes a `.npy` file holding `T` elements in C order.
///
/// # Errors
///
/// [`NpyError::Format`] for a malformed file (bad magic or version, a header past the end,
/// Fortran order, a shape that overflows or does not match the data's length),
/// [`NpyError::Dtype`] for another element type.
pub fn from_bytes<T: Element>(bytes: &[u8]) -> Result<Npy<T>, NpyError> {
    let format = NpyError::Format;
    if !bytes.starts_with(MAGIC) {
        return Err(format("no \\x93NUMPY magic".into()));
    }
    // the header length is a u16 in version 1, a u32 from version 2 on
    let start = match bytes.get(MAGIC.len()) {
        Some(1) => MAGIC.len() + 4,
        Some(2 | 3) => MAGIC.len() + 6,
        Some(v) => return Err(format(format!("unsupported version {v}"))),
        None => return Err(format("truncated before the version".into())),
    };
    let len_bytes = bytes
        .get(MAGIC.len() + 2..start)
        .ok_or_else(|| format("truncated before the header".into()))?;
    let header_len = len_bytes
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
            name: T::NAME,
        });
    }
    if fortran {
        return Err(format(
            "Fortran order is not supported (write C order)".into(),
        ));
    }
    let need = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(size_of::<T>()))
        .ok_or_else(|| {
            format(format!(
                "shape {shape:?} holds more elements than any file can"
            ))
        })?;
    let body = &bytes[header_end..];
    if body.len() != need {
        return Err(format(format!(
            "shape {shape:?} needs {need} data bytes, the file has {}",
            body.len()
        )));
    }
    let data = body.chunks_exact(size_of::<T>()).map(T::from_le).collect();
    Ok(Npy { shape, data })
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

    let descr = value_after("descr")?
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

    let tuple = value_after("shape")?
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

/// Reads a `.npy` file (see [`from_bytes`]).
///
/// # Errors
///
/// [`NpyError::Io`] if it cannot be read; as [`from_bytes`] otherwise.
pub fn read<T: Element>(path: &Path) -> Result<Npy<T>, NpyError> {
    from_bytes(&std::fs::read(path)?)
}

/// Encodes `data` (C order, `shape`) as a version 1.0 `.npy` file, as NumPy writes it.
///
/// # Panics
///
/// If `data` does not hold exactly the elements of `shape` (a caller's bug).
pub fn to_bytes<T: Element>(shape: &[usize], data: &[T]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy::to_bytes: shape {shape:?} for {} elements",
        data.len()
    );
    let mut raw = Vec::with_capacity(size_of_val(data));
    for &v in data {
        v.put_le(&mut raw);
    }
    raw_bytes(T::DESCR, shape, &raw)
}

/// A version 1.0 `.npy` file of dtype `descr` (e.g. `<f4`) and C-order `shape`, with
/// `data` as given (tests use it to write files of other dtypes).
pub fn raw_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    // Python's tuple: `()`, `(5,)`, `(2, 3)`.
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of ALIGN
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(ALIGN) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // a 1.0 header is at most u16::MAX bytes: ours is about 80 plus the shape's digits
    let len = u16::try_from(header.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `data` (C order, `shape`) to `path` as [`to_bytes`] encodes it.
///
/// # Errors
///
/// [`NpyError::Io`] on write.
pub fn write<T: Element>(path: &Path, shape: &[usize], data: &[T]) -> Result<(), NpyError> {
    std::fs::write(path, to_bytes(shape, data))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32_and_i64_with_aligned_headers() {
        let data = [0.5f32, -1.0, 2.25, 3.0, f32::MIN, 1e-7];
        let bytes = to_bytes(&[2, 3], &data);
        assert_eq!((bytes.len() - data.len() * 4) % ALIGN, 0);
        let a = from_bytes::<f32>(&bytes).unwrap();
        assert_eq!(
            (a.shape.as_slice(), a.data.as_slice()),
            (&[2, 3][..], &data[..])
        );

        let l = [0i64, 7, -3, i64::MAX];
        let b = from_bytes::<i64>(&to_bytes(&[4], &l)).unwrap();
        assert_eq!((b.shape, b.data), (vec![4], l.to_vec()));
        let s = from_bytes::<f32>(&to_bytes(&[], &[1.5f32])).unwrap();
        assert_eq!((s.shape, s.data), (vec![], vec![1.5]));
    }

    #[test]
    fn writes_what_numpy_writes() {
        // np.save(f, np.array([[1, 2]], dtype='<i8')) with numpy 1.26, byte for byte
        let mut want = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
        let mut header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }".to_string();
        header.push_str(&" ".repeat(118 - header.len() - 1));
        header.push('\n');
        want.extend_from_slice(header.as_bytes());
        want.extend_from_slice(&1i64.to_le_bytes());
        want.extend_from_slice(&2i64.to_le_bytes());
        assert_eq!(to_bytes(&[1, 2], &[1i64, 2]), want);
        let a = from_bytes::<i64>(&want).unwrap();
        assert_eq!((a.shape, a.data), (vec![1, 2], vec![1, 2]));
        let one = String::from_utf8_lossy(&to_bytes(&[3], &[0f32; 3])).into_owned();
        assert!(one.contains("'shape': (3,), }"), "{one}");
    }

    #[test]
    fn reads_version_2_headers() {
        let v1 = to_bytes(&[2], &[1.5f32, -2.0]);
        let header = &v1[10..v1.len() - 8];
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
        v2.extend_from_slice(header);
        v2.extend_from_slice(&v1[v1.len() - 8..]);
        assert_eq!(from_bytes::<f32>(&v2).unwrap().data, [1.5, -2.0]);
    }

    #[test]
    fn malformed_files_are_errors() {
        let good = to_bytes(&[3], &[1.0f32, 2.0, 3.0]);
        for cut in [0, 5, 9, 40, good.len() - 1] {
            assert!(
                matches!(from_bytes::<f32>(&good[..cut]), Err(NpyError::Format(_))),
                "cut at {cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(from_bytes::<f32>(&long), Err(NpyError::Format(_))));
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
        assert!(matches!(
            from_bytes::<f32>(&fortran),
            Err(NpyError::Format(_))
        ));
        let mut bad_version = good.clone();
        bad_version[6] = 9;
        assert!(matches!(
            from_bytes::<f32>(&bad_version),
            Err(NpyError::Format(_))
        ));
        let f64s = raw_bytes("<f8", &[2], &[0; 16]);
        let err = from_bytes::<f32>(&f64s).unwrap_err().to_string();
        assert!(
            err.contains("dtype <f8 is not little-endian float32"),
            "{err}"
        );
    }

    /// A header may claim any shape; the reader believes none of it before comparing it
    /// with the bytes that follow: no wrap-around, no allocation of the claimed size.
    #[test]
    fn huge_or_overflowing_shapes_are_errors() {
        let huge = (1usize << 58) + 1;
        for shape in [
            vec![huge],
            vec![1 << 40, 1 << 40, 1 << 40],
            vec![usize::MAX, 2],
            vec![1 << 62, 4],
        ] {
            let bytes = raw_bytes("<f4", &shape, &[0; 8]);
            let err = from_bytes::<f32>(&bytes).unwrap_err();
            assert!(matches!(err, NpyError::Format(_)), "{shape:?}: {err}");
        }
        let err = from_bytes::<f32>(&raw_bytes("<f4", &[huge], &[0; 8])).unwrap_err();
        assert!(err.to_string().contains("needs"), "{err}");
        // a version 2 header that claims 4 GiB
        let mut claim = b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}".to_vec();
        claim.extend_from_slice(&[0; 16]);
        let err = from_bytes::<f32>(&claim).unwrap_err().to_string();
        assert!(err.contains("runs past the end"), "{err}");
    }
}
