//! [`pairs_plot`]: real rows and generated samples of a user's CSV, one panel per pair of
//! columns (a single scatter for 2 columns), so a user sees where the generator puts its
//! samples in data units, coloured by class.

use std::path::Path;

use plotters::prelude::*;

use super::{FONT, PlotError, bounds, configure_mesh, draw_err, padded, palette, write_png};

/// Size of a [`pairs_plot`] of two columns, and of each panel of a bigger one.
const PANEL: u32 = 300;
/// Columns drawn at most (a pairs plot of more would have unreadable panels).
const MAX_COLUMNS: usize = 6;

/// Scatter of `real` (grey) and `generated` (coloured by class when `classes` gives each
/// sample's class and the class names) rows of `columns.len()` values each, row-major.
/// Two columns: one 700x700 chart with the column names on the axes. More: a pairs plot
/// of the first [`MAX_COLUMNS`] columns (panel (i, j) plots column j against column i;
/// the diagonal names the column). Non-finite values are skipped.
///
/// # Errors
///
/// [`PlotError::Empty`] with fewer than two columns or no finite generated sample,
/// [`PlotError::Draw`] when the inputs disagree or the file cannot be written.
pub fn pairs_plot(
    path: &Path,
    title: &str,
    columns: &[String],
    real: &[f32],
    generated: &[f32],
    classes: Option<(&[usize], &[String])>,
) -> Result<(), PlotError> {
    let dim = columns.len();
    if dim < 2 || generated.is_empty() {
        return Err(PlotError::Empty {
            path: path.to_path_buf(),
            what: "generated samples of two or more columns",
        });
    }
    let rows = generated.len() / dim;
    if generated.len() != rows * dim
        || !real.len().is_multiple_of(dim)
        || classes.is_some_and(|(c, _)| c.len() != rows)
    {
        return Err(PlotError::Draw {
            path: path.to_path_buf(),
            message: format!(
                "{} generated and {} real values do not form rows of {dim} columns with one \
                 class each",
                generated.len(),
                real.len()
            ),
        });
    }
    let shown = dim.min(MAX_COLUMNS);
    let pair = |x: &[f32], i: usize, j: usize| -> Vec<(f64, f64)> {
        x.chunks(dim)
            .map(|r| (f64::from(r[i]), f64::from(r[j])))
            .filter(|&(a, b)| a.is_finite() && b.is_finite())
            .collect()
    };
    let size = if shown == 2 {
        (700, 700)
    } else {
        (PANEL * shown as u32, PANEL * shown as u32 + 40)
    };
    write_png(path, size, |root| {
        let area = root.titled(title, (FONT, 22)).map_err(draw_err(path))?;
        let panels = if shown == 2 {
            vec![area.clone()]
        } else {
            area.split_evenly((shown, shown))
        };
        for (k, panel) in panels.iter().enumerate() {
            let (i, j) = if shown == 2 {
                (0, 1)
            } else {
                (k / shown, k % shown)
            };
            if i == j {
                panel
                    .draw(&Text::new(
                        columns[i].as_str(),
                        (10, PANEL as i32 / 2),
                        (FONT, 18),
                    ))
                    .map_err(draw_err(path))?;
                continue;
            }
            let gen_pts = pair(generated, i, j);
            let real_pts = pair(real, i, j);
            let Some((x0, x1, y0, y1)) = bounds(gen_pts.iter().chain(&real_pts).copied()) else {
                continue;
            };
            let mut chart = ChartBuilder::on(panel)
                .margin(8)
                .x_label_area_size(if shown == 2 { 45 } else { 25 })
                .y_label_area_size(if shown == 2 { 60 } else { 35 })
                .build_cartesian_2d(padded(x0, x1, 0.05), padded(y0, y1, 0.05))
                .map_err(draw_err(path))?;
            configure_mesh(&mut chart, &columns[i], &columns[j], path)?;
            let grey = RGBColor(150, 150, 150).mix(0.5);
            chart
                .draw_series(real_pts.iter().map(|&p| Circle::new(p, 2, grey.filled())))
                .map_err(draw_err(path))?
                .label("real")
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, grey.filled()));
            match classes {
                Some((labels, names)) => {
                    for (c, name) in names.iter().enumerate() {
                        let color = palette(c);
                        let pts = gen_pts
                            .iter()
                            .zip(labels)
                            .filter(|&(_, &l)| l == c)
                            .map(|(&p, _)| Circle::new(p, 2, color.mix(0.6).filled()));
                        chart
                            .draw_series(pts)
                            .map_err(draw_err(path))?
                            .label(format!("generated: {name}"))
                            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                    }
                }
                None => {
                    let color = palette(0);
                    chart
                        .draw_series(
                            gen_pts
                                .iter()
                                .map(|&p| Circle::new(p, 2, color.mix(0.6).filled())),
                        )
                        .map_err(draw_err(path))?
                        .label("generated")
                        .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                }
            }
            if shown == 2 {
                let (xr, yr) = (chart.x_range(), chart.y_range());
                let all: Vec<(f64, f64)> = gen_pts.iter().chain(&real_pts).copied().collect();
                chart
                    .configure_series_labels()
                    .position(emptiest_corner(&all, &xr, &yr))
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font((FONT, 14))
                    .draw()
                    .map_err(draw_err(path))?;
            }
        }
        Ok(())
    })
}

/// The corner of the chart whose legend-sized box (40% of the width, 25% of the height)
/// holds the fewest points, so the legend hides as little data as it can.
fn emptiest_corner(
    points: &[(f64, f64)],
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
) -> SeriesLabelPosition {
    let (w, h) = (x.end - x.start, y.end - y.start);
    let count = |left: bool, top: bool| {
        points
            .iter()
            .filter(|&&(px, py)| {
                let in_x = if left {
                    px < x.start + 0.4 * w
                } else {
                    px > x.end - 0.4 * w
                };
                let in_y = if top {
                    py > y.end - 0.25 * h
                } else {
                    py < y.start + 0.25 * h
                };
                in_x && in_y
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, false, true),
        (SeriesLabelPosition::UpperLeft, true, true),
        (SeriesLabelPosition::LowerRight, false, false),
        (SeriesLabelPosition::LowerLeft, true, false),
    ]
    .into_iter()
    .min_by_key(|&(_, left, top)| count(left, top))
    .map_or(SeriesLabelPosition::UpperRight, |(p, _, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::test_util::{assert_png, normal};

    #[test]
    fn two_columns_draw_one_chart_and_more_a_pairs_plot() {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = 3;
        let mut rows = |n: usize, d: usize| -> Vec<f32> {
            (0..n * d)
                .map(|i| normal(&mut seed, (i % d) as f64, 0.3) as f32)
                .collect()
        };
        let names: Vec<String> = ["east_km", "north_km", "depth_m"]
            .map(String::from)
            .to_vec();
        let (real, generated) = (rows(300, 2), rows(200, 2));
        let labels: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let classes = vec!["north".to_string(), "south".to_string()];
        let path = dir.path().join("two.png");
        pairs_plot(
            &path,
            "csv",
            &names[..2],
            &real,
            &generated,
            Some((&labels, &classes)),
        )
        .unwrap();
        assert_png(&path, 700, 700);
        let (real, generated) = (rows(300, 3), rows(200, 3));
        let path = dir.path().join("three.png");
        pairs_plot(&path, "csv", &names, &real, &generated, None).unwrap();
        assert_png(&path, 900, 940);
        let err = pairs_plot(&path, "csv", &names[..1], &real, &generated, None);
        assert!(matches!(err, Err(PlotError::Empty { .. })));
        let err = pairs_plot(&path, "csv", &names, &real, &generated[..5], None);
        assert!(matches!(err, Err(PlotError::Draw { .. })));
    }
}
