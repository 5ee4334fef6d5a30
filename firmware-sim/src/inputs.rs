//! Reading inpainting inputs: masks, masked objects and pictures from `.npy` float32
//! arrays (`[C, H, W]` or `[N, C, H, W]`) or PNG images of the model's size.
//!
//! The file type comes from its first bytes, not its name, so a mislabelled file gets a
//! precise error. Every error names the file.

use std::path::{Path, PathBuf};

use crate::picture;
use crate::{Error, Result};

/// What a file holds, which decides how PNG pixels become values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A mask: 1 = known, 0 = to fill. PNG: pixel ≥ 128 is known; NPY: 0 or 1 only.
    Mask,
    /// A picture (or a masked picture) in the model's value range. PNG pixels `0..=255`
    /// map to the range.
    Picture,
}

/// The model input a file must fit: `[channels, height, width]` and the value range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputShape {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// The model's output (and masked input) value range.
    pub range: (f32, f32),
}

impl InputShape {
    /// Elements of one input.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether one input is empty (never, for a valid model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads `path` as one or more inputs of `shape` (each `shape.len()` values).
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::Input`] for a file that is neither NPY nor
/// PNG, a wrong size or channel count, a dtype other than float32, NaN or infinite values,
/// or mask values other than 0 and 1.
pub fn read(path: &Path, role: Role, shape: &InputShape) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "reading",
        path: PathBuf::from(path),
        source,
    })?;
    let items = if bytes.starts_with(b"\x93NUMPY") {
        read_npy(path, &bytes, shape)?
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        vec![read_png(path, &bytes, role, shape)?]
    } else {
        return Err(bad(
            path,
            "not a .npy array or a PNG image (the file starts with neither magic)",
        ));
    };
    for (n, item) in items.iter().enumerate() {
        let at = |i: usize| {
            let (c, hw) = (
                i / (shape.height * shape.width),
                i % (shape.height * shape.width),
            );
            let item = if items.len() > 1 {
                format!("item {n}, ")
            } else {
                String::new()
            };
            format!(
                "{item}channel {c}, row {}, column {}",
                hw / shape.width,
                hw % shape.width
            )
        };
        if let Some(i) = item.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                path,
                format!("value {} at {} is not a finite number", item[i], at(i)),
            ));
        }
        if role == Role::Mask
            && let Some(i) = item.iter().position(|&v| v != 0.0 && v != 1.0)
        {
            return Err(bad(
                path,
                format!(
                    "mask value {} at {}: a mask holds 1 (known) or 0 (to fill) only",
                    item[i],
                    at(i)
                ),
            ));
        }
    }
    Ok(items)
}

fn shape_text(dims: &[usize]) -> String {
    format!(
        "[{}]",
        dims.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The value of `key` in a NPY header dict (`'key': value`), as raw text up to the next
/// top-level comma.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        return rest.find(')').map(|e| &rest[..=e]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn read_npy(path: &Path, bytes: &[u8], shape: &InputShape) -> Result<Vec<Vec<f32>>> {
    let truncated = || bad(path, "truncated .npy header");
    let major = *bytes.get(6).ok_or_else(truncated)?;
    let (header_len, start) = match major {
        1 => {
            let b = bytes.get(8..10).ok_or_else(truncated)?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(truncated)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(truncated)?;
    let header = String::from_utf8_lossy(header);
    let descr = header_value(&header, "descr").ok_or_else(truncated)?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f4" {
        return Err(bad(
            path,
            format!("dtype {descr} is not little-endian float32 (<f4): save it as float32"),
        ));
    }
    if header_value(&header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad(path, "Fortran-ordered arrays are not supported"));
    }
    let dims_text = header_value(&header, "shape").ok_or_else(truncated)?;
    let dims: Vec<usize> = dims_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad(path, format!("bad shape {dims_text} in the .npy header")))?;
    let want = [shape.channels, shape.height, shape.width];
    let (n, chw) = match dims[..] {
        [c, h, w] => (1, [c, h, w]),
        [n, c, h, w] => (n, [c, h, w]),
        _ => {
            return Err(bad(
                path,
                format!(
                    "shape {} is not [C, H, W] or [N, C, H, W] (the model takes {})",
                    shape_text(&dims),
                    shape_text(&want)
                ),
            ));
        }
    };
    if chw[0] != want[0] && chw[1..] == want[1..] {
        return Err(bad(
            path,
            format!(
                "{} channels, but the model takes {} (shape {}, expected {})",
                chw[0],
                want[0],
                shape_text(&dims),
                shape_text(&want)
            ),
        ));
    }
    if chw != want {
        return Err(bad(
            path,
            format!(
                "shape {} does not fit the model's input {}",
                shape_text(&dims),
                shape_text(&want)
            ),
        ));
    }
    if n == 0 {
        return Err(bad(path, "the array holds no items (N = 0)"));
    }
    let data = &bytes[start + header_len..];
    let need = n * shape.len() * 4;
    if data.len() != need {
        return Err(bad(
            path,
            format!(
                "{} bytes of data, but shape {} needs {need}",
                data.len(),
                shape_text(&dims)
            ),
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(values.chunks(shape.len()).map(<[f32]>::to_vec).collect())
}

fn read_png(path: &Path, bytes: &[u8], role: Role, shape: &InputShape) -> Result<Vec<f32>> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|e| bad(path, format!("not a readable PNG image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if (h, w) != (shape.height, shape.width) {
        return Err(bad(
            path,
            format!(
                "the image is {w}×{h} pixels, but the model takes {}×{}",
                shape.width, shape.height
            ),
        ));
    }
    // A grayscale model takes a gray or an RGB image (as luma); an RGB model takes RGB or
    // gray (repeated). Other channel counts have no PNG form.
    let planes: Vec<Vec<u8>> = match shape.channels {
        1 => vec![img.to_luma8().into_raw()],
        3 => {
            let rgb = img.to_rgb8().into_raw();
            (0..3)
                .map(|c| rgb.iter().skip(c).step_by(3).copied().collect())
                .collect()
        }
        c => {
            return Err(bad(
                path,
                format!("the model takes {c} channels, which a PNG cannot hold: use a .npy array"),
            ));
        }
    };
    Ok(planes
        .iter()
        .flatten()
        .map(|&p| match role {
            Role::Mask => {
                if p >= 128 {
                    1.0
                } else {
                    0.0
                }
            }
            Role::Picture => picture::to_value(p, shape.range),
        })
        .collect())
}

/// `picture · mask`, the masked object the generator sees.
pub fn apply_mask(picture: &[f32], mask: &[f32]) -> Vec<f32> {
    picture.iter().zip(mask).map(|(p, m)| p * m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_values() {
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }";
        assert_eq!(header_value(h, "descr"), Some("'<f4'"));
        assert_eq!(header_value(h, "fortran_order"), Some("False"));
        assert_eq!(header_value(h, "shape"), Some("(2, 1, 28, 28)"));
        assert_eq!(header_value(h, "missing"), None);
    }
}
