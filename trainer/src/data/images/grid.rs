//! Sample grids as PNG: one row per class for conditional models, rows of (masked input,
//! completion, truth) for inpainting — what a user looks at while a run trains.

use std::path::Path;

use super::to_byte;
use crate::error::{Result, TrainError};

/// Gap between tiles, in pixels (drawn mid-gray).
const GAP: usize = 2;

/// Writes `tiles` (each `[c, h, w]` in network units, row-major, `rows * cols` of them,
/// row by row) as one PNG, each pixel drawn `zoom` times in each direction. The file is
/// written to a temporary name and renamed, so a watcher never sees half a picture.
pub fn write_grid(
    path: &Path,
    tiles: &[f32],
    [c, h, w]: [usize; 3],
    rows: usize,
    cols: usize,
    zoom: usize,
) -> Result<()> {
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
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| TrainError::Data {
            path: path.to_path_buf(),
            message: format!("cannot write the grid: {e}"),
        })?;
    std::fs::rename(&tmp, path).map_err(TrainError::io(path))
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
    }
}
