//! `convexgan compare`: every method from one Phase 1 per seed, one table.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{check_memory, save_json, Overrides, RunDir};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::metrics::Metrics;
use crate::report;
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

/// Every method of [`Method::all`] from one Phase 1 checkpoint per seed.
pub fn compare<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides, seeds: &[u64]) -> Result<()> {
    if seeds.is_empty() {
        return Err(Error::invalid("--seeds", "give at least one seed"));
    }
    if let Some(dup) = seeds
        .iter()
        .enumerate()
        .find_map(|(i, s)| seeds[..i].contains(s).then_some(s))
    {
        // A repeated seed repeats a run: the mean and std would count it twice.
        return Err(Error::invalid(
            "--seeds",
            format!("seed {dup} is given twice; each seed must be distinct"),
        ));
    }
    let t = Instant::now();
    let base = o.fresh_config()?;
    check_memory(be, &base, o.config.as_deref())?;
    // Written with the table at the end, never to config.toml: a comparison that fails leaves the
    // run directory as it was, and one that succeeds leaves the stages' configuration alone.
    let base_toml = base.to_toml()?;
    let methods = Method::all();
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
        let train = &data.split.train;
        let (mut heads, _) = run_phase1_on(be, &cfg, train, data.d_in_s, o.progress)?;
        let feats = build_features_from(be, &cfg, &mut heads, train, &data.backbone)?;
        for (row, &m) in rows.iter_mut().zip(&methods) {
            let tm = Instant::now();
            let (q, logs) = run_method(be, &cfg, &heads, train, &feats, m, o.progress)?;
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
    let wall = t.elapsed().as_secs_f64();
    save_json(&run_dir.compare_json(), &rows)?;
    let md = format!(
        "# convexgan compare\n\nPreset `{}`, data: {}, seeds {:?}, backend {}, wall time {:.0}s.\n\n{}\n",
        base.preset,
        match &base.data.features {
            Some(p) => format!("features {}", p.display()),
            None => format!("Fashion-MNIST-LT, imbalance {}", base.data.imbalance),
        },
        seeds,
        be.name(),
        wall,
        table
    );
    atomic::write(&run_dir.compare_config(), base_toml.as_bytes())?;
    atomic::write(&run_dir.compare_report(), md.as_bytes())?;
    println!("{table}");
    eprintln!("total {wall:.1}s on {}", be.name());
    Ok(())
}
