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

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

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
/// Most bins [`histogram_1d`] accepts (more could not be seen at 800 pixels
/// wide, and a typo such as 10^9 would exhaust memory).
const MAX_BINS: usize = 100_000;
/// Legend text size, in pixels.
const LEGEND_FONT_SIZE: f64 = 16.0;
/// Padding inside the legend box, in pixels.
const LEGEND_MARGIN: f64 = 12.0;

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

/// Colour number `i` of the fixed palette, cycling after 10.
fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Line chart of several series (e.g. D loss and G loss against step; or
/// mean D(real) and D(fake) against step) with an optional dashed horizontal
/// reference line (e.g. `(0.5, "ideal D = 0.5")`).
///
/// Non-finite points are skipped. The x range covers the finite points; the
/// y range covers them and the reference line, with a small margin. The
/// image is 800x600 pixels.
///
/// # Errors
///
/// [`PlotError::Empty`] when no series has a finite point,
/// [`PlotError::Draw`] when drawing or writing the file fails.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    reference: Option<(f64, &str)>,
) -> Result<(), PlotError> {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| (s.name, finite_points(s.points)))
        .collect();
    let all = curves.iter().flat_map(|(_, pts)| pts.iter().copied());
    let Some((x_min, x_max, y_min, y_max)) = bounds(all) else {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "series",
        });
    };
    let reference = reference.filter(|(y, _)| y.is_finite());
    let (y_min, y_max) = match reference {
        Some((r, _)) => (y_min.min(r), y_max.max(r)),
        None => (y_min, y_max),
    };
    let x_range = padded(x_min, x_max, 0.0);
    let y_range = padded(y_min, y_max, 0.05);

    write_png(path, CHART_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 26))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.clone(), y_range)
            .map_err(draw_err(path))?;
        configure_mesh(&mut chart, x_label, y_label, path)?;

        for (i, (name, pts)) in curves.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let color = palette(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(draw_err(path))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if pts.len() == 1 {
                // A lone point makes no line; mark it so it is not lost.
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(draw_err(path))?;
            }
        }

        if let Some((r, name)) = reference {
            let style = BLACK.mix(0.7).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_range.start, r), (x_range.end, r)],
                    8,
                    6,
                    style,
                ))
                .map_err(draw_err(path))?
                .label(name)
                .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 20, y)], 5, 3, style));
        }

        let mut names: Vec<&str> = curves
            .iter()
            .filter(|(_, pts)| !pts.is_empty())
            .map(|(name, _)| *name)
            .collect();
        let mut occupied: Vec<(f64, f64)> =
            curves.iter().flat_map(|(_, pts)| densify(pts)).collect();
        if let Some((r, name)) = reference {
            names.push(name);
            occupied.extend(densify(&[(x_range.start, r), (x_range.end, r)]));
        }
        let corner = legend_corner(&chart, &names, &occupied, &ALL_CORNERS);
        draw_legend(&mut chart, corner, path)
    })
}

/// 2-D scatter of generated samples over the real modes.
///
/// Samples are small semi-transparent dots, coloured by their class index in
/// `labels` when given (a fixed 10-colour palette, cycling for more classes);
/// the real modes are black crosses drawn on top. Both axes use the same
/// scale (equal aspect ratio) and the range covers samples and modes with a
/// margin. Non-finite points are skipped. The image is 700x700 pixels.
///
/// # Errors
///
/// [`PlotError::Empty`] when `samples` has no finite point,
/// [`PlotError::Draw`] when `labels` is not as long as `samples`, or when
/// drawing or writing the file fails.
pub fn scatter_2d(
    path: &Path,
    title: &str,
    modes: &[(f64, f64)],
    samples: &[(f64, f64)],
    labels: Option<&[usize]>,
) -> Result<(), PlotError> {
    if let Some(labels) = labels
        && labels.len() != samples.len()
    {
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            message: format!(
                "labels has {} entries but samples has {}; they must match one to one",
                labels.len(),
                samples.len()
            ),
        });
    }
    // Group finite samples by class; `None` when unlabelled.
    let mut groups: BTreeMap<Option<usize>, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, &p) in samples.iter().enumerate() {
        if is_finite(p) {
            let class = labels.and_then(|l| l.get(i).copied());
            groups.entry(class).or_default().push(p);
        }
    }
    if groups.is_empty() {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "samples",
        });
    }
    let modes = finite_points(modes);
    let all = groups
        .values()
        .flat_map(|g| g.iter().copied())
        .chain(modes.iter().copied());
    let Some((x_min, x_max, y_min, y_max)) = bounds(all) else {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "samples",
        });
    };

    // Legend entries, one per drawn group (`None`: no entry) plus the modes.
    let n_classes = groups.len();
    let many_classes = labels.is_some() && n_classes > PALETTE.len();
    let group_names: Vec<Option<String>> = groups
        .keys()
        .enumerate()
        .map(|(k, class)| match class {
            None => Some("generated".to_string()),
            Some(c) if !many_classes => Some(format!("class {c}")),
            // Too many classes for a useful legend: one entry for all.
            Some(_) if k == 0 => Some("generated, by class".to_string()),
            Some(_) => None,
        })
        .collect();
    let mut names: Vec<&str> = group_names.iter().flatten().map(String::as_str).collect();
    if !modes.is_empty() {
        names.push("real modes");
    }
    let legend_px = legend_box(&names);
    let n_samples: usize = groups.values().map(Vec::len).sum();
    let sample_points: Vec<(f64, f64)> = groups.values().flatten().copied().collect();

    write_png(path, SCATTER_SIZE, |root| {
        let area = root.titled(title, (FONT, 26)).map_err(draw_err(path))?;
        // The plotting area's size depends only on the layout, not on the
        // ranges: measure it, then pick ranges with equal units per pixel.
        let layout = |on: &DrawingArea<BitMapBackend<'_>, Shift>| -> Result<Frame, PlotError> {
            let probe = scatter_builder(on)
                .build_cartesian_2d(0.0..1.0, 0.0..1.0)
                .map_err(draw_err(path))?;
            let (w, h) = probe.plotting_area().dim_in_pixel();
            let (x, y) = equal_aspect(x_min, x_max, y_min, y_max, w, h);
            Ok(Frame {
                px: (f64::from(w), f64::from(h)),
                x,
                y,
            })
        };
        // A legend inside the plot must not hide a mode, nor more than a
        // few samples; otherwise it goes in a column right of the plot.
        let inside = layout(&area)?;
        let free_corner = ALL_CORNERS
            .iter()
            .filter(|c| covered(&inside, legend_px, c, &modes) == 0)
            .map(|c| (c, covered(&inside, legend_px, c, &sample_points)))
            .filter(|&(_, n)| n <= (n_samples / 500).max(2))
            .min_by_key(|&(_, n)| n)
            .map(|(c, _)| c.clone());
        let (plot_area, frame, side_area) = match free_corner {
            Some(_) => (area.clone(), inside, None),
            None => {
                let (w, _) = area.dim_in_pixel();
                let split = (f64::from(w) - legend_px.0 - 10.0).max(0.0) as u32;
                let (left, right) = area.split_horizontally(split);
                let frame = layout(&left)?;
                (left, frame, Some(right))
            }
        };
        let mut chart = scatter_builder(&plot_area)
            .build_cartesian_2d(frame.x, frame.y)
            .map_err(draw_err(path))?;
        configure_mesh(&mut chart, "x", "y", path)?;

        // Fainter dots for more samples, so dense regions still show density.
        let alpha = (200.0 / n_samples as f64).sqrt().clamp(0.15, 0.8);
        for (class, pts) in &groups {
            let color = palette(class.unwrap_or(0));
            chart
                .draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, 2, color.mix(alpha).filled())),
                )
                .map_err(draw_err(path))?;
        }
        let cross = BLACK.stroke_width(2);
        chart
            .draw_series(modes.iter().map(|&p| Cross::new(p, 7, cross)))
            .map_err(draw_err(path))?;

        // The legend entries go on an empty chart when the legend is outside.
        let mut side_chart = match &side_area {
            Some(side) => Some(
                ChartBuilder::on(side)
                    .margin_top(15)
                    .build_cartesian_2d(0.0..1.0, 0.0..1.0)
                    .map_err(draw_err(path))?,
            ),
            None => None,
        };
        let legend_chart = side_chart.as_mut().unwrap_or(&mut chart);
        for ((class, _), name) in groups.iter().zip(&group_names) {
            if let Some(name) = name {
                let color = palette(class.unwrap_or(0));
                legend_chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .map_err(draw_err(path))?
                    .label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            }
        }
        if !modes.is_empty() {
            legend_chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(draw_err(path))?
                .label("real modes")
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, cross));
        }
        let corner = free_corner.unwrap_or(SeriesLabelPosition::UpperLeft);
        draw_legend(legend_chart, corner, path)
    })
}

/// Margins and label areas of [`scatter_2d`]'s chart on `area`.
fn scatter_builder<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
) -> ChartBuilder<'a, 'a, BitMapBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60);
    builder
}

/// Two overlaid histograms, "real" against "generated", like figure 5 of
/// Goodfellow et al. 2014, optionally with the discriminator output D(x).
///
/// Both histograms use the same `bins` equal-width bins spanning the minimum
/// to the maximum of both sample sets, and show densities (each histogram's
/// area is 1), drawn as semi-transparent bars with a step outline. When
/// `discriminator` is given, its points `(x, D(x))` are drawn as a dashed
/// line against a secondary y axis from 0 to 1 on the right; the x axis also
/// covers its x range. Non-finite values are skipped. The image is 800x600
/// pixels.
///
/// # Errors
///
/// [`PlotError::Empty`] when neither `real` nor `generated` has a finite
/// value, [`PlotError::Draw`] when `bins` is 0 or over 100 000, or when
/// drawing or writing the file fails.
pub fn histogram_1d(
    path: &Path,
    title: &str,
    real: &[f64],
    generated: &[f64],
    bins: usize,
    discriminator: Option<&[(f64, f64)]>,
) -> Result<(), PlotError> {
    let real: Vec<f64> = real.iter().copied().filter(|v| v.is_finite()).collect();
    let generated: Vec<f64> = generated
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let Some((lo, hi)) = min_max(real.iter().chain(&generated).copied()) else {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "real and generated samples",
        });
    };
    if !(1..=MAX_BINS).contains(&bins) {
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            message: format!("histogram needs 1 to {MAX_BINS} bins, got {bins}"),
        });
    }
    let edges = padded(lo, hi, 0.0);
    let width = (edges.end - edges.start) / bins as f64;
    let real_density = densities(&real, edges.start, width, bins);
    let generated_density = densities(&generated, edges.start, width, bins);
    let disc = discriminator.map(finite_points).filter(|d| !d.is_empty());

    let (mut x_min, mut x_max) = (edges.start, edges.end);
    if let Some((dx_min, dx_max)) = disc.as_deref().and_then(|d| min_max(d.iter().map(|p| p.0))) {
        x_min = x_min.min(dx_min);
        x_max = x_max.max(dx_max);
    }
    let x_range = padded(x_min, x_max, 0.02);
    let peak = real_density
        .iter()
        .chain(&generated_density)
        .fold(0.0_f64, |m, &d| m.max(d));
    // Headroom above the highest bar for the legend.
    let y_range = 0.0..if peak > 0.0 { peak * 1.2 } else { 1.0 };
    let sets = [
        Histogram1d {
            name: "real data",
            density: &real_density,
            color: BLACK,
            drawn: !real.is_empty(),
        },
        Histogram1d {
            name: "generated",
            density: &generated_density,
            color: palette(2),
            drawn: !generated.is_empty(),
        },
    ];
    let mut names: Vec<&str> = Vec::new();
    let mut occupied: Vec<(f64, f64)> = Vec::new();
    for set in sets.iter().filter(|set| set.drawn) {
        names.push(set.name);
        occupied.extend(densify(&step_outline(set.density, edges.start, width)));
    }

    write_png(path, CHART_SIZE, |root| {
        let chart = ChartBuilder::on(root)
            .caption(title, (FONT, 26))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .right_y_label_area_size(if disc.is_some() { 70 } else { 0 })
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .map_err(draw_err(path))?;

        let Some(d) = &disc else {
            let mut chart = chart;
            configure_mesh(&mut chart, "x", "density", path)?;
            draw_histograms(&mut chart, &sets, edges.start, width, path)?;
            let corner = legend_corner(&chart, &names, &occupied, &UPPER_CORNERS);
            return draw_legend(&mut chart, corner, path);
        };

        // The secondary axis takes over the right label area, so it must be
        // set before the primary mesh is drawn.
        let d_top = 1.05;
        let mut chart = chart.set_secondary_coord(x_range.clone(), 0.0..d_top);
        configure_mesh(&mut chart, "x", "density", path)?;
        chart
            .configure_secondary_axes()
            .y_desc("D(x)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 18))
            .y_label_formatter(&|v: &f64| tick_label(*v, &(0.0..d_top)))
            .draw()
            .map_err(draw_err(path))?;
        draw_histograms(&mut chart, &sets, edges.start, width, path)?;
        let style = palette(0).stroke_width(2);
        chart
            .draw_secondary_series(DashedLineSeries::new(d.iter().copied(), 8, 5, style))
            .map_err(draw_err(path))?
            .label("D(x)")
            .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 20, y)], 5, 3, style));
        names.push("D(x)");
        // D(x) in primary coordinates, to keep the legend off it too.
        let scale = y_range.end / d_top;
        occupied.extend(densify(d).into_iter().map(|(x, y)| (x, y * scale)));
        let corner = legend_corner(&chart, &names, &occupied, &UPPER_CORNERS);
        draw_legend(&mut chart, corner, path)
    })
}

/// One histogram of [`histogram_1d`].
struct Histogram1d<'a> {
    /// Legend entry.
    name: &'static str,
    /// Density per bin.
    density: &'a [f64],
    /// Outline colour; the bars use it semi-transparent.
    color: RGBColor,
    /// Whether it had any samples (an empty one is not drawn).
    drawn: bool,
}

/// Draws each histogram as semi-transparent bars with a step outline.
fn draw_histograms<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    sets: &[Histogram1d<'_>],
    start: f64,
    width: f64,
    path: &Path,
) -> Result<(), PlotError> {
    for set in sets.iter().filter(|set| set.drawn) {
        let color = set.color;
        let bars = set.density.iter().enumerate().map(|(i, &d)| {
            let x0 = start + i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, d)], color.mix(0.25).filled())
        });
        chart
            .draw_series(bars)
            .map_err(draw_err(path))?
            .label(set.name)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, -6), (20, 6)], color.mix(0.25).filled())
                    + Rectangle::new([(0, -6), (20, 6)], color.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(
                step_outline(set.density, start, width),
                color.stroke_width(2),
            ))
            .map_err(draw_err(path))?;
    }
    Ok(())
}

/// A 2-D chart with `f64` axes on the bitmap backend.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

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

/// The legend box for every labelled series.
fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(LEGEND_MARGIN)
        .label_font((FONT, LEGEND_FONT_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.6))
        .draw()
        .map_err(draw_err(path))
}

/// Every corner, in order of preference for the legend.
const ALL_CORNERS: [SeriesLabelPosition; 4] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::LowerLeft,
];
/// The upper corners only (histograms fill the bottom of the chart).
const UPPER_CORNERS: [SeriesLabelPosition; 2] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
];

/// Pixel size and data ranges of a plotting area.
struct Frame {
    /// Width and height in pixels.
    px: (f64, f64),
    /// The x range shown.
    x: Range<f64>,
    /// The y range shown.
    y: Range<f64>,
}

impl Frame {
    /// The frame of a built chart.
    fn of(chart: &Chart<'_, '_>) -> Frame {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        Frame {
            px: (f64::from(w), f64::from(h)),
            x: chart.x_range(),
            y: chart.y_range(),
        }
    }
}

/// Approximate size in pixels of the legend box `draw_legend` draws for
/// `names`, plus the 5 pixels plotters leaves between it and the corner.
fn legend_box(names: &[&str]) -> (f64, f64) {
    let font = (FONT, LEGEND_FONT_SIZE).into_font();
    let text_w = names
        .iter()
        .map(|n| {
            font.box_size(n)
                .map_or(n.len() as f64 * 9.0, |(w, _)| f64::from(w))
        })
        .fold(0.0, f64::max);
    let w = text_w + 30.0 + 2.0 * LEGEND_MARGIN + 5.0;
    let h = names.len() as f64 * 1.25 * LEGEND_FONT_SIZE + 2.0 * LEGEND_MARGIN + 5.0;
    (w, h)
}

/// How many `points` a legend box of `box_px` pixels in `corner` covers,
/// or comes so close to that it would hide part of a marker.
fn covered(
    frame: &Frame,
    box_px: (f64, f64),
    corner: &SeriesLabelPosition,
    points: &[(f64, f64)],
) -> usize {
    /// Pixels added to the box for the size of markers (crosses: 7).
    const MARKER_PAD: f64 = 10.0;
    let (x_span, y_span) = (frame.x.end - frame.x.start, frame.y.end - frame.y.start);
    let fw = ((box_px.0 + MARKER_PAD) / frame.px.0.max(1.0)).min(1.0) * x_span;
    let fh = ((box_px.1 + MARKER_PAD) / frame.px.1.max(1.0)).min(1.0) * y_span;
    let (x0, x1) = match corner {
        SeriesLabelPosition::UpperLeft | SeriesLabelPosition::LowerLeft => {
            (frame.x.start, frame.x.start + fw)
        }
        _ => (frame.x.end - fw, frame.x.end),
    };
    let (y0, y1) = match corner {
        SeriesLabelPosition::LowerLeft | SeriesLabelPosition::LowerRight => {
            (frame.y.start, frame.y.start + fh)
        }
        _ => (frame.y.end - fh, frame.y.end),
    };
    points
        .iter()
        .filter(|&&(x, y)| (x0..=x1).contains(&x) && (y0..=y1).contains(&y))
        .count()
}

/// The corner of `corners` where the legend box for `names` covers the
/// fewest `occupied` points (the first corner on ties).
fn legend_corner(
    chart: &Chart<'_, '_>,
    names: &[&str],
    occupied: &[(f64, f64)],
    corners: &[SeriesLabelPosition],
) -> SeriesLabelPosition {
    let frame = Frame::of(chart);
    let box_px = legend_box(names);
    let mut best = (SeriesLabelPosition::UpperRight, usize::MAX);
    for corner in corners {
        let n = covered(&frame, box_px, corner, occupied);
        if n < best.1 {
            best = (corner.clone(), n);
        }
    }
    best.0
}

/// The points of a polyline with extra points along each segment, so that
/// counting points in a box also catches segments crossing it. Long series
/// are dense enough already and are returned as they are.
fn densify(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    const STEPS: usize = 8;
    if points.len() > 4096 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(points.len() * STEPS + 1);
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        for k in 0..STEPS {
            let t = k as f64 / STEPS as f64;
            out.push((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t));
        }
    }
    out.extend(points.last().copied());
    out
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

/// Ranges covering the bounds with a margin, centred on them, with the same
/// data units per pixel on both axes of a `w` x `h` pixel plotting area.
fn equal_aspect(
    x_min: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
    w: u32,
    h: u32,
) -> (Range<f64>, Range<f64>) {
    let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    let (cx, cy) = ((x_min + x_max) / 2.0, (y_min + y_max) / 2.0);
    let half_x = (x_max - x_min) / 2.0 * 1.1;
    let half_y = (y_max - y_min) / 2.0 * 1.1;
    let mut per_pixel = (2.0 * half_x / w).max(2.0 * half_y / h);
    if per_pixel <= 0.0 || !per_pixel.is_finite() {
        // A single point: show one unit around it.
        per_pixel = 2.0 / w.min(h);
    }
    let (half_x, half_y) = (per_pixel * w / 2.0, per_pixel * h / 2.0);
    ((cx - half_x)..(cx + half_x), (cy - half_y)..(cy + half_y))
}

/// Density per bin: counts divided by `values.len() * width`, so the area of
/// the histogram is 1. Values on the last edge go into the last bin.
fn densities(values: &[f64], start: f64, width: f64, bins: usize) -> Vec<f64> {
    let mut counts = vec![0_usize; bins];
    for &v in values {
        let i = ((v - start) / width).floor();
        // Saturating float-to-int cast; the clamp keeps the top edge inside.
        let i = (i.max(0.0) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let scale = 1.0 / (values.len().max(1) as f64 * width);
    counts.into_iter().map(|c| c as f64 * scale).collect()
}

/// The outline of a histogram: up from 0 at the first edge, across each bin,
/// down to 0 at the last edge.
fn step_outline(density: &[f64], start: f64, width: f64) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(density.len() * 2 + 2);
    pts.push((start, 0.0));
    for (i, &d) in density.iter().enumerate() {
        let x0 = start + i as f64 * width;
        pts.push((x0, d));
        pts.push((x0 + width, d));
    }
    pts.push((start + density.len() as f64 * width, 0.0));
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

    /// Checks that `path` is a PNG of `w` x `h` pixels, that no temporary
    /// file was left next to it, and that it is not blank.
    fn assert_png(path: &Path, w: u32, h: u32) {
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

    fn assert_no_temp_files(dir: &Path) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let name = entry.expect("dir entry").file_name();
            let name = name.to_string_lossy();
            assert!(!name.ends_with(".tmp.png"), "left a temp file: {name}");
        }
    }

    fn ring(n: usize, radius: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                (radius * a.cos(), radius * a.sin())
            })
            .collect()
    }

    /// Deterministic pseudo-random numbers in [0, 1) (no rand dependency).
    fn uniform(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Approximately normal samples (sum of 12 uniforms).
    fn normal(seed: &mut u64, mean: f64, sd: f64) -> f64 {
        let s: f64 = (0..12).map(|_| uniform(seed)).sum();
        mean + sd * (s - 6.0)
    }

    fn is_empty_err(r: Result<(), PlotError>) -> bool {
        matches!(r, Err(PlotError::Empty { .. }))
    }

    #[test]
    fn line_chart_writes_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d_outputs.png");
        let real: Vec<(f64, f64)> = (0..200)
            .map(|s| (s as f64 * 10.0, 0.5 + 0.45 * (-(s as f64) / 40.0).exp()))
            .collect();
        let mut fake: Vec<(f64, f64)> = (0..200)
            .map(|s| (s as f64 * 10.0, 0.5 - 0.45 * (-(s as f64) / 50.0).exp()))
            .collect();
        fake[17].1 = f64::NAN;
        fake[30].0 = f64::INFINITY;
        let series = [
            Series {
                name: "mean D(real)",
                points: &real,
            },
            Series {
                name: "mean D(fake)",
                points: &fake,
            },
        ];
        line_chart(
            &path,
            "Discriminator outputs",
            "step",
            "mean D(x)",
            &series,
            Some((0.5, "ideal D = 0.5")),
        )
        .unwrap();
        assert_png(&path, 800, 600);
    }

    #[test]
    fn line_chart_losses_without_reference_and_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.png");
        std::fs::write(&path, b"old contents").unwrap();
        let d: Vec<(f64, f64)> = (0..500)
            .map(|s| (s as f64, 1.386 - 0.3 * (s as f64 / 80.0).sin().abs()))
            .collect();
        let g: Vec<(f64, f64)> = (0..500)
            .map(|s| (s as f64, 0.693 + 2.0 * (-(s as f64) / 100.0).exp()))
            .collect();
        let series = [
            Series {
                name: "D loss",
                points: &d,
            },
            Series {
                name: "G loss",
                points: &g,
            },
        ];
        line_chart(&path, "Losses", "step", "loss", &series, None).unwrap();
        assert_png(&path, 800, 600);
    }

    #[test]
    fn line_chart_single_point_and_partly_empty_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.png");
        let series = [
            Series {
                name: "one point",
                points: &[(3.0, 2.0)],
            },
            Series {
                name: "nothing",
                points: &[],
            },
        ];
        line_chart(&path, "One point", "step", "loss", &series, None).unwrap();
        assert_png(&path, 800, 600);
    }

    #[test]
    fn line_chart_empty_is_empty_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        assert!(is_empty_err(line_chart(&path, "t", "x", "y", &[], None)));
        let series = [Series {
            name: "none",
            points: &[],
        }];
        assert!(is_empty_err(line_chart(
            &path,
            "t",
            "x",
            "y",
            &series,
            Some((0.5, "ideal"))
        )));
        assert!(!path.exists());
        assert_no_temp_files(dir.path());
    }

    #[test]
    fn line_chart_nan_only_is_empty_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.png");
        let nan = [(0.0, f64::NAN), (1.0, f64::NAN), (f64::NAN, 1.0)];
        let inf = [(2.0, f64::INFINITY), (f64::NEG_INFINITY, 0.0)];
        let series = [
            Series {
                name: "nan",
                points: &nan,
            },
            Series {
                name: "inf",
                points: &inf,
            },
        ];
        let err = line_chart(&path, "t", "x", "y", &series, None).unwrap_err();
        assert!(
            matches!(err, PlotError::Empty { what: "series", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("nan.png"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn scatter_2d_writes_png_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.png");
        let modes = ring(8, 2.0);
        let mut seed = 7;
        let mut samples = Vec::new();
        let mut labels = Vec::new();
        for i in 0..2000 {
            // Leave mode 5 uncovered, like a partial mode collapse.
            let k = [0, 1, 2, 3, 4, 6, 7][i % 7];
            let (mx, my) = modes[k];
            samples.push((normal(&mut seed, mx, 0.1), normal(&mut seed, my, 0.1)));
            labels.push(k);
        }
        samples[3] = (f64::NAN, 0.0);
        scatter_2d(
            &path,
            "Generated samples, step 5000",
            &modes,
            &samples,
            Some(&labels),
        )
        .unwrap();
        assert_png(&path, 700, 700);
    }

    #[test]
    fn scatter_2d_unlabelled_without_modes_and_many_classes() {
        let dir = tempfile::tempdir().unwrap();
        let samples = ring(300, 1.0);
        let path = dir.path().join("plain.png");
        scatter_2d(&path, "Unlabelled", &[], &samples, None).unwrap();
        assert_png(&path, 700, 700);

        let path = dir.path().join("many.png");
        let labels: Vec<usize> = (0..samples.len()).map(|i| i % 25).collect();
        let modes = ring(25, 1.0);
        scatter_2d(&path, "25 classes", &modes, &samples, Some(&labels)).unwrap();
        assert_png(&path, 700, 700);

        let path = dir.path().join("single.png");
        scatter_2d(&path, "One sample", &[], &[(1.0, 1.0)], None).unwrap();
        assert_png(&path, 700, 700);
    }

    #[test]
    fn scatter_2d_empty_and_nan_are_empty_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        assert!(is_empty_err(scatter_2d(
            &path,
            "t",
            &[(0.0, 0.0)],
            &[],
            None
        )));
        let nan = [(f64::NAN, 0.0), (0.0, f64::NAN)];
        assert!(is_empty_err(scatter_2d(
            &path,
            "t",
            &[(0.0, 0.0)],
            &nan,
            Some(&[0, 1])
        )));
        assert!(!path.exists());
    }

    #[test]
    fn scatter_2d_label_mismatch_is_draw_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        let samples = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)];
        let err = scatter_2d(&path, "t", &[], &samples, Some(&[0, 1])).unwrap_err();
        match &err {
            PlotError::Draw { message, .. } => {
                assert!(message.contains("labels has 2"), "{message}");
                assert!(message.contains("samples has 3"), "{message}");
            }
            other => panic!("expected Draw, got {other:?}"),
        }
        assert!(!path.exists());
        assert_no_temp_files(dir.path());
    }

    #[test]
    fn scatter_2d_ranges_have_equal_aspect() {
        let (x, y) = equal_aspect(-1.0, 3.0, 0.0, 1.0, 500, 400);
        let per_x = (x.end - x.start) / 500.0;
        let per_y = (y.end - y.start) / 400.0;
        assert!((per_x - per_y).abs() < 1e-12);
        assert!(x.start < -1.0 && x.end > 3.0 && y.start < 0.0 && y.end > 1.0);
    }

    #[test]
    fn histogram_1d_writes_png_with_discriminator() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hist.png");
        let mut seed = 11;
        let real: Vec<f64> = (0..5000).map(|_| normal(&mut seed, 0.0, 1.0)).collect();
        let mut generated: Vec<f64> = (0..5000).map(|_| normal(&mut seed, 0.7, 0.8)).collect();
        generated.push(f64::NAN);
        let disc: Vec<(f64, f64)> = (0..=120)
            .map(|i| {
                let x = -5.0 + i as f64 / 12.0;
                (x, 1.0 / (1.0 + (1.2 * (x - 0.35)).exp()))
            })
            .collect();
        histogram_1d(
            &path,
            "Real vs generated, step 3000",
            &real,
            &generated,
            50,
            Some(&disc),
        )
        .unwrap();
        assert_png(&path, 800, 600);
    }

    #[test]
    fn histogram_1d_without_discriminator_and_degenerate_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.png");
        let real: Vec<f64> = (0..100).map(|i| i as f64 / 10.0).collect();
        histogram_1d(&path, "No D", &real, &[], 20, None).unwrap();
        assert_png(&path, 800, 600);

        let path = dir.path().join("constant.png");
        histogram_1d(&path, "Constant", &[2.0; 10], &[2.0; 5], 1, Some(&[])).unwrap();
        assert_png(&path, 800, 600);
    }

    #[test]
    fn histogram_1d_empty_and_nan_are_empty_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.png");
        assert!(is_empty_err(histogram_1d(&path, "t", &[], &[], 10, None)));
        let nan = [f64::NAN, f64::INFINITY];
        assert!(is_empty_err(histogram_1d(&path, "t", &nan, &nan, 10, None)));
        assert!(!path.exists());
    }

    #[test]
    fn histogram_1d_bad_bin_count_is_draw_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.png");
        let err = histogram_1d(&path, "t", &[1.0, 2.0], &[1.5], 0, None).unwrap_err();
        assert!(matches!(err, PlotError::Draw { .. }), "{err}");
        let err = histogram_1d(&path, "t", &[1.0], &[1.5], usize::MAX, None).unwrap_err();
        assert!(matches!(err, PlotError::Draw { .. }), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn densities_integrate_to_one() {
        let values = [0.0, 0.1, 0.5, 0.99, 1.0, 1.0];
        let width = 0.25;
        let d = densities(&values, 0.0, width, 4);
        let area: f64 = d.iter().map(|v| v * width).sum();
        assert!((area - 1.0).abs() < 1e-12, "area {area}");
        // 1.0 sits on the last edge and counts in the last bin.
        assert_eq!(d[3], 3.0 / (6.0 * width));
    }

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

    #[test]
    fn legend_box_counts_points_in_its_corner() {
        let frame = Frame {
            px: (100.0, 100.0),
            x: 0.0..10.0,
            y: 0.0..10.0,
        };
        let pts = [(9.5, 9.5), (9.0, 8.0), (0.5, 0.5)];
        let b = (20.0, 20.0);
        assert_eq!(
            covered(&frame, b, &SeriesLabelPosition::UpperRight, &pts),
            2
        );
        assert_eq!(covered(&frame, b, &SeriesLabelPosition::LowerLeft, &pts), 1);
        assert_eq!(covered(&frame, b, &SeriesLabelPosition::UpperLeft, &pts), 0);
        let (w, h) = legend_box(&["D loss", "G loss"]);
        assert!(w > 60.0 && h > 40.0, "{w}x{h}");
    }

    #[test]
    fn densify_keeps_ends_and_fills_segments() {
        let d = densify(&[(0.0, 0.0), (8.0, 16.0)]);
        assert_eq!(d.first(), Some(&(0.0, 0.0)));
        assert_eq!(d.last(), Some(&(8.0, 16.0)));
        assert!(d.contains(&(4.0, 8.0)));
        assert!(densify(&[]).is_empty());
    }

    #[test]
    fn missing_directory_is_draw_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/plot.png");
        let series = [Series {
            name: "a",
            points: &[(0.0, 1.0), (1.0, 2.0)],
        }];
        let err = line_chart(&path, "t", "x", "y", &series, None).unwrap_err();
        assert!(matches!(err, PlotError::Draw { .. }), "{err}");
    }
}
