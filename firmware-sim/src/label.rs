//! Names written on sample grids: a row's class, white on a black box over its first
//! tile, in a built-in bitmap font (embedded-graphics' 6x10 ISO 8859-1 font), so the text
//! is the same on every machine and needs no system fonts.

use std::convert::Infallible;

use embedded_graphics::Drawable;
use embedded_graphics::mono_font::MonoTextStyleBuilder;
use embedded_graphics::mono_font::iso_8859_1::FONT_6X10;
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Point, Size};
use embedded_graphics::text::{Baseline, Text};

/// Height of the font's cells, in pixels: rows lower than this get no name.
pub const FONT_HEIGHT: u32 = 10;

/// A picture embedded-graphics can draw on; pixels outside it are dropped.
struct Canvas<'a>(&'a mut image::RgbImage);

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Infallible>
    where
        I: IntoIterator<Item = Pixel<Rgb888>>,
    {
        let (w, h) = self.0.dimensions();
        for Pixel(p, c) in pixels {
            if let (Ok(x), Ok(y)) = (u32::try_from(p.x), u32::try_from(p.y))
                && x < w
                && y < h
            {
                self.0.put_pixel(x, y, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

/// Writes `name` at `(x, y)` (its box's top left), white on black; nothing when the row
/// is lower than the font (`row_height` < [`FONT_HEIGHT`]), where the name would hide the
/// next row. Characters outside ISO 8859-1 are drawn as `?`.
pub fn draw(img: &mut image::RgbImage, name: &str, (x, y): (u32, u32), row_height: u32) {
    if row_height < FONT_HEIGHT {
        return;
    }
    let style = MonoTextStyleBuilder::new()
        .font(&FONT_6X10)
        .text_color(Rgb888::WHITE)
        .background_color(Rgb888::BLACK)
        .build();
    let at = Point::new(
        i32::try_from(x).unwrap_or(i32::MAX),
        i32::try_from(y).unwrap_or(i32::MAX),
    );
    // Infallible: the canvas drops what falls outside it.
    let _ = Text::with_baseline(name, at, style, Baseline::Top).draw(&mut Canvas(img));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(img: &image::RgbImage) -> usize {
        img.pixels().filter(|p| p.0 == [255; 3]).count()
    }

    #[test]
    fn a_name_is_white_text_on_black_at_its_place() {
        let mut img = image::RgbImage::from_pixel(40, 20, image::Rgb([100; 3]));
        draw(&mut img, "ab", (2, 3), 12);
        // two 6x10 cells from (2, 3): black box with white strokes, the rest untouched
        assert!(lit(&img) > 10, "{} white pixels", lit(&img));
        assert_eq!(img.get_pixel(2, 3).0, [0; 3]);
        for (x, y) in [(1, 3), (14, 3), (2, 2), (2, 13), (30, 10)] {
            assert_eq!(img.get_pixel(x, y).0, [100; 3], "({x}, {y})");
        }
        let box_pixels = (2..14)
            .flat_map(|x| (3..13).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 != [100; 3])
            .count();
        assert_eq!(box_pixels, 12 * 10);
    }

    #[test]
    fn names_are_clipped_at_the_edge_and_left_out_of_low_rows() {
        let mut img = image::RgbImage::new(8, 12);
        draw(&mut img, "a long class name", (2, 0), 12);
        assert!(lit(&img) > 0);
        let mut low = image::RgbImage::from_pixel(40, 20, image::Rgb([100; 3]));
        draw(&mut low, "ab", (0, 0), FONT_HEIGHT - 1);
        assert!(low.pixels().all(|p| p.0 == [100; 3]));
        // a name outside ISO 8859-1 is still drawn
        let mut img = image::RgbImage::new(20, 12);
        draw(&mut img, "猫", (0, 0), 12);
        assert!(lit(&img) > 0);
    }
}
