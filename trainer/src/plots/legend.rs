//! Legends: drawn in the corner of the plot that hides the least data (beside the plot
//! when every corner would hide a mode of a scatter plot).

use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::{Chart, FONT, PlotError, draw_err};

/// Legend text size, in pixels.
pub(super) const LEGEND_FONT_SIZE: f64 = 16.0;

/// Padding inside the legend box, in pixels.
pub(super) const LEGEND_MARGIN: f64 = 12.0;

/// The legend box for every labelled series.
pub(super) fn draw_legend<'a, 'b: 'a>(
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
pub(super) const ALL_CORNERS: [SeriesLabelPosition; 4] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::LowerLeft,
];

/// The upper corners only (histograms fill the bottom of the chart).
pub(super) const UPPER_CORNERS: [SeriesLabelPosition; 2] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::UpperLeft,
];

/// Pixel size and data ranges of a plotting area.
pub(super) struct Frame {
    /// Width and height in pixels.
    pub(super) px: (f64, f64),
    /// The x range shown.
    pub(super) x: Range<f64>,
    /// The y range shown.
    pub(super) y: Range<f64>,
}

impl Frame {
    /// The frame of a built chart.
    pub(super) fn of(chart: &Chart<'_, '_>) -> Frame {
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
pub(super) fn legend_box(names: &[&str]) -> (f64, f64) {
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
pub(super) fn covered(
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
pub(super) fn legend_corner(
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
pub(super) fn densify(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
