//! [`scatter_2d`]: generated 2-D samples over the real modes, coloured by class, with an
//! equal aspect ratio and the legend where it hides no mode.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::legend::{ALL_CORNERS, Frame, covered, draw_legend, legend_box};
use super::{
    FONT, PALETTE, PlotError, SCATTER_SIZE, bounds, configure_mesh, draw_err, finite_points,
    is_finite, palette, write_png,
};

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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

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
}
