//! Writing samples: a PNG grid for image outputs, CSV or NPY for anything.

use std::fmt::Write as _;
use std::path::Path;

use edgegan_compiler::npy;

use crate::host::Pair;
use crate::label;
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

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so readers
/// never see a half-written file and a failed write keeps the previous one.
///
/// # Errors
///
/// [`Error::Io`] naming `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            action: "writing",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Space between tiles, in pixels.
const GAP: u32 = 2;
/// Extra space between the (masked input, completion) pairs of an inpainting grid.
const PAIR_GAP: u32 = 4;
/// How unknown pixels of a masked input are drawn: a colour no grayscale output has.
pub const UNKNOWN_RGB: [u8; 3] = [40, 70, 150];

/// Draws one `[C, H, W]` tile at `(x0, y0)`; `hidden(i)` pixels get [`UNKNOWN_RGB`].
fn put_tile(
    img: &mut image::RgbImage,
    (c, h, w): (u32, u32, u32),
    (x0, y0): (u32, u32),
    pixels: &[u8],
    hidden: impl Fn(usize) -> bool,
) {
    for y in 0..h {
        for x in 0..w {
            let at = |ch: u32| ((ch * h + y) * w + x) as usize;
            let px = if hidden(at(0)) {
                UNKNOWN_RGB
            } else if c == 3 {
                [pixels[at(0)], pixels[at(1)], pixels[at(2)]]
            } else {
                [pixels[at(0)]; 3]
            };
            img.put_pixel(x0 + x, y0 + y, image::Rgb(px));
        }
    }
}

/// The grid's width the default scale aims for: small models' grids (a 16-sample grid of
/// 28 px pictures is 122 px) are unreadable at 1x on today's screens.
pub const VIEW_WIDTH: u32 = 512;

/// The default `--scale` for a grid `width` pixels wide: the smallest whole factor that
/// makes it at least [`VIEW_WIDTH`] wide, at most 16.
pub fn default_scale(width: u32) -> u32 {
    VIEW_WIDTH.div_ceil(width.max(1)).clamp(1, 16)
}

/// Saves `img` scaled by `scale` (`None`: [`default_scale`]), each pixel a square block
/// so the values stay exact; through a temporary file and a rename, so a failed write
/// never leaves half a PNG under the name.
fn save_png(path: &Path, img: image::RgbImage, scale: Option<u32>) -> Result<()> {
    let k = scale.unwrap_or_else(|| default_scale(img.width())).max(1);
    let img = scaled(img, k);
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::Output(format!("writing {}: {e}", path.display())))?;
    write_file(path, bytes.get_ref())
}

/// One row of a sample grid: the samples it holds, left to right, and its name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GridRow {
    /// Indices into the samples.
    pub samples: Vec<usize>,
    /// Written over the row's top left (white on black): the class of its samples.
    pub name: Option<String>,
}

/// `n` samples in an about square grid, row by row, unnamed.
pub fn square_rows(n: usize) -> Vec<GridRow> {
    let cols = (n.max(1) as f64).sqrt().ceil() as usize;
    (0..n)
        .collect::<Vec<_>>()
        .chunks(cols)
        .map(|c| GridRow {
            samples: c.to_vec(),
            name: None,
        })
        .collect()
}

/// Writes `samples` (pixels `0..=255`, each `[C, H, W]`) as a grid PNG laid out by
/// `rows`, 2 px apart, scaled by `scale` (`None`: [`default_scale`]), each row's name over
/// its first tile.
///
/// # Errors
///
/// [`Error::Output`] for a non-image shape or a row naming a sample that is not there,
/// [`Error::Io`] on write.
pub fn write_png(
    path: &Path,
    shape: &[u32],
    samples: &[Vec<u8>],
    rows: &[GridRow],
    scale: Option<u32>,
) -> Result<()> {
    let (c, h, w) = image_shape(shape)?;
    let cols = rows
        .iter()
        .map(|r| r.samples.len())
        .max()
        .unwrap_or(0)
        .max(1) as u32;
    let n_rows = rows.len().max(1) as u32;
    let width = cols * (w + GAP) + GAP;
    let height = n_rows * (h + GAP) + GAP;
    let mut img = image::RgbImage::new(width, height);
    for (gy, row) in rows.iter().enumerate() {
        for (gx, &i) in row.samples.iter().enumerate() {
            let s = samples.get(i).ok_or_else(|| {
                Error::Output(format!(
                    "grid row {gy} names sample {i} of {} (a firmware-sim bug)",
                    samples.len()
                ))
            })?;
            let (x0, y0) = (GAP + gx as u32 * (w + GAP), GAP + gy as u32 * (h + GAP));
            put_tile(&mut img, (c, h, w), (x0, y0), s, |_| false);
        }
    }
    let k = scale.unwrap_or_else(|| default_scale(img.width())).max(1);
    let mut img = scaled(img, k);
    for (gy, row) in rows.iter().enumerate() {
        if let Some(name) = &row.name {
            let top = (GAP + gy as u32 * (h + GAP)) * k;
            label::draw(&mut img, name, (GAP * k, top), h * k);
        }
    }
    save_png(path, img, Some(1))
}

/// `img` with each pixel drawn as a `k` x `k` block, so the values stay exact.
fn scaled(img: image::RgbImage, k: u32) -> image::RgbImage {
    if k <= 1 {
        return img;
    }
    image::imageops::resize(
        &img,
        img.width() * k,
        img.height() * k,
        image::imageops::FilterType::Nearest,
    )
}

/// One inpainting result as pixels: the masked input (with its mask) and the completion.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The masked input, `0..=255`.
    pub masked: Vec<u8>,
    /// 1 = known; unknown pixels of the input are drawn in [`UNKNOWN_RGB`].
    pub mask: Vec<f32>,
    /// The model's output, `0..=255`.
    pub output: Vec<u8>,
}

/// Writes an inpainting grid: rows of (masked input, completion) pairs, unknown input
/// pixels in [`UNKNOWN_RGB`], scaled by `scale` (`None`: [`default_scale`]).
///
/// # Errors
///
/// [`Error::Output`] for a non-image shape, [`Error::Io`] on write.
pub fn write_inpaint_png(
    path: &Path,
    shape: &[u32],
    items: &[Completion],
    scale: Option<u32>,
) -> Result<()> {
    let (c, h, w) = image_shape(shape)?;
    let n = items.len().max(1) as u32;
    // About square overall: a pair is twice as wide as it is high.
    let cols = ((f64::from(n) / 2.0).sqrt().ceil() as u32).max(1);
    let rows = n.div_ceil(cols);
    let pair_w = 2 * (w + GAP) + PAIR_GAP;
    let width = cols * pair_w + GAP;
    let height = rows * (h + GAP) + GAP;
    let mut img = image::RgbImage::new(width, height);
    for (i, item) in items.iter().enumerate() {
        let (gx, gy) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (GAP + gx * pair_w, GAP + gy * (h + GAP));
        let hidden = |j: usize| item.mask.get(j).is_some_and(|&m| m == 0.0);
        put_tile(&mut img, (c, h, w), (x0, y0), &item.masked, hidden);
        put_tile(
            &mut img,
            (c, h, w),
            (x0 + w + GAP, y0),
            &item.output,
            |_| false,
        );
    }
    save_png(path, img, scale)
}

/// A value in `range` as a pixel, as the runtime's `sample_u8` maps outputs.
pub fn to_pixel(v: f32, (lo, hi): (f32, f32)) -> u8 {
    // `as u8` saturates and maps NaN to 0.
    ((v - lo) * (255.0 / (hi - lo))).round() as u8
}

/// What a CSV's header names: the values' columns and, for point models with a card, the
/// class names.
#[derive(Clone, Debug, Default)]
pub struct CsvNames {
    /// One name per value (empty: `x0`, `x1`, …).
    pub columns: Vec<String>,
    /// The class names, index = label; given, a `class_name` column follows `class`.
    pub classes: Option<Vec<String>>,
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes one CSV row per sample: `seed,class[,class_name],<columns>` (class empty
/// without labels; columns named by `names`, else `x0,x1,…`). The first two columns stay
/// `seed,class` so `edgegan-train score` reads the file.
///
/// # Errors
///
/// [`Error::Io`] on write.
pub fn write_csv(
    path: &Path,
    pairs: &[Pair],
    samples: &[Vec<f32>],
    names: &CsvNames,
) -> Result<()> {
    let len = samples.first().map_or(0, Vec::len);
    let mut s = String::from("seed,class");
    if names.classes.is_some() {
        s.push_str(",class_name");
    }
    for i in 0..len {
        match names.columns.get(i).filter(|_| names.columns.len() == len) {
            Some(c) => write!(s, ",{}", csv_field(c)),
            None => write!(s, ",x{i}"),
        }
        .expect("write to String");
    }
    s.push('\n');
    for (p, v) in pairs.iter().zip(samples) {
        write!(s, "{}", p.seed).expect("write to String");
        s.push(',');
        if let Some(l) = p.label {
            write!(s, "{l}").expect("write to String");
        }
        if let Some(classes) = &names.classes {
            s.push(',');
            let name = p.label.and_then(|l| classes.get(l as usize));
            s.push_str(&name.map_or_else(String::new, |n| csv_field(n)));
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
    let dims: Vec<usize> = std::iter::once(samples.len())
        .chain(shape.iter().map(|&d| d as usize))
        .collect();
    npy::to_bytes(&dims, &samples.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_previous_file_and_names_it() {
        // issue #12: `sample --out` left a truncated PNG or a 0-byte .npy. The write fails
        // here before the rename (a folder stands where the temporary file goes).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.npy");
        write_file(&path, b"previous").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        let tmp = dir
            .path()
            .join(format!(".samples.npy.{}.tmp", std::process::id()));
        std::fs::create_dir(&tmp).unwrap();
        let e = write_file(&path, b"new bytes").unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"previous");
        // and with the way clear, the new bytes replace the old ones whole
        std::fs::remove_dir(&tmp).unwrap();
        write_file(&path, b"new bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left: {names:?}");
    }

    #[test]
    fn npy_header_is_padded_to_64_bytes() {
        let b = npy_bytes(&[1, 2, 2], &[vec![0.0; 4], vec![1.0; 4]]);
        let header_len = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (2, 1, 2, 2)"), "{header}");
        assert_eq!(b.len(), 10 + header_len + 8 * 4);
    }

    #[test]
    fn inpaint_grid_pairs_input_and_completion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let item = Completion {
            masked: vec![200; 4],
            mask: vec![1.0, 0.0, 1.0, 1.0],
            output: vec![10; 4],
        };
        write_inpaint_png(&path, &[1, 2, 2], &[item.clone(), item], Some(1)).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // two rows of one pair: 2 + (2 * (2 + 2) + 4) wide, 2 + 2 * (2 + 2) high
        assert_eq!(img.dimensions(), (14, 10));
        assert_eq!(img.get_pixel(2, 2).0, [200; 3]);
        assert_eq!(img.get_pixel(3, 2).0, UNKNOWN_RGB);
        assert_eq!(img.get_pixel(6, 2).0, [10; 3]);
        assert_eq!(to_pixel(1.0, (-1.0, 1.0)), 255);
        assert_eq!(to_pixel(-1.0, (-1.0, 1.0)), 0);
        assert_eq!(to_pixel(f32::NAN, (-1.0, 1.0)), 0);
    }

    #[test]
    fn grids_are_scaled_for_viewing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let tiles = vec![vec![255u8; 4]; 4];
        write_png(&path, &[1, 2, 2], &tiles, &square_rows(4), Some(3)).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // 2 x 2 tiles of 2 px, 2 px apart: 10 px, times 3
        assert_eq!(img.dimensions(), (30, 30));
        assert_eq!(img.get_pixel(6, 6).0, [255; 3]);
        assert_eq!(img.get_pixel(5, 5).0, [0; 3]);
        write_png(&path, &[1, 2, 2], &tiles, &square_rows(4), None).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // 10 px would need 52x: the default stops at 16x
        assert_eq!(img.width(), 160);
        assert_eq!(default_scale(122), 5);
        assert_eq!(default_scale(2000), 1);
    }

    #[test]
    fn grid_rows_are_laid_out_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        // samples 0 and 2 are white, 1 is grey: rows [0, 2] and [1], 12 px tiles
        let tiles = vec![vec![255u8; 144], vec![128u8; 144], vec![255u8; 144]];
        let rows = [
            GridRow {
                samples: vec![0, 2],
                name: Some("bag".into()),
            },
            GridRow {
                samples: vec![1],
                name: None,
            },
        ];
        write_png(&path, &[1, 12, 12], &tiles, &rows, Some(1)).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // 2 columns, 2 rows of 12 px tiles, 2 px apart
        assert_eq!(img.dimensions(), (30, 30));
        // the name's box (3 cells of 6x10 from (2, 2)) covers the top of the row; below
        // it, the samples
        assert_eq!(img.get_pixel(2, 2).0, [0; 3]);
        assert_eq!(img.get_pixel(21, 2).0, [255; 3]);
        assert_eq!(img.get_pixel(13, 13).0, [255; 3]);
        assert_eq!(img.get_pixel(16, 13).0, [255; 3]);
        assert_eq!(img.get_pixel(2, 16).0, [128; 3]);
        // the second row has no name; its second place is empty
        assert_eq!(img.get_pixel(16, 16).0, [0; 3]);
        let bad = [GridRow {
            samples: vec![3],
            name: None,
        }];
        assert!(write_png(&path, &[1, 12, 12], &tiles, &bad, Some(1)).is_err());
        assert_eq!(
            square_rows(5)
                .iter()
                .map(|r| r.samples.clone())
                .collect::<Vec<_>>(),
            [vec![0, 1, 2], vec![3, 4]]
        );
    }

    #[test]
    fn csv_names_columns_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let pairs = [Pair {
            seed: 3,
            label: Some(1),
            mask: None,
        }];
        let names = CsvNames {
            columns: vec!["east_km".into(), "a,b".into()],
            classes: Some(vec!["east".into(), "north".into()]),
        };
        write_csv(&path, &pairs, &[vec![0.5, -1.0]], &names).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "seed,class,class_name,east_km,\"a,b\"\n3,1,north,0.5,-1.0\n"
        );
    }

    #[test]
    fn points_are_not_an_image() {
        assert!(image_shape(&[64]).is_err());
        assert_eq!(image_shape(&[1, 8, 8]).unwrap(), (1, 8, 8));
        assert_eq!(image_shape(&[1, 3, 4, 5]).unwrap(), (3, 4, 5));
    }
}
