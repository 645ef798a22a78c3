//! `convexgan compare`: every method from one Phase 1 per seed, one table.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::commit::StagedOutputs;
use super::{
    check_memory, check_memory_of, save_json, Overrides, RunDir, COMPARE_CONFIG_FILE, COMPARE_FILE,
    COMPARE_JSON_FILE,
};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::internal::io::atomic;
use crate::internal::report;
use crate::metrics::Metrics;
use crate::train::pipeline::{
    build_features_from, evaluate_q, load_data, run_method, run_phase1_on, Method,
};
use crate::train::EpochLog;

/// One row of the comparison: a method's metrics over seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareRow {
    pub method: String,
    pub seeds: Vec<u64>,
    pub metrics: Vec<Metrics>,
    pub logs: Vec<Vec<EpochLog>>,
}

/// Where `compare` puts each method's plots (of the first seed).
pub const COMPARE_PLOTS_DIR: &str = "compare_plots";

/// `methods` (every method of [`Method::all`] when empty) from one Phase 1 checkpoint per seed:
/// `compare.md` (the metrics, the shot groups and ECE), `compare_per_class.md`, `compare.json`,
/// and per method a recall, a confusion-matrix and a reliability PNG in `compare_plots/`.
pub fn compare<B: Backend>(
    be: &B,
    run_dir: &RunDir,
    o: &Overrides,
    seeds: &[u64],
    methods: &[Method],
) -> Result<()> {
    compare_in(be, run_dir, o, seeds, methods).map_err(super::commit::unstage)
}

fn compare_in<B: Backend>(
    be: &B,
    run_dir: &RunDir,
    o: &Overrides,
    seeds: &[u64],
    methods: &[Method],
) -> Result<()> {
    check_seeds(seeds)?;
    let t = Instant::now();
    let lock = run_dir.lock()?;
    let mut out = StagedOutputs::begin(&lock, "compare")?;
    let base = o.fresh_config()?;
    check_memory(be, &base, o.config.as_deref())?;
    // Written with the table at the end, never to config.toml: a comparison that fails leaves the
    // run directory as it was, and one that succeeds leaves the stages' configuration alone.
    let base_toml = base.to_toml()?;
    let methods = if methods.is_empty() {
        Method::all()
    } else {
        methods.to_vec()
    };
    if let Some(m) = first_repeat(&methods) {
        return Err(Error::invalid(
            "--methods",
            format!("{} is given twice", m.name()),
        ));
    }
    let mut counts: Vec<usize> = Vec::new();
    let mut class_names: Vec<String> = Vec::new();
    let mut rows: Vec<CompareRow> = methods
        .iter()
        .map(|m| CompareRow {
            method: m.label(),
            seeds: Vec::new(),
            metrics: Vec::new(),
            logs: Vec::new(),
        })
        .collect();
    for &seed in seeds {
        let mut cfg = base.clone();
        cfg.seed = seed;
        let data = load_data(&cfg)?;
        check_memory_of(be, &cfg, o.config.as_deref(), &data)?;
        let train = &data.split.train;
        if counts.is_empty() {
            counts = data.split.counts.clone();
            class_names = data.class_names.clone();
        }
        let (mut heads, _) = run_phase1_on(be, &cfg, train, data.d_in_s, o.progress)?;
        let feats = build_features_from(be, &cfg, &mut heads, train, &data.backbone)?;
        for (row, &m) in rows.iter_mut().zip(&methods) {
            let tm = Instant::now();
            let (q, logs) = run_method(
                be,
                &cfg,
                &heads,
                train,
                &data.split.val,
                &feats,
                m,
                o.progress,
            )?;
            let metrics = evaluate_q(be, &heads, &q, &data.test)?;
            eprintln!(
                "seed {seed} {:<34} top-1 {:.4} ACSA {:.4} GM {:.4} ({:.1}s)",
                row.method,
                metrics.top1,
                metrics.acsa,
                metrics.gm,
                tm.elapsed().as_secs_f64()
            );
            row.seeds.push(seed);
            row.metrics.push(metrics);
            row.logs.push(logs);
        }
    }
    let table_rows: Vec<(String, Vec<Metrics>)> = rows
        .iter()
        .map(|r| (r.method.clone(), r.metrics.clone()))
        .collect();
    let table = report::compare_table(&table_rows);
    let shots = report::shot_table(&table_rows, &counts, base.shots)?;
    let names: Vec<&str> = class_names.iter().map(String::as_str).collect();
    // Plots of methods this comparison did not run would describe another one.
    for old in old_plots(run_dir) {
        out.remove(&old);
    }
    let mut per_class = format!(
        "# convexgan compare: per class (seed {})\n\nTraining counts {counts:?}.\n",
        seeds[0]
    );
    let phase1 = rows
        .iter()
        .find(|r| r.method == Method::Phase1.label())
        .map(|r| r.metrics[0].clone());
    for (row, m) in rows.iter().zip(&methods) {
        let first = &row.metrics[0];
        per_class.push_str(&format!(
            "\n## {}\n\n{}",
            row.method,
            report::class_scores_table(&names, &counts, first)
        ));
        let file = |what: &str| format!("{COMPARE_PLOTS_DIR}/{}_{what}.png", m.name());
        report::plot_confusion(
            &out.path(&file("confusion")),
            &names,
            &counts,
            first,
            &row.method,
        )?;
        if let Some(c) = &first.calibration {
            report::plot_reliability(&out.path(&file("reliability")), c, &row.method)?;
        }
        if let Some(p1) = &phase1 {
            report::plot_recall(
                &out.path(&file("recall")),
                &names,
                &counts,
                p1,
                first,
                &row.method,
            )?;
        }
    }
    let wall = t.elapsed().as_secs_f64();
    save_json(&out.path(COMPARE_JSON_FILE), &rows)?;
    let md = format!(
        "# convexgan compare\n\nPreset `{}`, data: {}, seeds {:?}, backend {}, wall time {:.0}s.\n\n{}\n\
         ## Long-tail view\n\nAccuracy (mean recall) of the many-, medium- and few-shot classes \
         (by training images; `shots` in the configuration) and of the class terciles, and the \
         expected calibration error (15 bins). Training counts {counts:?}.\n\n{}\n\
         Per-class precision, recall, F1 and specificity: `compare_per_class.md`; per method a \
         recall, confusion-matrix and reliability plot (seed {}): `{COMPARE_PLOTS_DIR}/`.\n",
        base.preset,
        match &base.data.features {
            Some(p) => format!("features {}", p.display()),
            None => format!("Fashion-MNIST-LT, imbalance {}", base.data.imbalance),
        },
        seeds,
        be.name(),
        wall,
        table,
        shots,
        seeds[0],
    );
    atomic::write(&out.path(COMPARE_CONFIG_FILE), base_toml.as_bytes())?;
    atomic::write(&out.path(COMPARE_PER_CLASS_FILE), per_class.as_bytes())?;
    atomic::write(&out.path(COMPARE_FILE), md.as_bytes())?;
    out.commit()?;
    println!("{table}\n{shots}");
    eprintln!("total {wall:.1}s on {}", be.name());
    Ok(())
}

/// The files now in the run directory's `compare_plots/`, relative to the run directory.
fn old_plots(run_dir: &RunDir) -> Vec<String> {
    std::fs::read_dir(run_dir.path().join(COMPARE_PLOTS_DIR))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| format!("{COMPARE_PLOTS_DIR}/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}

/// An error unless `seeds` holds at least one seed and no seed twice.
pub(super) fn check_seeds(seeds: &[u64]) -> Result<()> {
    if seeds.is_empty() {
        return Err(Error::invalid("--seeds", "give at least one seed"));
    }
    if let Some(dup) = first_repeat(seeds) {
        // A repeated seed repeats a run: the mean and std would count it twice.
        return Err(Error::invalid(
            "--seeds",
            format!("seed {dup} is given twice; each seed must be distinct"),
        ));
    }
    Ok(())
}

/// The first value that appears earlier in `v` too.
pub(super) fn first_repeat<T: PartialEq>(v: &[T]) -> Option<&T> {
    v.iter()
        .enumerate()
        .find_map(|(i, x)| v[..i].contains(x).then_some(x))
}

/// Per-class scores of every method of `compare`.
pub const COMPARE_PER_CLASS_FILE: &str = "compare_per_class.md";
