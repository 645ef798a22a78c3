//! The four stages of a run, each from and into the run directory.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::commit::{unstage, RunLock, StagedOutputs};
use super::{
    check_memory, check_memory_of, check_memory_of_dictionaries, load_heads, save_json, Overrides,
    RunDir, CONFIG_FILE, CONFUSION_FILE, DICT_FILE, METRICS_FILE, PHASE1_FILE, PHASE1_LOG_FILE,
    PHASE2_CHECKPOINT_FILE, PHASE2_FILE, PHASE2_LOG_FILE, PLOT_FILE, RELIABILITY_FILE, REPORT_FILE,
};
use crate::backend::Backend;
use crate::config::Config;
use crate::config::QLoss;
use crate::error::Result;
use crate::internal::io::atomic;
use crate::internal::report;
use crate::metrics::Metrics;
use crate::nn::ParamStore;
use crate::train::checkpoint;
use crate::train::dictionary::Dictionary;
use crate::train::pipeline::{
    build_features_from, evaluate_q, heads_spec, load_data, run_phase1_on,
};
use crate::train::Phase2Run;

/// Stage 1: trains the heads, writes `phase1.safetensors`, its log and `config.toml` as one set.
pub fn phase1<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    phase1_in(be, &run_dir.lock()?, o).map_err(unstage)
}

pub(super) fn phase1_in<B: Backend>(be: &B, lock: &RunLock, o: &Overrides) -> Result<()> {
    let cfg = o.fresh_config()?;
    check_memory(be, &cfg, o.config.as_deref())?;
    let data = load_data(&cfg)?;
    check_memory_of(be, &cfg, o.config.as_deref(), &data)?;
    let t = Instant::now();
    let mut out = StagedOutputs::begin(lock, "phase1")?;
    let (heads, logs) = run_phase1_on(be, &cfg, &data.split.train, data.d_in_s, o.progress)?;
    let mut store = ParamStore::new();
    heads.export(be, &mut store)?;
    store.metadata.insert("stage".into(), "phase1".into());
    let train = &data.split.train;
    store.metadata.insert("d_in".into(), train.dim.to_string());
    if let Some(d) = data.d_in_s {
        store.metadata.insert("d_in_s".into(), d.to_string());
    }
    if let Some(l) = &train.landmarks {
        store.metadata.insert("landmarks".into(), l.k.to_string());
    }
    store
        .metadata
        .insert("classes".into(), train.classes.to_string());
    store.save(&out.path(PHASE1_FILE))?;
    save_json(&out.path(PHASE1_LOG_FILE), &logs)?;
    save_config(&mut out, &cfg)?;
    // A Phase 2 checkpoint continues from the old heads; resuming it would mix two runs.
    out.remove(PHASE2_CHECKPOINT_FILE);
    out.commit()?;
    eprintln!(
        "phase 1: {} epochs on {} images in {:.1}s, final CE(Q) {:.4}",
        logs.len(),
        data.split.train.n,
        t.elapsed().as_secs_f64(),
        logs.last()
            .and_then(|l| l.losses.get("ce_q"))
            .copied()
            .unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Stage 2: freezes the streams and writes `dictionary.safetensors`.
pub fn build_dict<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    build_dict_in(be, &run_dir.lock()?, o).map_err(unstage)
}

pub(super) fn build_dict_in<B: Backend>(be: &B, lock: &RunLock, o: &Overrides) -> Result<()> {
    let run_dir = lock.run_dir();
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.config()))?;
    let data = load_data(&cfg)?;
    check_memory_of(be, &cfg, Some(&run_dir.config()), &data)?;
    let train = &data.split.train;
    let mut heads = load_heads(be, &cfg, run_dir, Some(&heads_spec(train, data.d_in_s)?))?;
    let mut out = StagedOutputs::begin(lock, "build-dict")?;
    out.read_inputs(&[PHASE1_FILE])?;
    let feats = build_features_from(be, &cfg, &mut heads, train, &data.backbone)?;
    feats.dict.save(&out.path(DICT_FILE))?;
    save_config(&mut out, &cfg)?;
    out.remove(PHASE2_CHECKPOINT_FILE);
    out.commit()?;
    eprintln!(
        "dictionary: {} rows ({} per class at most, {}), d_t = {}, d_s = {}",
        feats.dict.layout.total(),
        cfg.dict.max_rows_per_class,
        cfg.dict.precision.name(),
        feats.dict.d_t,
        feats.dict.d_s
    );
    Ok(())
}

/// Stage 3: Phase 2 from the dictionary (resuming its checkpoint with `--resume`); writes
/// `phase2.safetensors` and its log, and removes the checkpoint, as one set.
pub fn phase2<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    phase2_in(be, &run_dir.lock()?, o).map_err(unstage)
}

pub(super) fn phase2_in<B: Backend>(be: &B, lock: &RunLock, o: &Overrides) -> Result<()> {
    let run_dir = lock.run_dir();
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.config()))?;
    let dict = Dictionary::load(&run_dir.dictionary())?;
    check_memory_of_dictionaries(be, &cfg, Some(&run_dir.config()), &dict.counts)?;
    let heads = load_heads(be, &cfg, run_dir, None)?;
    dict.check_fits(
        &run_dir.dictionary(),
        heads.classes,
        heads.d_t(),
        heads.d_s(),
    )?;
    let mut out = StagedOutputs::begin(lock, "phase2")?;
    out.read_inputs(&[PHASE1_FILE, DICT_FILE])?;
    let n_train: usize = dict.counts.iter().sum();
    let t = Instant::now();
    let plan = checkpoint::Plan {
        path: run_dir.phase2_checkpoint(),
        every: o.checkpoint_every,
        resume: o.resume,
    };
    let (game, logs) = Phase2Run::new(&cfg)
        .checkpoint(plan)
        .progress(o.progress)
        .train(be, heads.q.clone(), n_train, &dict)?;
    let mut store = ParamStore::new();
    game.q.export(be, &mut store)?;
    game.g.net.export(be, &mut store)?;
    game.d.net.export(be, &mut store)?;
    store.metadata.insert("stage".into(), "phase2".into());
    store
        .metadata
        .insert("q_loss".into(), cfg.phase2.q_loss.name().into());
    store.save(&out.path(PHASE2_FILE))?;
    save_json(&out.path(PHASE2_LOG_FILE), &logs)?;
    save_config(&mut out, &cfg)?;
    out.remove(PHASE2_CHECKPOINT_FILE);
    out.commit()?;
    eprintln!(
        "phase 2: {} epochs, Q loss {}, N_s = {}, in {:.1}s",
        logs.len(),
        cfg.phase2.q_loss.name(),
        cfg.phase2.ns,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What `eval` writes to metrics.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMetrics {
    pub train_counts: Vec<usize>,
    pub phase1: Metrics,
    pub convex_gan: Metrics,
    pub q_loss: QLoss,
}

/// Stage 4: test metrics of Phase 1 and Phase 2; writes `metrics.json`, `report.md` and its
/// plots as one set.
pub fn eval<B: Backend>(be: &B, run_dir: &RunDir, o: &Overrides) -> Result<()> {
    eval_in(be, &run_dir.lock()?, o).map_err(unstage)
}

pub(super) fn eval_in<B: Backend>(be: &B, lock: &RunLock, o: &Overrides) -> Result<()> {
    let run_dir = lock.run_dir();
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.config()))?;
    let data = load_data(&cfg)?;
    check_memory_of(be, &cfg, Some(&run_dir.config()), &data)?;
    let test = &data.test;
    let heads = load_heads(be, &cfg, run_dir, Some(&heads_spec(test, data.d_in_s)?))?;
    let store = ParamStore::load(&run_dir.phase2())?;
    let mut q2 = heads.q.clone();
    q2.import(be, &store)?;
    let mut out = StagedOutputs::begin(lock, "eval")?;
    out.read_inputs(&[PHASE1_FILE, PHASE2_FILE])?;
    let before = evaluate_q(be, &heads, &heads.q, test)?;
    let after = evaluate_q(be, &heads, &q2, test)?;
    let counts = data.split.counts.clone();
    let result = RunMetrics {
        train_counts: counts.clone(),
        phase1: before.clone(),
        convex_gan: after.clone(),
        q_loss: cfg.phase2.q_loss,
    };
    save_json(&out.path(METRICS_FILE), &result)?;
    let label = format!("Convex-GAN ({})", cfg.phase2.q_loss.name());
    let table = report::metrics_table(&[
        ("Phase 1 only (no oversampling)".to_string(), before.clone()),
        (label.clone(), after.clone()),
    ]);
    let names: Vec<&str> = data.class_names.iter().map(String::as_str).collect();
    let shots = report::shot_table(
        &[
            ("Phase 1 only".to_string(), vec![before.clone()]),
            (label.clone(), vec![after.clone()]),
        ],
        &counts,
        cfg.shots,
    )?;
    let md = format!(
        "# convexgan run\n\nPreset `{}`, seed {}, data: {} (training counts {:?}), Q loss {}, N_s = {}, λ = {}.\n\n{}\n\n\
         ## Long-tail view\n\nAccuracy (mean recall) of the many-, medium- and few-shot classes and of the class \
         terciles, and the expected calibration error (15 bins).\n\n{}\n\
         ## Per class\n\n{}\n\n![recall per class]({PLOT_FILE})\n\n\
         ### {label}: precision, recall, F1, specificity\n\n{}\n\
         ![confusion matrix]({CONFUSION_FILE})\n\n![reliability diagram]({RELIABILITY_FILE})\n",
        cfg.preset,
        cfg.seed,
        data.source,
        counts,
        cfg.phase2.q_loss.name(),
        cfg.phase2.ns,
        cfg.phase2.lambda,
        table,
        shots,
        report::per_class_table(&names, &counts, &before, &after),
        report::class_scores_table(&names, &counts, &after),
    );
    atomic::write(&out.path(REPORT_FILE), md.as_bytes())?;
    report::plot_recall(
        &out.path(PLOT_FILE),
        &names,
        &counts,
        &before,
        &after,
        &label,
    )?;
    report::plot_confusion(&out.path(CONFUSION_FILE), &names, &counts, &after, &label)?;
    match &after.calibration {
        Some(c) => report::plot_reliability(&out.path(RELIABILITY_FILE), c, &label)?,
        None => out.remove(RELIABILITY_FILE),
    }
    out.commit()?;
    println!("{table}");
    println!("report: {}", run_dir.report().display());
    Ok(())
}

/// The stage's configuration as `config.toml` of its set.
fn save_config(out: &mut StagedOutputs, cfg: &Config) -> Result<()> {
    atomic::write(&out.path(CONFIG_FILE), cfg.to_toml()?.as_bytes())
}
