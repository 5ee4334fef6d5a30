//! [`line_chart`]: curves against the training step with an optional dashed reference
//! line (the ideal D = 0.5).

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::legend::{ALL_CORNERS, densify, draw_legend, legend_corner};
use super::{
    CHART_SIZE, FONT, PlotError, Series, bounds, configure_mesh, draw_err, finite_points, padded,
    palette, write_png,
};

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

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

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
