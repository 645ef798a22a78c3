//! The long-tail report's pictures: the row-normalised confusion matrix with the classes ordered
//! by training count, and the reliability diagram of a classifier's confidence.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ensure_font, render_atomic};
use crate::metrics::{Calibration, Metrics};
use crate::{Error, Result};

/// Size of the confusion-matrix PNG.
pub const CONFUSION_SIZE: (u32, u32) = (820, 720);
/// Size of the reliability diagram.
pub const RELIABILITY_SIZE: (u32, u32) = (640, 600);

fn fail(tmp: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::bad_file(tmp, format!("drawing the plot: {e}"))
}

/// White → dark blue.
fn shade(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
}

/// A PNG of `m`'s confusion matrix, each row divided by its class's test count, rows (truth) and
/// columns (prediction) ordered by training count, most first; each cell prints its fraction
/// when there are at most 20 classes. Written atomically.
pub fn plot_confusion(
    path: &Path,
    class_names: &[&str],
    train_counts: &[usize],
    m: &Metrics,
    title: &str,
) -> Result<()> {
    let n = train_counts.len();
    if n == 0 || class_names.len() != n || m.confusion.len() != n {
        return Err(Error::invalid(
            "confusion plot",
            format!(
                "{} names, {n} counts, a {}-row matrix",
                class_names.len(),
                m.confusion.len()
            ),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(train_counts[i]));
    let text = ensure_font();
    render_atomic(path, |tmp| {
        let fail = fail(tmp);
        let root = BitMapBackend::new(tmp, CONFUSION_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let (left, top, size) = (170i32, 92i32, 560i32);
        let cell = size as f64 / n as f64;
        if text {
            root.draw_text(
                title,
                &("sans-serif", 18).into_font().color(&BLACK),
                (20, 12),
            )
            .map_err(|e| fail(&e))?;
            root.draw_text(
                "rows: true class, columns: predicted; each row sums to 1; classes by training count",
                &("sans-serif", 12).into_font().color(&RGBColor(80, 80, 80)),
                (20, 40),
            )
            .map_err(|e| fail(&e))?;
        }
        for (r, &t) in order.iter().enumerate() {
            let total: u64 = m.confusion[t].iter().sum();
            for (c, &p) in order.iter().enumerate() {
                let v = if total == 0 {
                    0.0
                } else {
                    m.confusion[t][p] as f64 / total as f64
                };
                let x0 = left + (c as f64 * cell) as i32;
                let y0 = top + (r as f64 * cell) as i32;
                let x1 = left + ((c + 1) as f64 * cell) as i32;
                let y1 = top + ((r + 1) as f64 * cell) as i32;
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], shade(v).filled()))
                    .map_err(|e| fail(&e))?;
                if text && n <= 20 {
                    let color = if v > 0.5 { WHITE } else { BLACK };
                    let font = ("sans-serif", if n <= 12 { 13 } else { 10 })
                        .into_font()
                        .color(&color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw_text(&format!("{v:.2}"), &font, ((x0 + x1) / 2, (y0 + y1) / 2))
                        .map_err(|e| fail(&e))?;
                }
            }
        }
        root.draw(&Rectangle::new(
            [(left, top), (left + size, top + size)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| fail(&e))?;
        if text {
            let row_font = ("sans-serif", 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center));
            for (r, &t) in order.iter().enumerate() {
                let y = top + ((r as f64 + 0.5) * cell) as i32;
                let label = format!("{} ({})", class_names[t], train_counts[t]);
                root.draw_text(&label, &row_font, (left - 6, y))
                    .map_err(|e| fail(&e))?;
            }
            // Column labels: the class index in the row order, to keep them from overlapping.
            let col_font = ("sans-serif", 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top));
            for (c, &p) in order.iter().enumerate() {
                let x = left + ((c as f64 + 0.5) * cell) as i32;
                root.draw_text(&p.to_string(), &col_font, (x, top + size + 6))
                    .map_err(|e| fail(&e))?;
            }
            root.draw_text(
                "predicted class (label index)",
                &("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Top)),
                (left + size / 2, top + size + 26),
            )
            .map_err(|e| fail(&e))?;
            root.draw_text(
                "true class (training images)",
                &("sans-serif", 13).into_font().color(&BLACK),
                (8, top - 20),
            )
            .map_err(|e| fail(&e))?;
            // Colour bar.
            let (bx, by, bh) = (left + size + 20, top, size);
            for i in 0..bh {
                let v = 1.0 - i as f64 / bh as f64;
                root.draw(&Rectangle::new(
                    [(bx, by + i), (bx + 18, by + i + 1)],
                    shade(v).filled(),
                ))
                .map_err(|e| fail(&e))?;
            }
            let f = ("sans-serif", 12).into_font().color(&BLACK);
            for (v, y) in [(1.0, by), (0.5, by + bh / 2), (0.0, by + bh - 12)] {
                root.draw_text(&format!("{v:.1}"), &f, (bx + 24, y))
                    .map_err(|e| fail(&e))?;
            }
        }
        root.present().map_err(|e| fail(&e))?;
        Ok(())
    })
}

/// A reliability diagram: per confidence bin, the accuracy as a bar beside the diagonal of
/// perfect calibration, the gap to the bin's mean confidence shaded, and the ECE in the title.
/// Written atomically.
pub fn plot_reliability(path: &Path, cal: &Calibration, title: &str) -> Result<()> {
    if cal.bins.is_empty() {
        return Err(Error::invalid("reliability diagram", "no bins"));
    }
    let text = ensure_font();
    render_atomic(path, |tmp| {
        let fail = fail(tmp);
        let root = BitMapBackend::new(tmp, RELIABILITY_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let (top, area) = root.split_vertically(if text { 64 } else { 10 });
        let acc_color = RGBColor(31, 119, 180);
        let gap_color = RGBColor(214, 39, 40);
        if text {
            top.draw_text(
                &format!("{title}: ECE {:.3}", cal.ece),
                &("sans-serif", 17).into_font().color(&BLACK),
                (16, 8),
            )
            .map_err(|e| fail(&e))?;
            let f = ("sans-serif", 13).into_font().color(&BLACK);
            top.draw(&Rectangle::new([(20, 38), (38, 52)], acc_color.filled()))
                .map_err(|e| fail(&e))?;
            top.draw_text("accuracy of the bin", &f, (44, 38))
                .map_err(|e| fail(&e))?;
            top.draw(&Rectangle::new(
                [(200, 38), (218, 52)],
                gap_color.mix(0.35).filled(),
            ))
            .map_err(|e| fail(&e))?;
            top.draw_text("gap to its mean confidence", &f, (224, 38))
                .map_err(|e| fail(&e))?;
            top.draw(&PathElement::new(
                vec![(430, 45), (452, 45)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| fail(&e))?;
            top.draw_text("perfect calibration", &f, (458, 38))
                .map_err(|e| fail(&e))?;
        }
        let mut b = ChartBuilder::on(&area);
        b.margin(16);
        if text {
            b.x_label_area_size(44).y_label_area_size(52);
        }
        let mut chart = b
            .build_cartesian_2d(0.0..1.0f64, 0.0..1.0f64)
            .map_err(|e| fail(&e))?;
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.1));
        if text {
            mesh.x_desc("confidence (largest softmax probability)")
                .y_desc("accuracy")
                .label_style(("sans-serif", 12))
                .axis_desc_style(("sans-serif", 13));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| fail(&e))?;
        // (lo, hi, accuracy, confidence) of the bins that hold samples.
        let filled: Vec<(f64, f64, f64, f64)> = cal
            .bins
            .iter()
            .filter_map(|b| Some((b.lo, b.hi, b.accuracy?, b.confidence?)))
            .collect();
        let bar = |&(x0, x1, acc, _): &(f64, f64, f64, f64)| [(x0, 0.0), (x1, acc)];
        chart
            .draw_series(
                filled
                    .iter()
                    .map(|b| Rectangle::new(bar(b), acc_color.filled())),
            )
            .map_err(|e| fail(&e))?;
        // Over-confident bins: the gap sits on top of the bar, shaded. Under-confident ones:
        // it lies inside the bar, outlined so the bar's colour stays readable.
        chart
            .draw_series(filled.iter().map(|&(x0, x1, acc, conf)| {
                let style = if conf > acc {
                    gap_color.mix(0.35).filled()
                } else {
                    gap_color.stroke_width(2)
                };
                Rectangle::new([(x0, acc.min(conf)), (x1, acc.max(conf))], style)
            }))
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(
                filled
                    .iter()
                    .map(|b| Rectangle::new(bar(b), BLACK.stroke_width(1))),
            )
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
        Ok(())
    })
}
