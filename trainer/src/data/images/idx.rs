//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.), raw or gzip-compressed.
//!
//! Layout: a 4-byte magic `0x00 0x00 <type> <rank>` (type 0x08 = unsigned byte), then
//! `rank` big-endian u32 dimensions, then the values in row-major order. Images are rank
//! 3 (`count x rows x cols`), labels rank 1. Every check names the file; a truncated file
//! says how many bytes were expected.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, TrainError};

/// An IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// dimensions, outermost first
    pub dims: Vec<usize>,
    /// row-major values
    pub data: Vec<u8>,
}

/// Largest IDX file, raw or decompressed, that is read (Fashion-MNIST's training images
/// are 47 MB): the header's declared size is checked against it before the values are
/// decompressed, and decompression stops there, so a gzip bomb costs nothing.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// Reads the whole file, decompressing it when it starts with the gzip magic, refusing
/// more than `max` bytes (raw or decompressed).
fn read_maybe_gzip(path: &Path, max: u64) -> Result<Vec<u8>> {
    let too_large = |what: &str, n: u64| {
        TrainError::data(
            path,
            format!("{what} {n} bytes, over the limit of {max} bytes for an IDX file"),
        )
    };
    let file = std::fs::File::open(path).map_err(TrainError::io(path))?;
    let mut raw = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(TrainError::io(path))?;
    if raw.len() as u64 > max {
        return Err(too_large("the file has more than", max));
    }
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let corrupt = |e: std::io::Error| TrainError::data(path, format!("corrupt gzip stream: {e}"));
    let mut gz = flate2::read::GzDecoder::new(raw.as_slice());
    // The header first (magic and dimensions), then at most the values it declares and
    // one byte more (so that trailing bytes are still reported by `parse_idx`).
    let mut out = vec![0u8; 4];
    gz.read_exact(&mut out).map_err(corrupt)?;
    let rank = usize::from(out[3]);
    if out[0] == 0 && out[1] == 0 && (1..=4).contains(&rank) {
        out.resize(4 + 4 * rank, 0);
        gz.read_exact(&mut out[4..]).map_err(corrupt)?;
        let declared = out[4..]
            .chunks_exact(4)
            .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .fold(1u64, u64::saturating_mul)
            .saturating_add(out.len() as u64);
        if declared > max {
            return Err(too_large("its header declares", declared));
        }
        gz.take(declared - out.len() as u64 + 1)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
    } else {
        // not IDX: `parse_idx` says so from the first bytes
        gz.take(64).read_to_end(&mut out).map_err(corrupt)?;
    }
    Ok(out)
}

/// Parses IDX bytes (already decompressed); `path` only names the file in errors.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(TrainError::data(
            path,
            format!("truncated: {} bytes, an IDX header needs 4", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(TrainError::data(
            path,
            format!(
                "wrong magic {:02x} {:02x} {:02x} {:02x}: not an IDX file (expected 00 00 08 <rank>)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(TrainError::data(
            path,
            format!(
                "IDX value type 0x{:02x} is not supported (only 0x08, unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let rank = usize::from(bytes[3]);
    if rank == 0 || rank > 4 {
        return Err(TrainError::data(
            path,
            format!("IDX rank {rank} (expected 1 to 4)"),
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(TrainError::data(
            path,
            format!(
                "truncated: {} bytes, the rank-{rank} header needs {header}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| TrainError::data(path, format!("dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have < count {
        return Err(TrainError::data(
            path,
            format!(
                "truncated: dimensions {dims:?} need {count} values after the header, the file has {have}"
            ),
        ));
    }
    if have > count {
        return Err(TrainError::data(
            path,
            format!(
                "{} trailing bytes after the {count} values of dimensions {dims:?}",
                have - count
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX file (raw or `.gz`).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    read_idx_within(path, MAX_IDX_BYTES)
}

/// As [`read_idx`], refusing files over `max` bytes (raw or decompressed).
fn read_idx_within(path: &Path, max: u64) -> Result<IdxArray> {
    let bytes = read_maybe_gzip(path, max)?;
    parse_idx(path, &bytes)
}

/// An IDX image file and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImages {
    /// image height
    pub rows: usize,
    /// image width
    pub cols: usize,
    /// `[count, rows, cols]` bytes
    pub pixels: Vec<u8>,
    /// one byte label per image
    pub labels: Vec<u8>,
}

/// `array` (read from `path`) has `rank` dimensions; `rule` says what a file of its kind
/// looks like.
fn expect_rank(path: &Path, array: &IdxArray, rank: usize, rule: &str) -> Result<()> {
    if array.dims.len() == rank {
        return Ok(());
    }
    Err(TrainError::data(
        path,
        format!("{rule}, this one has dimensions {:?}", array.dims),
    ))
}

/// Reads an image file (rank 3) and its label file (rank 1) and checks they agree.
pub fn read_images_and_labels(images: &Path, labels: &Path) -> Result<LabelledImages> {
    let img = read_idx(images)?;
    expect_rank(
        images,
        &img,
        3,
        "an image file has rank 3 (count, rows, cols)",
    )?;
    let lab = read_idx(labels)?;
    expect_rank(labels, &lab, 1, "a label file has rank 1")?;
    if lab.dims[0] != img.dims[0] {
        return Err(TrainError::data(
            labels,
            format!(
                "{} labels for the {} images of {}",
                lab.dims[0],
                img.dims[0],
                images.display()
            ),
        ));
    }
    if img.dims[1] == 0 || img.dims[2] == 0 {
        return Err(TrainError::data(
            images,
            format!(
                "images of {}x{} pixels: an image needs at least one row and one column",
                img.dims[1], img.dims[2]
            ),
        ));
    }
    Ok(LabelledImages {
        rows: img.dims[1],
        cols: img.dims[2],
        pixels: img.data,
        labels: lab.data,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// IDX bytes for the given dims and values.
    pub(crate) fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzip_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let raw = dir.path().join("a-idx3-ubyte");
        let gz = dir.path().join("a-idx3-ubyte.gz");
        std::fs::write(&raw, &bytes).unwrap();
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        let a = read_idx(&raw).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data[11], 12);
        assert_eq!(read_idx(&gz).unwrap(), a);
    }

    #[test]
    fn wrong_magic_truncation_and_trailing_bytes_are_errors_naming_the_file() {
        let p = Path::new("/data/x-idx3-ubyte");
        let err = parse_idx(p, b"PK\x03\x04rest").unwrap_err().to_string();
        assert!(
            err.contains("x-idx3-ubyte") && err.contains("magic"),
            "{err}"
        );
        let err = parse_idx(p, &[0, 0, 8]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = parse_idx(p, &idx_bytes(&[2, 2, 2], &[0; 5]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated") && err.contains("need 8"), "{err}");
        let err = parse_idx(p, &idx_bytes(&[2], &[0; 3]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailing"), "{err}");
        let err = parse_idx(p, &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gz");
        let mut bytes = gzip(&idx_bytes(&[3], &[1, 2, 3]));
        let n = bytes.len();
        bytes.truncate(n - 6);
        std::fs::write(&path, bytes).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("broken.gz"), "{err}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb-idx1-ubyte.gz");
        // An honest header for 4 MiB of zeros, compressed to a few KiB: over a 1 MiB limit
        // by its header, before anything is inflated.
        let bytes = idx_bytes(&[4 << 20], &vec![0; 4 << 20]);
        let gz = gzip(&bytes);
        assert!(gz.len() < 64 << 10, "{}", gz.len());
        std::fs::write(&path, &gz).unwrap();
        let err = read_idx_within(&path, 1 << 20).unwrap_err().to_string();
        assert!(
            err.contains("bomb-idx1-ubyte.gz")
                && err.contains("its header declares 4194312 bytes, over the limit of 1048576"),
            "{err}"
        );
        // A lying header (3 values) over the same 4 MiB stream: inflation stops after the
        // declared values and one byte, and the rest is reported as trailing.
        let mut lying = idx_bytes(&[3], &[]);
        lying.extend(vec![0; 4 << 20]);
        std::fs::write(&path, gzip(&lying)).unwrap();
        let err = read_idx_within(&path, 1 << 20).unwrap_err().to_string();
        assert!(err.contains("1 trailing bytes after the 3 values"), "{err}");
        // Under the limit the same file reads.
        std::fs::write(&path, &gz).unwrap();
        assert_eq!(read_idx_within(&path, 8 << 20).unwrap().data.len(), 4 << 20);
        // A raw file over the limit is refused without reading it all.
        let raw = dir.path().join("big-idx1-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let err = read_idx_within(&raw, 1 << 20).unwrap_err().to_string();
        assert!(
            err.contains("the file has more than 1048576 bytes"),
            "{err}"
        );
    }

    #[test]
    fn zero_by_zero_images_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("img");
        let labels = dir.path().join("lab");
        std::fs::write(&images, idx_bytes(&[3, 0, 0], &[])).unwrap();
        std::fs::write(&labels, idx_bytes(&[3], &[0, 1, 2])).unwrap();
        let err = read_images_and_labels(&images, &labels)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("img") && err.contains("images of 0x0 pixels"),
            "{err}"
        );
    }

    #[test]
    fn image_label_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("img");
        let labels = dir.path().join("lab");
        std::fs::write(&images, idx_bytes(&[3, 1, 1], &[0, 1, 2])).unwrap();
        std::fs::write(&labels, idx_bytes(&[2], &[0, 1])).unwrap();
        let err = read_images_and_labels(&images, &labels)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lab") && err.contains("2 labels for the 3 images"),
            "{err}"
        );
        std::fs::write(&labels, idx_bytes(&[3, 1, 1], &[0, 1, 2])).unwrap();
        let err = read_images_and_labels(&images, &labels)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rank 1"), "{err}");
    }
}
