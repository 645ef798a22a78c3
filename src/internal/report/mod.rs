//! Reports of a run: Markdown tables of the METHOD.md §5 metrics (one run per method, or several seeds per
//! method with mean ± std), a per-class table, and the per-class recall plot in the spirit of the
//! paper's Fig. 2.
//!
//! Tables are plain strings so that the caller decides where they go (stdout, a README, a file).

mod longtail_plots;
mod longtail_tables;
mod ns_plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::internal::io::atomic;
pub use crate::metrics::Metrics;
use crate::{Error, Result};
pub use longtail_plots::{plot_confusion, plot_reliability};
pub use longtail_tables::{class_scores_table, shot_table};
pub use ns_plot::{plot_ns_study, NsSeries, NS_PLOT_SIZE};

/// Label of the model before oversampling, as in the paper.
const BEFORE_LABEL: &str = "Phase 1";

/// Size of the recall plot in pixels.
pub const PLOT_SIZE: (u32, u32) = (900, 500);

const MISSING: &str = "—";

fn fmt3(x: f64) -> String {
    format!("{x:.3}")
}

/// Signed difference; a difference that rounds to zero prints as `+0.000` rather than `-0.000`
/// so that "no change" reads the same whichever side of zero the noise fell.
fn fmt_delta(d: f64) -> String {
    if !d.is_finite() {
        return MISSING.to_string();
    }
    if (d * 1000.0).round() == 0.0 {
        return "+0.000".to_string();
    }
    format!("{d:+.3}")
}

/// Method names are free text; a `|` would split the Markdown cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn push_row(out: &mut String, cells: &[String]) {
    out.push('|');
    for c in cells {
        let _ = write!(out, " {c} |");
    }
    out.push('\n');
}

/// Header plus the alignment row: first column left-aligned, the numbers right-aligned.
fn push_header(out: &mut String, names: &[&str]) {
    push_row(
        out,
        &names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    out.push('|');
    for (i, _) in names.iter().enumerate() {
        out.push_str(if i == 0 { " --- |" } else { " ---: |" });
    }
    out.push('\n');
}

/// One row per method: top-1, top-5 (only when some row has it), ACSA and GM, 3 decimals.
pub fn metrics_table(rows: &[(String, Metrics)]) -> String {
    let with_top5 = rows.iter().any(|(_, m)| m.top5.is_some());
    let mut header = vec!["Method", "Top-1"];
    if with_top5 {
        header.push("Top-5");
    }
    header.extend(["ACSA", "GM"]);
    let mut out = String::new();
    push_header(&mut out, &header);
    for (name, m) in rows {
        let mut cells = vec![cell(name), fmt3(m.top1)];
        if with_top5 {
            cells.push(m.top5.map_or(MISSING.to_string(), fmt3));
        }
        cells.extend([fmt3(m.acsa), fmt3(m.gm)]);
        push_row(&mut out, &cells);
    }
    out
}

/// Mean and sample standard deviation (n − 1); the deviation is `None` for fewer than two values
/// and the mean is `None` for none.
pub fn mean_std(values: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (Some(mean), None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (Some(mean), Some(var.sqrt()))
}

fn fmt_mean_std(values: &[f64]) -> String {
    match mean_std(values) {
        (None, _) => MISSING.to_string(),
        (Some(m), None) => fmt3(m),
        (Some(m), Some(s)) => format!("{m:.3} ± {s:.3}"),
    }
}

/// One row per method, each metric as `mean ± std` over its seeds (sample std; just the mean for
/// one seed), with Δ ACSA and Δ GM against the first row's means.
pub fn compare_table(rows: &[(String, Vec<Metrics>)]) -> String {
    let with_top5 = rows
        .iter()
        .any(|(_, runs)| runs.iter().any(|m| m.top5.is_some()));
    let mut header = vec!["Method", "Seeds", "Top-1"];
    if with_top5 {
        header.push("Top-5");
    }
    header.extend(["ACSA", "Δ ACSA", "GM", "Δ GM"]);

    let column =
        |runs: &[Metrics], f: fn(&Metrics) -> f64| -> Vec<f64> { runs.iter().map(f).collect() };
    let reference = rows.first().map(|(_, runs)| {
        (
            mean_std(&column(runs, |m| m.acsa)).0,
            mean_std(&column(runs, |m| m.gm)).0,
        )
    });
    let delta = |mean: Option<f64>, reference: Option<f64>| match (mean, reference) {
        (Some(m), Some(r)) => fmt_delta(m - r),
        _ => MISSING.to_string(),
    };

    let mut out = String::new();
    push_header(&mut out, &header);
    for (name, runs) in rows {
        let acsa = column(runs, |m| m.acsa);
        let gm = column(runs, |m| m.gm);
        let mut cells = vec![
            cell(name),
            runs.len().to_string(),
            fmt_mean_std(&column(runs, |m| m.top1)),
        ];
        if with_top5 {
            let top5: Vec<f64> = runs.iter().filter_map(|m| m.top5).collect();
            cells.push(fmt_mean_std(&top5));
        }
        let (ref_acsa, ref_gm) = reference.unwrap_or((None, None));
        cells.push(fmt_mean_std(&acsa));
        cells.push(delta(mean_std(&acsa).0, ref_acsa));
        cells.push(fmt_mean_std(&gm));
        cells.push(delta(mean_std(&gm).0, ref_gm));
        push_row(&mut out, &cells);
    }
    out
}

fn class_name(class_names: &[&str], i: usize) -> String {
    class_names
        .get(i)
        .map_or_else(|| format!("class {i}"), |s| s.to_string())
}

/// One row per class in label order: training count, share of the training data, recall before
/// (Phase 1) and after oversampling, and the change. Lists disagreeing in length are padded with
/// `—` rather than rejected, since a table is for reading, not for further computation.
pub fn per_class_table(
    class_names: &[&str],
    train_counts: &[usize],
    before: &Metrics,
    after: &Metrics,
) -> String {
    let n = class_names
        .len()
        .max(train_counts.len())
        .max(before.recall.len())
        .max(after.recall.len());
    let total: usize = train_counts.iter().sum();
    let mut out = String::new();
    push_header(
        &mut out,
        &[
            "Class",
            "Train count",
            "Share",
            "Recall (Phase 1)",
            "Recall (oversampled)",
            "Δ recall",
        ],
    );
    for i in 0..n {
        let count = train_counts.get(i).copied();
        let share = match count {
            Some(c) if total > 0 => format!("{:.2}%", 100.0 * c as f64 / total as f64),
            _ => MISSING.to_string(),
        };
        let b = before.recall.get(i).copied();
        let a = after.recall.get(i).copied();
        push_row(
            &mut out,
            &[
                cell(&class_name(class_names, i)),
                count.map_or(MISSING.to_string(), |c| c.to_string()),
                share,
                b.map_or(MISSING.to_string(), fmt3),
                a.map_or(MISSING.to_string(), fmt3),
                match (a, b) {
                    (Some(a), Some(b)) => fmt_delta(a - b),
                    _ => MISSING.to_string(),
                },
            ],
        );
    }
    out
}

/// Registers a TTF under "sans-serif" once per process. Returns whether text can be drawn.
fn ensure_font() -> bool {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        let preferred = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
        ];
        let mut candidates: Vec<PathBuf> = preferred.iter().map(PathBuf::from).collect();
        let mut found = Vec::new();
        find_ttf(Path::new("/usr/share/fonts"), 0, &mut found);
        found.sort();
        candidates.extend(found);
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // plotters keeps fonts for the life of the process and wants 'static bytes; the
            // OnceLock makes this the only leak.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Some(path);
            }
        }
        tracing::warn!(
            "no usable .ttf font under /usr/share/fonts (install fonts-dejavu-core); \
             plots are drawn without text"
        );
        None
    })
    .is_some()
}

fn find_ttf(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_ttf(&path, depth + 1, out);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("ttf"))
        {
            out.push(path);
        }
    }
}

/// A PNG of per-class recall before ("Phase 1") and after oversampling (`after_label`) as grouped
/// bars, with each class's share of the training data as a line on the same 0–1 axis; classes
/// are ordered by training count, most to least, as in the paper's Fig. 2.
///
/// The image is always PNG, whatever `path`'s extension. It is rendered to a temporary file in the
/// same directory and renamed over `path`, so a reader never sees a half-written plot. Without a
/// usable font the chart is drawn without text (a warning is logged).
pub fn plot_recall(
    path: &Path,
    class_names: &[&str],
    train_counts: &[usize],
    before: &Metrics,
    after: &Metrics,
    after_label: &str,
) -> Result<()> {
    let n = train_counts.len();
    if n == 0 {
        return Err(Error::invalid("recall plot", "no classes"));
    }
    for (what, len) in [
        ("class names", class_names.len()),
        ("Phase 1 recall", before.recall.len()),
        ("oversampled recall", after.recall.len()),
    ] {
        if len != n {
            return Err(Error::invalid(
                "recall plot",
                format!("{len} {what} for {n} training counts"),
            ));
        }
    }
    let text = ensure_font();
    let data = PlotData::new(class_names, train_counts, before, after, after_label);
    render_atomic(path, |tmp| draw_recall(tmp, &data, text))
}

struct PlotData {
    /// In plotting order (training count, descending).
    names: Vec<String>,
    counts: Vec<usize>,
    before: Vec<f64>,
    after: Vec<f64>,
    share: Vec<f64>,
    after_label: String,
}

impl PlotData {
    fn new(
        class_names: &[&str],
        train_counts: &[usize],
        before: &Metrics,
        after: &Metrics,
        after_label: &str,
    ) -> Self {
        let mut order: Vec<usize> = (0..train_counts.len()).collect();
        // Stable, so equal counts keep label order.
        order.sort_by_key(|&i| std::cmp::Reverse(train_counts[i]));
        let total = train_counts.iter().sum::<usize>().max(1) as f64;
        PlotData {
            names: order.iter().map(|&i| class_names[i].to_string()).collect(),
            counts: order.iter().map(|&i| train_counts[i]).collect(),
            before: order.iter().map(|&i| before.recall[i]).collect(),
            after: order.iter().map(|&i| after.recall[i]).collect(),
            share: order
                .iter()
                .map(|&i| train_counts[i] as f64 / total)
                .collect(),
            after_label: after_label.to_string(),
        }
    }
}

/// Renders with `draw` into a temporary `.png` next to `path` (the encoder picks the format from
/// the extension) and renames it over `path`; the temporary file is removed on failure.
fn render_atomic(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    // The user asked for `path`; an error drawing into the temporary file names `path`.
    atomic::write_with(path, "png", |tmp| {
        draw(tmp).map_err(|e| match e {
            Error::BadFile { path: p, msg } if p == tmp => Error::BadFile {
                path: path.to_path_buf(),
                msg,
            },
            other => other,
        })
    })
}

fn draw_recall(tmp: &Path, d: &PlotData, text: bool) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::bad_file(tmp, format!("drawing the plot: {e}"));
    let n = d.names.len();
    let root = BitMapBackend::new(tmp, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;

    let before_color = RGBColor(120, 144, 180);
    let after_color = RGBColor(230, 126, 34);
    let share_color = BLACK;

    let (top, plot_area) = root.split_vertically(if text { 64 } else { 16 });
    if text {
        let title = format!("Per-class recall: {BEFORE_LABEL} vs. {}", d.after_label);
        top.draw_text(
            &title,
            &("sans-serif", 20).into_font().color(&BLACK),
            (20, 8),
        )
        .map_err(|e| fail(&e))?;
        // The legend sits above the chart because head classes have tall bars at the left and
        // tail classes the lowest recall at the right: no corner inside the plot stays clear.
        let font = ("sans-serif", 14).into_font().color(&BLACK);
        let entries: [(&str, ShapeStyle, bool); 3] = [
            (
                &format!("{BEFORE_LABEL} (no oversampling)"),
                before_color.filled(),
                false,
            ),
            (&d.after_label, after_color.filled(), false),
            ("share of training data", share_color.stroke_width(2), true),
        ];
        let mut x = 70;
        for (label, style, is_line) in entries {
            if is_line {
                top.draw(&PathElement::new(vec![(x, 47), (x + 22, 47)], style))
                    .map_err(|e| fail(&e))?;
                top.draw(&Circle::new((x + 11, 47), 3, share_color.filled()))
                    .map_err(|e| fail(&e))?;
            } else {
                top.draw(&Rectangle::new([(x, 40), (x + 22, 54)], style))
                    .map_err(|e| fail(&e))?;
            }
            top.draw_text(label, &font, (x + 28, 39))
                .map_err(|e| fail(&e))?;
            let width = top.estimate_text_size(label, &font).map_or(150, |(w, _)| w);
            x += 28 + width as i32 + 30;
        }
    }

    let mut builder = ChartBuilder::on(&plot_area);
    builder.margin_right(20).margin_left(16);
    if text {
        builder.x_label_area_size(62).y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..1.0f64)
        .map_err(|e| fail(&e))?;

    // Class names are drawn by hand below: plotters' own x ticks fall where its tick algorithm
    // puts them, not necessarily one per class.
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .x_labels(0)
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12));
    if text {
        mesh.y_label_formatter(&|y| format!("{y:.1}"))
            .y_labels(6)
            .x_desc("class (most to fewest training samples)")
            .y_desc("recall / share of training data")
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14));
    } else {
        mesh.y_labels(0);
    }
    mesh.draw().map_err(|e| fail(&e))?;

    // Two bars per class in a 0.8-wide group, centred on the class.
    let bar = 0.38;
    let clamp = |v: f64| v.clamp(0.0, 1.0);
    let bars = |values: &[f64], offset: f64, color: RGBColor| {
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| {
                let x0 = i as f64 + offset;
                Rectangle::new([(x0, 0.0), (x0 + bar, clamp(v))], color.filled())
            })
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(bars(&d.before, -bar, before_color))
        .map_err(|e| fail(&e))?;
    chart
        .draw_series(bars(&d.after, 0.0, after_color))
        .map_err(|e| fail(&e))?;
    let share: Vec<(f64, f64)> = d
        .share
        .iter()
        .enumerate()
        .map(|(i, &s)| (i as f64, clamp(s)))
        .collect();
    chart
        .draw_series(LineSeries::new(share.clone(), share_color.stroke_width(2)))
        .map_err(|e| fail(&e))?;
    chart
        .draw_series(
            share
                .into_iter()
                .map(|p| Circle::new(p, 4, share_color.filled())),
        )
        .map_err(|e| fail(&e))?;

    if text {
        let font = ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        let count_font = ("sans-serif", 11)
            .into_font()
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (i, (name, count)) in d.names.iter().zip(&d.counts).enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, 0.0));
            root.draw(&PathElement::new(vec![(x, y), (x, y + 4)], BLACK))
                .map_err(|e| fail(&e))?;
            root.draw_text(name, &font, (x, y + 7))
                .map_err(|e| fail(&e))?;
            root.draw_text(&format!("n = {count}"), &count_font, (x, y + 22))
                .map_err(|e| fail(&e))?;
        }
    }

    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback when no font exists: no text may be drawn, since drawing text without a
    /// registered font is an error. This unit test never registers a font (the integration tests,
    /// which do, run in another process).
    #[test]
    fn draws_without_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notext.png");
        let m = |r: Vec<f64>| Metrics {
            top1: 0.5,
            top5: None,
            acsa: 0.5,
            gm: 0.5,
            recall: r,
            support: vec![10; 3],
            confusion: vec![vec![0; 3]; 3],
            per_class: Vec::new(),
            calibration: None,
        };
        let data = PlotData::new(
            &["a", "b", "c"],
            &[10, 100, 1],
            &m(vec![0.9, 0.5, 0.1]),
            &m(vec![0.8, 0.6, 0.4]),
            "after",
        );
        assert_eq!(data.names, ["b", "a", "c"]);
        render_atomic(&path, |tmp| draw_recall(tmp, &data, false)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Only the final file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
