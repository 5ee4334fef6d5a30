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

/// Reads `path` as the noise of `n` samples: a `.npy` float32 array `[N, Z]` with `Z =
/// noise_dim` and `N ≥ 1`, every value finite. Row `i` is sample `i`'s `z`, as the user's
/// framework fed its generator, so that device and framework outputs compare sample for
/// sample.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::Input`] naming the file for anything else:
/// not a `.npy` file, truncated, another dtype, another rank, a `Z` other than the
/// model's, no rows, NaN or infinite values.
pub fn read_noise(path: &Path, noise_dim: usize) -> Result<Vec<Vec<f32>>> {
    let npy::Npy { shape, data } = read_npy_file::<f32>(path)?;
    let [n, z] = shape[..] else {
        return Err(bad(
            path,
            format!(
                "shape {} is not [N, Z] (one row of {noise_dim} noise values per sample)",
                shape_text(&shape)
            ),
        ));
    };
    if z != noise_dim {
        return Err(bad(
            path,
            format!(
                "rows of {z} values, but the model's noise has Z = {noise_dim} (shape {}, \
                 expected [N, {noise_dim}])",
                shape_text(&shape)
            ),
        ));
    }
    if n == 0 {
        return Err(bad(path, "the array holds no rows (N = 0)"));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            path,
            format!(
                "value {} at row {}, column {} is not a finite number",
                data[i],
                i / z,
                i % z
            ),
        ));
    }
    // the codec checked that the data holds exactly N · Z values
    Ok(data.chunks(z).map(<[f32]>::to_vec).collect())
}

/// Reads `path` as one class label per sample: a `.npy` int64 array `[N]` (what
/// `np.save(path, labels.astype(np.int64))` writes), `N ≥ 1`, each in `0..classes`.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::Input`] naming the file for another
/// dtype or rank, no labels, or a label out of range.
pub fn read_labels(path: &Path, classes: u32) -> Result<Vec<u32>> {
    label_vector(path, read_npy_file::<i64>(path)?, Some(classes))
}

/// Checks the int64 array read from `path` is `[N]` class labels, `N ≥ 1`, each a class
/// index (below `classes` when known).
fn label_vector(path: &Path, labels: npy::Npy<i64>, classes: Option<u32>) -> Result<Vec<u32>> {
    let npy::Npy { shape, data } = labels;
    if shape.len() != 1 {
        return Err(bad(
            path,
            format!(
                "shape {} is not [N] (one class label per sample)",
                shape_text(&shape)
            ),
        ));
    }
    if data.is_empty() {
        return Err(bad(path, "the array holds no labels (N = 0)"));
    }
    data.iter()
        .enumerate()
        .map(|(i, &l)| match (u32::try_from(l), classes) {
            (Err(_), _) => Err(bad(
                path,
                format!("label {l} at index {i} is not a class index"),
            )),
            (Ok(l), Some(k)) if l >= k => Err(bad(
                path,
                format!(
                    "label {l} at index {i} is out of range: the model has {k} classes (0 to {})",
                    k.saturating_sub(1)
                ),
            )),
            (Ok(l), _) => Ok(l),
        })
        .collect()
}

/// Reads a `.npy` file of `T` elements; every error names the file.
fn read_npy_file<T: npy::Element>(path: &Path) -> Result<npy::Npy<T>> {
    npy::from_bytes::<T>(&read_npy_bytes(path)?).map_err(|e| bad(path, e.to_string()))
}

/// The bytes of `path`, which must start with the `.npy` magic.
fn read_npy_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "reading",
        path: PathBuf::from(path),
        source,
    })?;
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad(
            path,
            "not a .npy array (the file does not start with its magic)",
        ));
    }
    Ok(bytes)
}

/// Conditions to calibrate a model with (`compile --calibration FILE`).
#[derive(Clone, Debug, PartialEq)]
pub enum Calibration {
    /// Class labels, one per calibration sample.
    Labels(Vec<u32>),
    /// `(mask, masked object)` pairs, `[C, H, W]` each.
    Masks(Vec<(Vec<f32>, Vec<f32>)>),
}

/// Reads `path` as calibration conditions: a `.npy` int64 `[N]` of class labels (each
/// `≥ 0`; the compile checks them against the classes), float32 `[N, 2, C, H, W]` of
/// (mask, masked object) pairs, or float32 `[N, C, H, W]` of masks whose masked object
/// is the runtime's noise of seed `i` squashed by tanh (as the built-in calibration
/// masks); masks hold 0 or 1 only, every value finite, `N ≥ 1`.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::Input`] naming the file for another
/// dtype or shape, no conditions, a negative label, a non-finite value or a mask value
/// other than 0 and 1.
pub fn read_calibration(path: &Path) -> Result<Calibration> {
    let bytes = read_npy_bytes(path)?;
    match npy::from_bytes::<i64>(&bytes) {
        Ok(labels) => return label_vector(path, labels, None).map(Calibration::Labels),
        // another dtype: masks, as float32
        Err(npy::NpyError::Dtype { .. }) => {}
        Err(e) => return Err(bad(path, e.to_string())),
    }
    let npy::Npy { shape, data } = npy::from_bytes::<f32>(&bytes).map_err(|e| {
        bad(
            path,
            format!("{e} (labels: int64 [N]; masks: float32 [N, C, H, W] or [N, 2, C, H, W])"),
        )
    })?;
    let (n, pairs, len) = match shape[..] {
        [n, 2, c, h, w] => (n, true, c * h * w),
        [n, c, h, w] => (n, false, c * h * w),
        _ => {
            return Err(bad(
                path,
                format!(
                    "float32 shape {} is not [N, C, H, W] (masks) or [N, 2, C, H, W] (mask, \
                     masked pairs)",
                    shape_text(&shape)
                ),
            ));
        }
    };
    if n == 0 || len == 0 {
        return Err(bad(
            path,
            format!("the array holds no masks (shape {})", shape_text(&shape)),
        ));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            path,
            format!("value {} at index {i} is not a finite number", data[i]),
        ));
    }
    let step = if pairs { 2 * len } else { len };
    let mut out = Vec::with_capacity(n);
    for (i, item) in data.chunks_exact(step).enumerate() {
        let mask = item[..len].to_vec();
        if let Some(j) = mask.iter().position(|&v| v != 0.0 && v != 1.0) {
            return Err(bad(
                path,
                format!(
                    "mask {i} holds {} at index {j}: a mask holds 1 (known) or 0 only",
                    mask[j]
                ),
            ));
        }
        let masked = if pairs {
            item[len..].to_vec()
        } else {
            let mut object = vec![0.0f32; len];
            edgegan_runtime::noise::fill(i as u64, &mut object);
            object
                .iter()
                .zip(&mask)
                .map(|(v, m)| v.tanh() * m)
                .collect()
        };
        out.push((mask, masked));
    }
    Ok(Calibration::Masks(out))
}
