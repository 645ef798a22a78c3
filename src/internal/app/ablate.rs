//! `convexgan ablate aux|streams|ns`: the paper's three studies (its Tables 4 and 5 and Fig. 4) as
//! commands, each a table of mean ± std over seeds (and, for `ns`, a plot) in the run directory.
//!
//! - `aux`: Phase 1 without and with the auxiliary classifier A, each alone and followed by
//!   Convex-GAN (two Phase 1 runs per seed: A changes what the streams learn).
//! - `streams`: one Phase 1 per seed, then Phase 1 alone, Convex-GAN generating only the shape
//!   half (the texture half real), only the texture half, and both.
//! - `ns`: one Phase 1 per seed, then Convex-GAN for every `N_s` of the list and every Q loss of
//!   the paper's figure (MSE, focal, LDAM). An `N_s` above the smallest dictionary is lowered to
//!   it, with a note in the table (values that meet there run once).
//!
//! The Phase 1 of a seed is shared by every row that the study allows to share it, so the rows of
//! a seed differ only in what the study varies.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::commit::StagedOutputs;
use super::{check_memory, check_memory_of, save_json, Overrides, RunDir};
use crate::backend::Backend;
use crate::config::{Config, GeneratedStreams, QLoss};
use crate::error::{Error, Result};
use crate::internal::io::atomic;
use crate::internal::report::{self, NsSeries};
use crate::metrics::Metrics;
use crate::model::Heads;
use crate::train::pipeline::{build_features_from, evaluate_q, load_data, run_phase1_on, Data};
use crate::train::Phase2Run;

/// Which of the paper's studies `ablate` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Study {
    /// Table 4: the auxiliary classifier's contribution.
    Aux,
    /// Table 5: generating one stream or both.
    Streams,
    /// Fig. 4: `N_s` against the Q loss.
    Ns,
}

impl Study {
    /// The command-line name (`aux`, `streams`, `ns`).
    pub fn name(self) -> &'static str {
        match self {
            Study::Aux => "aux",
            Study::Streams => "streams",
            Study::Ns => "ns",
        }
    }

    /// The stage name under which the run directory's manifest records the study's files.
    fn stage(self) -> &'static str {
        match self {
            Study::Aux => "ablate-aux",
            Study::Streams => "ablate-streams",
            Study::Ns => "ablate-ns",
        }
    }

    /// `ablate_<name>.md`: the table.
    pub fn table_file(self) -> String {
        format!("ablate_{}.md", self.name())
    }

    /// `ablate_<name>.json`: every row's metrics per seed.
    pub fn json_file(self) -> String {
        format!("ablate_{}.json", self.name())
    }

    /// `ablate_<name>_config.toml`: the configuration the rows vary from.
    pub fn config_file(self) -> String {
        format!("ablate_{}_config.toml", self.name())
    }
}

/// The plot of the `ns` study.
pub const ABLATE_NS_PLOT_FILE: &str = "ablate_ns.png";

/// The paper's `N_s` values (Fig. 4).
pub const PAPER_NS: [usize; 5] = [10, 50, 100, 200, 300];

/// The Q losses of the paper's Fig. 4, in its legend's order.
const NS_LOSSES: [QLoss; 3] = [QLoss::Mse, QLoss::Focal, QLoss::Ldam];

/// One row of a study: its label, what it varies, and its metrics per seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AblationRow {
    pub label: String,
    /// Q's loss in Phase 2 (`None` for Phase 1 alone).
    pub q_loss: Option<String>,
    /// `N_s` as run (after lowering to the smallest dictionary), when Phase 2 ran.
    pub ns: Option<usize>,
    /// `N_s` as asked, when it was lowered.
    pub ns_asked: Vec<usize>,
    pub seeds: Vec<u64>,
    pub metrics: Vec<Metrics>,
}

impl AblationRow {
    fn new(label: impl Into<String>, q_loss: Option<QLoss>, ns: Option<usize>) -> Self {
        AblationRow {
            label: label.into(),
            q_loss: q_loss.map(|l| l.name().to_string()),
            ns,
            ns_asked: Vec::new(),
            seeds: Vec::new(),
            metrics: Vec::new(),
        }
    }
}

/// Runs `study` over `seeds` (distinct, at least one) from the configuration `o` gives, and
/// commits `ablate_<study>.md`, `.json`, `_config.toml` (and for `ns` the plot
/// [`ABLATE_NS_PLOT_FILE`]) to `run_dir`. `ns_values` is the `ns` study's list (distinct, each
/// at least 1); the other studies ignore it.
pub fn ablate<B: Backend>(
    be: &B,
    run_dir: &RunDir,
    o: &Overrides,
    study: Study,
    seeds: &[u64],
    ns_values: &[usize],
) -> Result<()> {
    // Errors name the run directory's files, not their staging copies.
    let staged = || -> Result<()> { run_study(be, run_dir, o, study, seeds, ns_values) };
    staged().map_err(super::commit::unstage)
}

fn run_study<B: Backend>(
    be: &B,
    run_dir: &RunDir,
    o: &Overrides,
    study: Study,
    seeds: &[u64],
    ns_values: &[usize],
) -> Result<()> {
    super::compare::check_seeds(seeds)?;
    if study == Study::Ns {
        check_ns_values(ns_values)?;
    }
    let t = Instant::now();
    let lock = run_dir.lock()?;
    let mut out = StagedOutputs::begin(&lock, study.stage())?;
    let base = o.fresh_config()?;
    check_memory(be, &base, o.config.as_deref())?;
    let base_toml = base.to_toml()?;
    let mut rows: Vec<AblationRow> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut source = String::new();
    for &seed in seeds {
        let mut cfg = base.clone();
        cfg.seed = seed;
        let data = load_data(&cfg)?;
        check_memory_of(be, &cfg, o.config.as_deref(), &data)?;
        source.clone_from(&data.source);
        let runs = match study {
            Study::Aux => aux_rows(be, &cfg, &data, o.progress)?,
            Study::Streams => streams_rows(be, &cfg, &data, o.progress)?,
            Study::Ns => ns_rows(be, &cfg, &data, ns_values, o.progress, &mut notes)?,
        };
        for (row, metrics) in runs {
            eprintln!(
                "seed {seed} {:<44} top-1 {:.4} ACSA {:.4} GM {:.4}",
                row.label, metrics.top1, metrics.acsa, metrics.gm
            );
            let slot = match rows.iter().position(|r| r.label == row.label) {
                Some(i) => i,
                None => {
                    rows.push(row);
                    rows.len() - 1
                }
            };
            rows[slot].seeds.push(seed);
            rows[slot].metrics.push(metrics);
        }
    }
    notes.sort();
    notes.dedup();
    let table_rows: Vec<(String, Vec<Metrics>)> = rows
        .iter()
        .map(|r| (r.label.clone(), r.metrics.clone()))
        .collect();
    let table = report::compare_table(&table_rows);
    if study == Study::Ns {
        let series = ns_series(&rows);
        report::plot_ns_study(
            &out.path(ABLATE_NS_PLOT_FILE),
            &series,
            &format!(
                "Top-1, ACSA and GM against N_s by Q loss (mean ± std over {} seed{})",
                seeds.len(),
                if seeds.len() == 1 { "" } else { "s" }
            ),
        )?;
    }
    let wall = t.elapsed().as_secs_f64();
    save_json(&out.path(&study.json_file()), &rows)?;
    let mut md = format!(
        "# convexgan ablate {}\n\n{}\n\nPreset `{}`, data: {source}, seeds {seeds:?}, Phase 2's Q \
         loss {}, backend {}, wall time {wall:.0}s. Δ against the first row.\n\n{table}",
        study.name(),
        what_it_varies(study),
        base.preset,
        if study == Study::Ns {
            "as each row names".to_string()
        } else {
            format!("`{}`", base.phase2.q_loss.name())
        },
        be.name(),
    );
    if study == Study::Ns {
        md.push_str(&format!("\nPlot: `{ABLATE_NS_PLOT_FILE}`.\n"));
    }
    for n in &notes {
        md.push_str(&format!("\nNote: {n}\n"));
    }
    atomic::write(&out.path(&study.config_file()), base_toml.as_bytes())?;
    atomic::write(&out.path(&study.table_file()), md.as_bytes())?;
    out.commit()?;
    println!("{table}");
    for n in &notes {
        println!("note: {n}");
    }
    eprintln!("total {wall:.1}s on {}", be.name());
    Ok(())
}

fn what_it_varies(study: Study) -> &'static str {
    match study {
        Study::Aux => {
            "The auxiliary classifier A's contribution (the paper's Table 4): Phase 1 without and \
             with `CE(A)` in its loss, each alone and followed by Convex-GAN. Two Phase 1 runs per \
             seed."
        }
        Study::Streams => {
            "Generation per stream (the paper's Table 5, Fig. 3): from one Phase 1 per seed, Phase 1 \
             alone, then Convex-GAN generating only the shape half of a sample (its texture half a \
             real dictionary row of the same class), only the texture half, and both."
        }
        Study::Ns => {
            "Dictionary rows per generated sample `N_s` against Q's loss (the paper's Fig. 4), \
             from one Phase 1 per seed."
        }
    }
}

fn check_ns_values(ns: &[usize]) -> Result<()> {
    if ns.is_empty() {
        return Err(Error::invalid("--ns-values", "give at least one N_s"));
    }
    if ns.contains(&0) {
        return Err(Error::invalid("--ns-values", "N_s must be at least 1"));
    }
    if let Some(d) = super::compare::first_repeat(ns) {
        return Err(Error::invalid("--ns-values", format!("{d} is given twice")));
    }
    Ok(())
}

type Runs = Vec<(AblationRow, Metrics)>;

fn phase2_metrics<B: Backend>(
    be: &B,
    cfg: &Config,
    heads: &Heads<B>,
    data: &Data,
    dict: &crate::train::dictionary::Dictionary,
    progress: bool,
) -> Result<Metrics> {
    let (game, _) = Phase2Run::new(cfg).progress(progress).train(
        be,
        heads.q.clone(),
        data.split.train.n,
        dict,
    )?;
    evaluate_q(be, heads, &game.q, &data.test)
}

fn aux_rows<B: Backend>(be: &B, cfg: &Config, data: &Data, progress: bool) -> Result<Runs> {
    let mut phase1 = Vec::new();
    let mut gan = Vec::new();
    for aux in [false, true] {
        let mut c = cfg.clone();
        c.phase1.aux_classifier = aux;
        let train = &data.split.train;
        let (mut heads, _) = run_phase1_on(be, &c, train, data.d_in_s, progress)?;
        let feats = build_features_from(be, &c, &mut heads, train, &data.backbone)?;
        let with = if aux { "w/" } else { "w/o" };
        phase1.push((
            AblationRow::new(format!("Phase 1 {with} A"), None, None),
            evaluate_q(be, &heads, &heads.q, &data.test)?,
        ));
        gan.push((
            AblationRow::new(
                format!("Phase 1 {with} A + Convex-GAN"),
                Some(c.phase2.q_loss),
                Some(c.phase2.ns),
            ),
            phase2_metrics(be, &c, &heads, data, &feats.dict, progress)?,
        ));
    }
    phase1.extend(gan);
    Ok(phase1)
}

fn streams_rows<B: Backend>(be: &B, cfg: &Config, data: &Data, progress: bool) -> Result<Runs> {
    let train = &data.split.train;
    let (mut heads, _) = run_phase1_on(be, cfg, train, data.d_in_s, progress)?;
    let feats = build_features_from(be, cfg, &mut heads, train, &data.backbone)?;
    let mut rows = vec![(
        AblationRow::new("Phase 1 only", None, None),
        evaluate_q(be, &heads, &heads.q, &data.test)?,
    )];
    for (which, label) in [
        (GeneratedStreams::Shape, "Convex-GAN, shape stream only"),
        (GeneratedStreams::Texture, "Convex-GAN, texture stream only"),
        (GeneratedStreams::Both, "Convex-GAN, both streams"),
    ] {
        let mut c = cfg.clone();
        c.phase2.generate = which;
        rows.push((
            AblationRow::new(label, Some(c.phase2.q_loss), Some(c.phase2.ns)),
            phase2_metrics(be, &c, &heads, data, &feats.dict, progress)?,
        ));
    }
    Ok(rows)
}

fn ns_rows<B: Backend>(
    be: &B,
    cfg: &Config,
    data: &Data,
    ns_values: &[usize],
    progress: bool,
    notes: &mut Vec<String>,
) -> Result<Runs> {
    let train = &data.split.train;
    let (mut heads, _) = run_phase1_on(be, cfg, train, data.d_in_s, progress)?;
    let feats = build_features_from(be, cfg, &mut heads, train, &data.backbone)?;
    let smallest = feats.dict.min_rows();
    let mut asked_of: Vec<(usize, Vec<usize>)> = Vec::new();
    for &asked in ns_values {
        let ns = asked.min(smallest);
        if ns < asked {
            notes.push(format!(
                "N_s = {asked} exceeds the smallest dictionary ({smallest} rows) and ran as {ns}"
            ));
        }
        match asked_of.iter_mut().find(|(n, _)| *n == ns) {
            Some((_, a)) => a.push(asked),
            None => asked_of.push((ns, vec![asked])),
        }
    }
    asked_of.sort_by_key(|(n, _)| *n);
    let mut rows = Vec::new();
    for loss in NS_LOSSES {
        for (ns, asked) in &asked_of {
            let mut c = cfg.clone();
            c.phase2.q_loss = loss;
            c.phase2.ns = *ns;
            let mut row = AblationRow::new(
                format!("Convex-GAN {}, N_s = {ns}", loss.name()),
                Some(loss),
                Some(*ns),
            );
            if asked != &[*ns] {
                row.ns_asked.clone_from(asked);
            }
            rows.push((
                row,
                phase2_metrics(be, &c, &heads, data, &feats.dict, progress)?,
            ));
        }
    }
    Ok(rows)
}

/// The `ns` study's rows as the plot's series, one per loss.
fn ns_series(rows: &[AblationRow]) -> Vec<NsSeries> {
    let mut out: Vec<NsSeries> = Vec::new();
    for r in rows {
        let (Some(loss), Some(ns)) = (&r.q_loss, r.ns) else {
            continue;
        };
        let i = match out.iter().position(|s| &s.loss == loss) {
            Some(i) => i,
            None => {
                out.push(NsSeries {
                    loss: loss.clone(),
                    points: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[i].points.push((ns, r.metrics.clone()));
    }
    out
}
