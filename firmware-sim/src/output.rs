//! Writing samples: a PNG grid for image outputs, CSV or NPY for anything.

use std::fmt::Write as _;
use std::path::Path;

use crate::host::Pair;
use crate::{Error, Result};

/// An output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A grid of images (outputs `[C, H, W]` with 1 or 3 channels, or `[H, W]`).
    Png,
    /// One row per sample: seed, class, then the values.
    Csv,
    /// A float32 array `[n, ...output shape]`.
    Npy,
}

impl Format {
    /// The format named by `path`'s extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "csv" => Some(Format::Csv),
            "npy" => Some(Format::Npy),
            _ => None,
        }
    }
}

/// `(channels, height, width)` of an image-shaped output.
///
/// # Errors
///
/// [`Error::Output`] for shapes that are not images.
pub fn image_shape(shape: &[u32]) -> Result<(u32, u32, u32)> {
    let dims: Vec<u32> = match shape {
        [1, rest @ ..] if shape.len() == 4 => rest.to_vec(),
        _ => shape.to_vec(),
    };
    match dims[..] {
        [c @ (1 | 3), h, w] => Ok((c, h, w)),
        [h, w] => Ok((1, h, w)),
        _ => Err(Error::Output(format!(
            "a PNG needs an image output ([C, H, W] with 1 or 3 channels, or [H, W]); this \
             model's output is {shape:?}: use --format csv or npy"
        ))),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `samples` (pixels `0..=255`, each `[C, H, W]`) as a grid PNG, 2 px apart.
///
/// # Errors
///
/// [`Error::Output`] for a non-image shape, [`Error::Io`] on write.
pub fn write_png(path: &Path, shape: &[u32], samples: &[Vec<u8>]) -> Result<()> {
    let (c, h, w) = image_shape(shape)?;
    let n = samples.len().max(1) as u32;
    let cols = (f64::from(n).sqrt().ceil() as u32).max(1);
    let rows = n.div_ceil(cols);
    const GAP: u32 = 2;
    let width = cols * (w + GAP) + GAP;
    let height = rows * (h + GAP) + GAP;
    let mut img = image::RgbImage::new(width, height);
    for (i, s) in samples.iter().enumerate() {
        let (gx, gy) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (GAP + gx * (w + GAP), GAP + gy * (h + GAP));
        for y in 0..h {
            for x in 0..w {
                let at = |ch: u32| s[((ch * h + y) * w + x) as usize];
                let px = if c == 3 {
                    [at(0), at(1), at(2)]
                } else {
                    [at(0); 3]
                };
                img.put_pixel(x0 + x, y0 + y, image::Rgb(px));
            }
        }
    }
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::Output(format!("writing {}: {e}", path.display())))
}

/// Writes one CSV row per sample: `seed,class,x0,x1,…` (class empty without labels).
///
/// # Errors
///
/// [`Error::Io`] on write.
pub fn write_csv(path: &Path, pairs: &[Pair], samples: &[Vec<f32>]) -> Result<()> {
    let len = samples.first().map_or(0, Vec::len);
    let mut s = String::from("seed,class");
    for i in 0..len {
        write!(s, ",x{i}").expect("write to String");
    }
    s.push('\n');
    for (p, v) in pairs.iter().zip(samples) {
        write!(s, "{}", p.seed).expect("write to String");
        s.push(',');
        if let Some(l) = p.label {
            write!(s, "{l}").expect("write to String");
        }
        for x in v {
            // `{x:?}` prints the shortest text that parses back to the same f32.
            write!(s, ",{x:?}").expect("write to String");
        }
        s.push('\n');
    }
    write_file(path, s.as_bytes())
}

/// Writes the samples as a little-endian float32 NPY array `[n, ...shape]`.
///
/// # Errors
///
/// [`Error::Io`] on write.
pub fn write_npy(path: &Path, shape: &[u32], samples: &[Vec<f32>]) -> Result<()> {
    write_file(path, &npy_bytes(shape, samples))
}

fn npy_bytes(shape: &[u32], samples: &[Vec<f32>]) -> Vec<u8> {
    let dims: Vec<String> = std::iter::once(samples.len().to_string())
        .chain(shape.iter().map(u32::to_string))
        .collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a
    // multiple of 64 and ended by a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in samples.iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_padded_to_64_bytes() {
        let b = npy_bytes(&[1, 2, 2], &[vec![0.0; 4], vec![1.0; 4]]);
        let header_len = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (2, 1, 2, 2,)"), "{header}");
        assert_eq!(b.len(), 10 + header_len + 8 * 4);
    }

    #[test]
    fn points_are_not_an_image() {
        assert!(image_shape(&[64]).is_err());
        assert_eq!(image_shape(&[1, 8, 8]).unwrap(), (1, 8, 8));
        assert_eq!(image_shape(&[1, 3, 4, 5]).unwrap(), (3, 4, 5));
    }
}
