//! The picture of `convexgan ablate ns` (the paper's Fig. 4): top-1, ACSA and GM against `N_s`,
//! one line per Q loss, each point the mean over seeds with a bar of ± one standard deviation.

use std::path::Path;

use plotters::prelude::*;

use super::{ensure_font, mean_std, render_atomic};
use crate::metrics::Metrics;
use crate::{Error, Result};

/// Size of the three-panel PNG.
pub const NS_PLOT_SIZE: (u32, u32) = (1500, 520);

/// One Q loss's points: `(N_s, the metrics of each seed)`, in increasing `N_s`.
pub struct NsSeries {
    pub loss: String,
    pub points: Vec<(usize, Vec<Metrics>)>,
}

/// One number of a run's metrics.
type MetricOf = fn(&Metrics) -> f64;

/// The paper's colours: orange LDAM, grey focal, blue MSE; others after them.
fn color_of(loss: &str, i: usize) -> RGBColor {
    match loss {
        "ldam" => RGBColor(237, 125, 49),
        "focal" => RGBColor(140, 140, 140),
        "mse" => RGBColor(68, 114, 196),
        _ => [RGBColor(44, 160, 44), RGBColor(148, 103, 189)][i % 2],
    }
}

/// Three panels (top-1 in %, ACSA, GM) of `series` against `N_s` (its values evenly spaced), `title` above
/// them. Written atomically; an error when there is no point to draw.
pub fn plot_ns_study(path: &Path, series: &[NsSeries], title: &str) -> Result<()> {
    let ns: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let Some(&lo) = ns.iter().min() else {
        return Err(Error::invalid("N_s plot", "no points"));
    };
    if lo == 0
        || series
            .iter()
            .any(|s| s.points.iter().any(|p| p.1.is_empty()))
    {
        return Err(Error::invalid(
            "N_s plot",
            "a point with N_s = 0 or no runs",
        ));
    }
    let mut ticks = ns.clone();
    ticks.sort_unstable();
    ticks.dedup();
    let text = ensure_font();
    let metrics: [(&str, MetricOf); 3] = [
        ("Top-1 (%)", |m| 100.0 * m.top1),
        ("ACSA", |m| m.acsa),
        ("GM", |m| m.gm),
    ];
    render_atomic(path, |tmp| {
        let fail =
            |e: &dyn std::fmt::Display| Error::bad_file(tmp, format!("drawing the plot: {e}"));
        let root = BitMapBackend::new(tmp, NS_PLOT_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let (top, body) = root.split_vertically(if text { 70 } else { 10 });
        if text {
            top.draw_text(
                title,
                &("sans-serif", 18).into_font().color(&BLACK),
                (16, 8),
            )
            .map_err(|e| fail(&e))?;
            let f = ("sans-serif", 14).into_font().color(&BLACK);
            for (i, s) in series.iter().enumerate() {
                let x = 20 + 160 * i as i32;
                let c = color_of(&s.loss, i);
                top.draw(&PathElement::new(
                    vec![(x, 50), (x + 28, 50)],
                    c.stroke_width(3),
                ))
                .map_err(|e| fail(&e))?;
                top.draw_text(&s.loss, &f, (x + 34, 42))
                    .map_err(|e| fail(&e))?;
            }
        }
        // The N_s values run, evenly spaced as in the paper's figure (their spacing is not the
        // story, the trend is), padded so that the end points are not on the frame.
        let at = |n: usize| ticks.iter().position(|&t| t == n).unwrap_or(0) as f64;
        let (x0, x1) = (-0.5, ticks.len() as f64 - 0.5);
        for (panel, (name, f)) in body.split_evenly((1, 3)).iter().zip(metrics) {
            let all: Vec<(f64, f64)> = series
                .iter()
                .flat_map(|s| s.points.iter())
                .map(|(_, runs)| {
                    let v: Vec<f64> = runs.iter().map(f).collect();
                    let (m, sd) = mean_std(&v);
                    (m.unwrap_or(0.0), sd.unwrap_or(0.0))
                })
                .collect();
            let ymin = all.iter().map(|(m, s)| m - s).fold(f64::INFINITY, f64::min);
            let ymax = all
                .iter()
                .map(|(m, s)| m + s)
                .fold(f64::NEG_INFINITY, f64::max);
            let pad = ((ymax - ymin) * 0.15).max(1e-3 * ymax.abs().max(1.0));
            let mut b = ChartBuilder::on(panel);
            b.margin(14);
            if text {
                b.caption(name, ("sans-serif", 16))
                    .x_label_area_size(40)
                    .y_label_area_size(56);
            }
            let mut chart = b
                .build_cartesian_2d(x0..x1, (ymin - pad)..(ymax + pad))
                .map_err(|e| fail(&e))?;
            let mut mesh = chart.configure_mesh();
            mesh.light_line_style(WHITE.mix(0.0))
                .bold_line_style(BLACK.mix(0.1));
            let label_ns = |v: &f64| {
                let i = v.round();
                if (v - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                ticks
                    .get(i as usize)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            };
            if text {
                mesh.x_desc("N_s (dictionary rows per sample)")
                    .x_labels(ticks.len() + 1)
                    .x_label_formatter(&label_ns)
                    .label_style(("sans-serif", 12))
                    .axis_desc_style(("sans-serif", 13));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|e| fail(&e))?;
            for (i, s) in series.iter().enumerate() {
                let c = color_of(&s.loss, i);
                // Each loss a little aside, so that the bars of equal points stay apart.
                let dodge = (i as f64 - (series.len() - 1) as f64 / 2.0) * 0.06;
                let pts: Vec<(f64, f64, f64)> = s
                    .points
                    .iter()
                    .map(|(n, runs)| {
                        let v: Vec<f64> = runs.iter().map(f).collect();
                        let (m, sd) = mean_std(&v);
                        (at(*n) + dodge, m.unwrap_or(0.0), sd.unwrap_or(0.0))
                    })
                    .collect();
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|&(x, m, _)| (x, m)),
                        c.stroke_width(2),
                    ))
                    .map_err(|e| fail(&e))?;
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&(x, m, _)| Circle::new((x, m), 4, c.filled())),
                    )
                    .map_err(|e| fail(&e))?;
                chart
                    .draw_series(pts.iter().filter(|p| p.2 > 0.0).map(|&(x, m, sd)| {
                        PathElement::new(vec![(x, m - sd), (x, m + sd)], c.stroke_width(1))
                    }))
                    .map_err(|e| fail(&e))?;
            }
        }
        root.present().map_err(|e| fail(&e))?;
        Ok(())
    })
}
