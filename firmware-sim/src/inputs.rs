//! Reading inpainting inputs: masks, masked objects and pictures from `.npy` float32
//! arrays (`[C, H, W]` or `[N, C, H, W]`) or PNG images of the model's size.
//!
//! The file type comes from its first bytes, not its name, so a mislabelled file gets a
//! precise error. Every error names the file.

use std::path::{Path, PathBuf};

use edgegan_compiler::npy;

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

fn read_npy(path: &Path, bytes: &[u8], shape: &InputShape) -> Result<Vec<Vec<f32>>> {
    let npy::Npy { shape: dims, data } =
        npy::from_bytes::<f32>(bytes).map_err(|e| bad(path, e.to_string()))?;
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
    // the codec checked that the data holds exactly the shape's N · C · H · W values
    Ok(data.chunks(shape.len()).map(<[f32]>::to_vec).collect())
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
