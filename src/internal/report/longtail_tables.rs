//! The long-tail report's tables: accuracy by shot group (fixed thresholds and terciles) with the
//! expected calibration error, and per-class precision, recall, F1 and specificity.

use super::{cell, fmt3, fmt_mean_std, push_header, push_row, MISSING};
use crate::metrics::{shot_groups, Metrics, ShotThresholds};
use crate::Result;

/// One row per method: many / medium / few-shot accuracy, the same by terciles, and ECE, each
/// `mean ± std` over the method's runs; `counts` are the training images per class. Below the
/// table, a note for every empty group.
pub fn shot_table(
    rows: &[(String, Vec<Metrics>)],
    counts: &[usize],
    t: ShotThresholds,
) -> Result<String> {
    let zeros = vec![0.0; counts.len()];
    let (fixed, terciles) = shot_groups(&zeros, counts, t)?;
    let mut header: Vec<String> = vec!["Method".into()];
    header.extend(fixed.iter().chain(&terciles).map(|g| g.name.clone()));
    header.push("ECE".into());
    let mut out = String::new();
    push_header(
        &mut out,
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for (name, runs) in rows {
        let mut per_group: Vec<Vec<f64>> = vec![Vec::new(); fixed.len() + terciles.len()];
        let mut ece = Vec::new();
        for m in runs {
            let (f, tc) = shot_groups(&m.recall, counts, t)?;
            for (acc, g) in per_group.iter_mut().zip(f.iter().chain(&tc)) {
                acc.extend(g.accuracy);
            }
            ece.extend(m.calibration.as_ref().map(|c| c.ece));
        }
        let mut cells = vec![cell(name)];
        cells.extend(per_group.iter().map(|v| {
            if v.is_empty() {
                MISSING.to_string()
            } else {
                fmt_mean_std(v)
            }
        }));
        cells.push(if ece.is_empty() {
            MISSING.to_string()
        } else {
            fmt_mean_std(&ece)
        });
        push_row(&mut out, &cells);
    }
    let classes = |cs: &[usize]| {
        cs.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push('\n');
    for g in fixed.iter().chain(&terciles) {
        if g.classes.is_empty() {
            out.push_str(&format!(
                "- {}: no class falls in this group, so it is empty (—).\n",
                g.name
            ));
        } else {
            out.push_str(&format!("- {}: classes {}\n", g.name, classes(&g.classes)));
        }
    }
    Ok(out)
}

/// One row per class: training count, precision, recall, F1 and specificity of `m`.
pub fn class_scores_table(class_names: &[&str], counts: &[usize], m: &Metrics) -> String {
    let mut out = String::new();
    push_header(
        &mut out,
        &[
            "Class",
            "Train count",
            "Precision",
            "Recall",
            "F1",
            "Specificity",
        ],
    );
    let f = |v: Option<f64>| v.map_or(MISSING.to_string(), fmt3);
    for (c, s) in m.per_class.iter().enumerate() {
        push_row(
            &mut out,
            &[
                cell(class_names.get(c).copied().unwrap_or("?")),
                counts.get(c).map_or(MISSING.to_string(), |n| n.to_string()),
                f(s.precision),
                f(s.recall),
                f(s.f1),
                f(s.specificity),
            ],
        );
    }
    out
}
