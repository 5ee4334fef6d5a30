//! Sample grids as PNG: one row per class for conditional models, rows of (masked input,
//! completion, truth) for inpainting — what a user looks at while a run trains.

use std::path::Path;

use super::to_byte;
use crate::error::{Result, TrainError};
use crate::files::write_atomic;

/// Gap between tiles, in pixels (drawn mid-gray).
const GAP: usize = 2;

/// Writes `tiles` (each `[c, h, w]` in network units, row-major, `rows * cols` of them,
/// row by row) as one PNG, each pixel drawn `zoom` times in each direction. The file is
/// written to a temporary name and renamed, so a watcher never sees half a picture.
pub fn write_grid(
    path: &Path,
    tiles: &[f32],
    shape: [usize; 3],
    rows: usize,
    cols: usize,
    zoom: usize,
) -> Result<()> {
    let img = grid_image(path, tiles, shape, rows, cols, zoom)?;
    save_png(path, &img)
}

/// Largest font of the row names, in pixels (smaller for small tiles).
const LABEL_FONT_PX: f64 = 12.0;

/// Like [`write_grid`], with `row_names[r]` written over the top left of row `r` (white
/// on a dark box, so it reads on any picture): the class of a conditional model's row.
/// The picture keeps [`write_grid`]'s size; no names, no text.
pub fn write_labelled_grid(
    path: &Path,
    tiles: &[f32],
    shape: [usize; 3],
    rows: usize,
    cols: usize,
    zoom: usize,
    row_names: &[String],
) -> Result<()> {
    let mut img = grid_image(path, tiles, shape, rows, cols, zoom)?;
    if !row_names.is_empty() {
        draw_row_names(path, &mut img, shape[1] * zoom, rows, row_names)?;
    }
    save_png(path, &img)
}

fn draw_row_names(
    path: &Path,
    img: &mut image::RgbImage,
    tile_height: usize,
    rows: usize,
    row_names: &[String],
) -> Result<()> {
    use plotters::prelude::*;
    let font_px = (tile_height as f64 * 0.45).clamp(8.0, LABEL_FONT_PX);
    let text_err = |e: &dyn std::fmt::Display| TrainError::Data {
        path: path.to_path_buf(),
        message: format!("cannot write the row names: {e}"),
    };
    let (w, h) = img.dimensions();
    let raw: &mut [u8] = img;
    let root = BitMapBackend::with_buffer(raw, (w, h)).into_drawing_area();
    let style = ("sans-serif", font_px).into_font().color(&WHITE);
    for (r, name) in row_names.iter().enumerate().take(rows) {
        let (tw, th) = root
            .estimate_text_size(name, &style)
            .map_err(|e| text_err(&e))?;
        let (x, y) = (GAP as i32, (GAP + r * (tile_height + GAP)) as i32);
        let right = (x + tw as i32 + 4).min(w as i32 - 1);
        root.draw(&Rectangle::new(
            [(x, y), (right, y + th as i32 + 2)],
            BLACK.mix(0.6).filled(),
        ))
        .map_err(|e| text_err(&e))?;
        root.draw(&Text::new(name.as_str(), (x + 2, y + 1), &style))
            .map_err(|e| text_err(&e))?;
    }
    root.present().map_err(|e| text_err(&e))
}

/// Encodes `img` in memory and writes it with [`write_atomic`] (a uniquely named
/// temporary file beside `path`, then a rename), so a watcher never sees half a picture
/// and a failed write leaves the previous file as it was.
fn save_png(path: &Path, img: &image::RgbImage) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| TrainError::Data {
            path: path.to_path_buf(),
            message: format!("cannot encode the grid: {e}"),
        })?;
    write_atomic(path, &png.into_inner())
}

fn grid_image(
    path: &Path,
    tiles: &[f32],
    [c, h, w]: [usize; 3],
    rows: usize,
    cols: usize,
    zoom: usize,
) -> Result<image::RgbImage> {
    let dim = c * h * w;
    if tiles.len() != rows * cols * dim || !(c == 1 || c == 3) || zoom == 0 {
        return Err(TrainError::Data {
            path: path.to_path_buf(),
            message: format!(
                "a {rows}x{cols} grid of [{c}, {h}, {w}] tiles needs {} values, got {}",
                rows * cols * dim,
                tiles.len()
            ),
        });
    }
    let tw = w * zoom;
    let th = h * zoom;
    let width = cols * tw + (cols + 1) * GAP;
    let height = rows * th + (rows + 1) * GAP;
    let mut img = image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([96; 3]));
    for (t, tile) in tiles.chunks(dim).enumerate() {
        let (r, col) = (t / cols, t % cols);
        let x0 = GAP + col * (tw + GAP);
        let y0 = GAP + r * (th + GAP);
        for y in 0..th {
            for x in 0..tw {
                let (sy, sx) = (y / zoom, x / zoom);
                let px = |ch: usize| to_byte(tile[ch * h * w + sy * w + sx]);
                let rgb = if c == 1 {
                    [px(0); 3]
                } else {
                    [px(0), px(1), px(2)]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(rgb));
            }
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles_row_by_row_with_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        // 2x2 grid of 1x2x2 tiles: black, white, black, white
        let mut tiles = Vec::new();
        for t in 0..4 {
            tiles.extend([if t % 2 == 0 { -1.0 } else { 1.0 }; 4]);
        }
        write_grid(&path, &tiles, [1, 2, 2], 2, 2, 3).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(
            img.dimensions(),
            (2 * 6 + 3 * GAP as u32, 2 * 6 + 3 * GAP as u32)
        );
        assert_eq!(img.get_pixel(GAP as u32, GAP as u32).0, [0, 0, 0]);
        assert_eq!(
            img.get_pixel(GAP as u32 * 2 + 6, GAP as u32).0,
            [255, 255, 255]
        );
        assert_eq!(img.get_pixel(0, 0).0, [96, 96, 96]);
        assert!(write_grid(&path, &tiles[..3], [1, 2, 2], 2, 2, 1).is_err());
        // rewritten through a temporary file: nothing else is left beside it
        write_grid(&path, &tiles, [1, 2, 2], 2, 2, 1).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["g.png".to_string()]);
        assert_eq!(
            image::open(&path).unwrap().to_rgb8().width(),
            2 * 2 + 3 * GAP as u32
        );
        let missing = dir.path().join("no-such-folder").join("g.png");
        let err = write_grid(&missing, &tiles, [1, 2, 2], 2, 2, 1).unwrap_err();
        assert!(err.to_string().contains("no-such-folder"), "{err}");
    }

    #[test]
    fn labelled_grid_writes_the_row_names_over_the_rows_at_the_same_size() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, labelled) = (dir.path().join("p.png"), dir.path().join("l.png"));
        let tiles = vec![1.0; 2 * 3 * 16 * 16];
        let names = vec!["bag".to_string(), "sneaker".to_string()];
        write_grid(&plain, &tiles, [1, 16, 16], 2, 3, 2).unwrap();
        write_labelled_grid(&labelled, &tiles, [1, 16, 16], 2, 3, 2, &names).unwrap();
        let (p, l) = (
            image::open(&plain).unwrap().to_rgb8(),
            image::open(&labelled).unwrap().to_rgb8(),
        );
        assert_eq!(p.dimensions(), l.dimensions());
        // each row's top left now holds a dark box with light text
        for row in 0..2u32 {
            let y0 = GAP as u32 + row * (32 + GAP as u32);
            let changed = (0..32)
                .flat_map(|x| (y0..y0 + 14).map(move |y| (x, y)))
                .filter(|&(x, y)| p.get_pixel(x, y) != l.get_pixel(x, y))
                .count();
            assert!(changed > 50, "row {row}: {changed} pixels changed");
        }
        // the rest of the picture is untouched
        assert_eq!(p.get_pixel(90, 60), l.get_pixel(90, 60));
        write_labelled_grid(&labelled, &tiles, [1, 16, 16], 2, 3, 2, &[]).unwrap();
        assert_eq!(image::open(&labelled).unwrap().to_rgb8(), p);
    }
}
