//! PNG plots written by the trainer.
//!
//! Training a GAN gives no single number that says "done", so the trainer
//! writes a few pictures next to its checkpoints and the user judges progress
//! by eye:
//!
//! * [`line_chart`]: curves against the training step, such as the
//!   discriminator and generator losses, or the mean discriminator output on
//!   real and on generated samples. The latter is the chart to watch: at the
//!   equilibrium of the minimax game (Goodfellow et al. 2014) the
//!   discriminator can no longer tell real from fake and both D(real) and
//!   D(fake) approach the ideal 0.5, drawn as a dashed reference line. D(real)
//!   stuck near 1 with D(fake) near 0 means the discriminator has won and the
//!   generator gets no useful gradient.
//! * [`scatter_2d`]: for 2-D toy data (for example a ring of Gaussians),
//!   generated samples over the real modes, coloured by class for a
//!   conditional GAN. Mode collapse shows up as modes with no dots near them.
//! * [`pairs_plot`]: for a user's CSV of two or more columns, real rows (grey) and
//!   generated samples (by class) in data units, one panel per pair of columns.
//! * [`histogram_1d`]: for 1-D toy data, the histograms of real and generated
//!   samples with the discriminator output D(x) over them, like figure 5 of
//!   Goodfellow et al. 2014.
//!
//! Legends go in the corner of the plot that hides the least data; the
//! scatter plot moves its legend beside the plot rather than hide a mode.
//!
//! Every file is written atomically: the picture is drawn into a hidden
//! temporary file in the same directory and then renamed over `path`, so a
//! viewer that reloads the file while training runs never sees half a PNG.
//! The output is always PNG, whatever the extension of `path`.

mod histogram;
mod legend;
mod line;
mod pairs;
mod scatter;

use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

pub use self::histogram::histogram_1d;
pub use self::line::line_chart;
pub use self::pairs::pairs_plot;
pub use self::scatter::scatter_2d;

/// Errors from drawing a plot.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters failed to draw or encode the file
    #[error("drawing {path}: {message}")]
    Draw {
        /// The file that was being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// nothing to plot (empty series, or only non-finite values)
    #[error("drawing {path}: {what} is empty")]
    Empty {
        /// The file that was being written.
        path: PathBuf,
        /// Which input had nothing finite to plot.
        what: &'static str,
    },
}

/// One named curve.
pub struct Series<'a> {
    /// Name shown in the legend.
    pub name: &'a str,
    /// The points, in drawing order (usually increasing x).
    pub points: &'a [(f64, f64)],
}

/// Size of [`line_chart`] and [`histogram_1d`] images, in pixels.
const CHART_SIZE: (u32, u32) = (800, 600);

/// Size of [`scatter_2d`] images, in pixels.
const SCATTER_SIZE: (u32, u32) = (700, 700);

/// Font family for all text; fontconfig resolves it (DejaVu Sans here).
const FONT: &str = "sans-serif";

/// Tableau-10 colours, cycled for series and classes.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A 2-D chart with `f64` axes on the bitmap backend.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Colour number `i` of the fixed palette, cycling after 10.
fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Turns any plotters error into [`PlotError::Draw`] for `path`.
fn draw_err<E: Display>(path: &Path) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Draws `draw` onto a white `size` bitmap and writes it to `path` as PNG,
/// atomically: into `.NAME.tmp.png` next to it (plotters picks the encoder
/// from the extension), then renamed. The temporary file is removed on error.
fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    let Some(name) = path.file_name() else {
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            message: "the path has no file name".to_string(),
        });
    };
    let tmp = path.with_file_name(format!(".{}.tmp.png", name.to_string_lossy()));
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err(path))?;
        draw(&root)?;
        root.present().map_err(draw_err(path))
        // `root` is dropped here; on error its drop may still write `tmp`.
    })();
    let result = drawn.and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| PlotError::Draw {
            path: path.to_path_buf(),
            message: format!("renaming {} into place: {e}", tmp.display()),
        })
    });
    if result.is_err() {
        // Best effort: the file may not exist, and the first error matters.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Grid, tick labels and axis descriptions shared by all charts.
fn configure_mesh(
    chart: &mut Chart<'_, '_>,
    x_label: &str,
    y_label: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let (x_range, y_range) = (chart.x_range(), chart.y_range());
    let x_tick = move |v: &f64| tick_label(*v, &x_range);
    let y_tick = move |v: &f64| tick_label(*v, &y_range);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 18))
        .x_label_formatter(&x_tick)
        .y_label_formatter(&y_tick)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(draw_err(path))
}

/// Tick label for `v` on an axis showing `range`: the shortest decimal that
/// shows the value (`200`, not `200.0`; `0.3`, not `0.30000000000000004`;
/// `0`, not `-2.2e-16`), scientific for very small or large magnitudes.
fn tick_label(v: f64, range: &Range<f64>) -> String {
    let span = (range.end - range.start).abs();
    let scale = range.start.abs().max(range.end.abs());
    let tol = span * 1e-6;
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() <= tol {
        return "0".to_string();
    }
    let close = |s: &str| s.parse::<f64>().is_ok_and(|p| (p - v).abs() <= tol);
    if (1e-3..1e7).contains(&scale) {
        (0..=8)
            .map(|d| format!("{v:.d$}"))
            .find(|s| close(s))
            .unwrap_or_else(|| format!("{v:.8}"))
    } else {
        (0..=6)
            .map(|d| format!("{v:.d$e}"))
            .find(|s| close(s))
            .unwrap_or_else(|| format!("{v:.6e}"))
    }
}

/// Whether both coordinates are finite.
fn is_finite((x, y): (f64, f64)) -> bool {
    x.is_finite() && y.is_finite()
}

/// The points with both coordinates finite.
fn finite_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points.iter().copied().filter(|&p| is_finite(p)).collect()
}

/// Minimum and maximum, or `None` for no values.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `(x_min, x_max, y_min, y_max)` of the points, or `None` for no points.
fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, (x, y)| match acc {
        None => Some((x, x, y, y)),
        Some((x0, x1, y0, y1)) => Some((x0.min(x), x1.max(x), y0.min(y), y1.max(y))),
    })
}

/// `lo..hi` widened by `margin` times its span on each side; a zero span is
/// widened to a visible range around the value.
fn padded(lo: f64, hi: f64, margin: f64) -> Range<f64> {
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        (lo - span * margin)..(hi + span * margin)
    } else {
        let half = (lo.abs() * 0.1).max(0.5);
        (lo - half)..(lo + half)
    }
}

#[cfg(test)]
mod test_util {
    use std::path::Path;

    use super::PlotError;

    const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

    /// Checks that `path` is a PNG of `w` x `h` pixels, that no temporary
    /// file was left next to it, and that it is not blank.
    pub(super) fn assert_png(path: &Path, w: u32, h: u32) {
        let bytes = std::fs::read(path).expect("the PNG was written");
        assert!(bytes.len() > 33, "file too short: {} bytes", bytes.len());
        assert_eq!(bytes[..8], PNG_MAGIC, "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
        let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        assert_eq!((width, height), (w, h));
        // Complete file: it ends with the IEND chunk.
        assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND");
        // A blank white image compresses to far less than this.
        assert!(
            bytes.len() > 5_000,
            "suspiciously small: {} bytes",
            bytes.len()
        );
        assert_no_temp_files(path.parent().expect("has a parent"));
    }

    pub(super) fn assert_no_temp_files(dir: &Path) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let name = entry.expect("dir entry").file_name();
            let name = name.to_string_lossy();
            assert!(!name.ends_with(".tmp.png"), "left a temp file: {name}");
        }
    }

    pub(super) fn ring(n: usize, radius: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                (radius * a.cos(), radius * a.sin())
            })
            .collect()
    }

    /// Deterministic pseudo-random numbers in [0, 1) (no rand dependency).
    pub(super) fn uniform(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Approximately normal samples (sum of 12 uniforms).
    pub(super) fn normal(seed: &mut u64, mean: f64, sd: f64) -> f64 {
        let s: f64 = (0..12).map(|_| uniform(seed)).sum();
        mean + sd * (s - 6.0)
    }

    pub(super) fn is_empty_err(r: Result<(), PlotError>) -> bool {
        matches!(r, Err(PlotError::Empty { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(200.0, &(0.0..2000.0)), "200");
        assert_eq!(tick_label(0.1 + 0.2, &(0.0..1.0)), "0.3");
        assert_eq!(tick_label(-2.220446049250313e-16, &(-1.1..1.1)), "0");
        assert_eq!(tick_label(-0.25, &(-1.0..1.0)), "-0.25");
        assert_eq!(tick_label(1_500_000.0, &(0.0..2e6)), "1500000");
        assert_eq!(tick_label(2.5e-5, &(0.0..1e-4)), "2.5e-5");
        assert_eq!(tick_label(3e8, &(0.0..1e9)), "3e8");
    }
}
