//! [`histogram_1d`]: real and generated 1-D samples as density outlines, with the
//! discriminator output D(x) over them (the seed's figure 5).

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::legend::{UPPER_CORNERS, densify, draw_legend, legend_corner};
use super::{
    CHART_SIZE, Chart, FONT, PlotError, configure_mesh, draw_err, finite_points, min_max, padded,
    palette, tick_label, write_png,
};

/// Most bins [`histogram_1d`] accepts (more could not be seen at 800 pixels
/// wide, and a typo such as 10^9 would exhaust memory).
const MAX_BINS: usize = 100_000;

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
    use super::super::test_util::*;
    use super::*;

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
}
