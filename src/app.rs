//! What the command line does, as library functions generic over the backend, so the integration
//! tests drive exactly the code users run. Each stage reads its inputs from the run directory and
//! writes its outputs there atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::atomic_write::write_atomic;
use crate::backend::{Backend, Precision};
use crate::config::{Config, QLoss};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model::{Heads, HeadsSpec};
use crate::nn::ParamStore;
use crate::report;
use crate::train::checkpoint;
use crate::train::dictionary::Dictionary;
use crate::train::pipeline::{
    build_features_from, evaluate_q, heads_spec, load_data, run_convex_gan_with, run_method,
    run_phase1_on, Method,
};
use crate::train::EpochLog;

pub const CONFIG_FILE: &str = "config.toml";
pub const PHASE1_FILE: &str = "phase1.safetensors";
pub const DICT_FILE: &str = "dictionary.safetensors";
pub const PHASE2_FILE: &str = "phase2.safetensors";
/// Phase 2's checkpoint while it runs (removed once `phase2.safetensors` is written).
pub const PHASE2_CHECKPOINT_FILE: &str = "phase2.ckpt.safetensors";
pub const METRICS_FILE: &str = "metrics.json";
pub const REPORT_FILE: &str = "report.md";
pub const PLOT_FILE: &str = "recall.png";

/// Command-line values that replace configuration values.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub preset: Option<String>,
    pub config: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub features: Option<PathBuf>,
    pub imbalance: Option<f64>,
    pub class_counts: Option<Vec<usize>>,
    pub q_loss: Option<QLoss>,
    pub ns: Option<usize>,
    pub lambda: Option<f64>,
    pub epochs: Option<usize>,
    pub phase1_epochs: Option<usize>,
    pub seed: Option<u64>,
    pub dict_precision: Option<Precision>,
    pub test_limit: Option<usize>,
    pub progress: bool,
    /// Continue Phase 2 from its checkpoint in the run directory, if there is one.
    pub resume: bool,
    /// Phase 2 iterations between checkpoints (0 = none).
    pub checkpoint_every: usize,
}

impl Overrides {
    fn apply(&self, c: &mut Config) {
        if let Some(v) = &self.data {
            c.data.dir = v.clone();
        }
        if let Some(v) = &self.features {
            c.data.features = Some(v.clone());
        }
        if let Some(v) = self.imbalance {
            c.data.imbalance = v;
        }
        if let Some(v) = &self.class_counts {
            c.data.class_counts = Some(v.clone());
        }
        if let Some(v) = self.q_loss {
            c.phase2.q_loss = v;
        }
        if let Some(v) = self.ns {
            c.phase2.ns = v;
        }
        if let Some(v) = self.lambda {
            c.phase2.lambda = v;
        }
        if let Some(v) = self.epochs {
            c.phase2.epochs = v;
        }
        if let Some(v) = self.phase1_epochs {
            c.phase1.epochs = v;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        if let Some(v) = self.dict_precision {
            c.dict.precision = v;
        }
        if let Some(v) = self.test_limit {
            c.data.test_limit = Some(v);
        }
    }

    /// A fresh configuration: `--config`, else `--preset` (default `fmnist`), then the flags.
    pub fn fresh_config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::preset(self.preset.as_deref().unwrap_or("fmnist"))?,
        };
        self.apply(&mut c);
        c.validate()?;
        Ok(c)
    }

    /// The run directory's configuration with the flags applied (for the stages after Phase 1).
    pub fn saved_config(&self, run_dir: &Path) -> Result<Config> {
        let path = run_dir.join(CONFIG_FILE);
        if !path.exists() {
            return Err(Error::invalid(
                "run directory",
                format!(
                    "{} has no {CONFIG_FILE}: run `convexgan phase1 --run-dir {}` first",
                    run_dir.display(),
                    run_dir.display()
                ),
            ));
        }
        let mut c = Config::load(&path)?;
        self.apply(&mut c);
        c.validate()?;
        Ok(c)
    }
}

/// [`memory::check`](crate::memory::check), naming the file the configuration came from.
fn check_memory<B: Backend>(be: &B, cfg: &Config, source: Option<&Path>) -> Result<()> {
    // The estimate models Fashion-MNIST's sizes; a features file's size is only known once read.
    if cfg.data.features.is_some() {
        return Ok(());
    }
    crate::memory::check(be, cfg).map_err(|e| match source {
        Some(p) => Error::bad_file(p, e.to_string()),
        None => e,
    })
}

fn save_config(run_dir: &Path, cfg: &Config) -> Result<()> {
    write_atomic(&run_dir.join(CONFIG_FILE), cfg.to_toml()?.as_bytes())
}

fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::invalid("json", e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// The Phase 1 heads of a run directory; their input width and class count come from the
/// checkpoint's metadata and must match `expect` (the data's) when given.
fn load_heads<B: Backend>(
    be: &B,
    cfg: &Config,
    run_dir: &Path,
    expect: Option<&HeadsSpec>,
) -> Result<Heads<B>> {
    let path = run_dir.join(PHASE1_FILE);
    let store = ParamStore::load(&path)?;
    let meta = |k: &str| -> Result<Option<usize>> {
        match store.metadata.get(k) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::bad_file(&path, format!("metadata '{k}' is not a number: '{v}'"))
            }),
        }
    };
    let need = |k: &str| -> Result<usize> {
        meta(k)?.ok_or_else(|| Error::bad_file(&path, format!("metadata '{k}' missing")))
    };
    let d_in = need("d_in")?;
    let d_in_s = meta("d_in_s")?;
    let spec = HeadsSpec {
        d_in_t: d_in - d_in_s.unwrap_or(0).min(d_in),
        d_in_s,
        classes: need("classes")?,
        landmarks: meta("landmarks")?.unwrap_or(0),
    };
    if let Some(e) = expect {
        if (e.d_in_t, e.d_in_s, e.classes) != (spec.d_in_t, spec.d_in_s, spec.classes) {
            return Err(Error::bad_file(
                &path,
                format!(
                    "heads were trained on {d_in} inputs ({:?} from a second backbone) and {} classes, the data has {} ({:?}) and {}",
                    spec.d_in_s, spec.classes, e.d_in_t + e.d_in_s.unwrap_or(0), e.d_in_s, e.classes
                ),
            ));
        }
    }
    let mut rng = crate::train::pipeline::stage_rng(cfg.seed, crate::train::pipeline::STREAM_INIT);
    let mut heads = Heads::from_spec(be, &cfg.model, &spec, &mut rng)?;
    heads.import(be, &store)?;
    Ok(heads)
}

/// The Phase 1 heads of a run directory (with its landmark module, when it has one), for callers
/// that want to look at what Phase 1 learned.
pub fn load_phase1_heads<B: Backend>(be: &B, run_dir: &Path) -> Result<Heads<B>> {
    let cfg = Overrides::default().saved_config(run_dir)?;
    load_heads(be, &cfg, run_dir, None)
}

/// Stage 1.
pub fn phase1<B: Backend>(be: &B, run_dir: &Path, o: &Overrides) -> Result<()> {
    let cfg = o.fresh_config()?;
    check_memory(be, &cfg, o.config.as_deref())?;
    let data = load_data(&cfg)?;
    let t = Instant::now();
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
    store.save(&run_dir.join(PHASE1_FILE))?;
    save_json(&run_dir.join("phase1_log.json"), &logs)?;
    // Written last, so a stage that fails leaves nothing behind.
    save_config(run_dir, &cfg)?;
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

/// Stage 2.
pub fn build_dict<B: Backend>(be: &B, run_dir: &Path, o: &Overrides) -> Result<()> {
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.join(CONFIG_FILE)))?;
    let data = load_data(&cfg)?;
    let train = &data.split.train;
    let mut heads = load_heads(be, &cfg, run_dir, Some(&heads_spec(train, data.d_in_s)?))?;
    let feats = build_features_from(be, &cfg, &mut heads, train, &data.backbone)?;
    feats.dict.save(&run_dir.join(DICT_FILE))?;
    save_config(run_dir, &cfg)?;
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

/// Stage 3.
pub fn phase2<B: Backend>(be: &B, run_dir: &Path, o: &Overrides) -> Result<()> {
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.join(CONFIG_FILE)))?;
    let dict = Dictionary::load(&run_dir.join(DICT_FILE))?;
    let heads = load_heads(be, &cfg, run_dir, None)?;
    dict.check_fits(
        &run_dir.join(DICT_FILE),
        heads.classes,
        heads.d_t(),
        heads.d_s(),
    )?;
    let n_train: usize = dict.counts.iter().sum();
    let t = Instant::now();
    let plan = checkpoint::Plan {
        path: run_dir.join(PHASE2_CHECKPOINT_FILE),
        every: o.checkpoint_every,
        resume: o.resume,
    };
    let (game, logs) = run_convex_gan_with(
        be,
        &cfg,
        &cfg.phase2,
        heads.q.clone(),
        n_train,
        &dict,
        o.progress,
        Some(&plan),
    )?;
    let mut store = ParamStore::new();
    game.q.export(be, &mut store)?;
    game.g.net.export(be, &mut store)?;
    game.d.net.export(be, &mut store)?;
    store.metadata.insert("stage".into(), "phase2".into());
    store
        .metadata
        .insert("q_loss".into(), cfg.phase2.q_loss.name().into());
    store.save(&run_dir.join(PHASE2_FILE))?;
    save_json(&run_dir.join("phase2_log.json"), &logs)?;
    save_config(run_dir, &cfg)?;
    plan.finish()?;
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

/// Stage 4.
pub fn eval<B: Backend>(be: &B, run_dir: &Path, o: &Overrides) -> Result<()> {
    let cfg = o.saved_config(run_dir)?;
    check_memory(be, &cfg, Some(&run_dir.join(CONFIG_FILE)))?;
    let data = load_data(&cfg)?;
    let test = &data.test;
    let heads = load_heads(be, &cfg, run_dir, Some(&heads_spec(test, data.d_in_s)?))?;
    let store = ParamStore::load(&run_dir.join(PHASE2_FILE))?;
    let mut q2 = heads.q.clone();
    q2.import(be, &store)?;
    let before = evaluate_q(be, &heads, &heads.q, test)?;
    let after = evaluate_q(be, &heads, &q2, test)?;
    let counts = data.split.counts.clone();
    let result = RunMetrics {
        train_counts: counts.clone(),
        phase1: before.clone(),
        convex_gan: after.clone(),
        q_loss: cfg.phase2.q_loss,
    };
    save_json(&run_dir.join(METRICS_FILE), &result)?;
    let label = format!("Convex-GAN ({})", cfg.phase2.q_loss.name());
    let names: Vec<&str> = data.class_names.iter().map(String::as_str).collect();
    let table = report::metrics_table(&[
        ("Phase 1 only (no oversampling)".to_string(), before.clone()),
        (label.clone(), after.clone()),
    ]);
    let md = format!(
        "# convexgan run\n\nPreset `{}`, seed {}, data: {} (training counts {:?}), Q loss {}, N_s = {}, λ = {}.\n\n{}\n\n## Per class\n\n{}\n\n![recall per class]({PLOT_FILE})\n",
        cfg.preset,
        cfg.seed,
        data.source,
        counts,
        cfg.phase2.q_loss.name(),
        cfg.phase2.ns,
        cfg.phase2.lambda,
        table,
        report::per_class_table(&names, &counts, &before, &after),
    );
    write_atomic(&run_dir.join(REPORT_FILE), md.as_bytes())?;
    report::plot_recall(
        &run_dir.join(PLOT_FILE),
        &names,
        &counts,
        &before,
        &after,
        &label,
    )?;
    println!("{table}");
    println!("report: {}", run_dir.join(REPORT_FILE).display());
    Ok(())
}

/// The main job: every stage in sequence.
pub fn run<B: Backend>(be: &B, run_dir: &Path, o: &Overrides) -> Result<()> {
    let t = Instant::now();
    let later = Overrides {
        preset: None,
        config: None,
        ..o.clone()
    };
    if o.resume && run_dir.join(PHASE2_CHECKPOINT_FILE).exists() {
        eprintln!("resuming: Phase 1 and the dictionary are taken from the run directory");
    } else {
        phase1(be, run_dir, o)?;
        build_dict(be, run_dir, &later)?;
    }
    phase2(be, run_dir, &later)?;
    eval(be, run_dir, &later)?;
    eprintln!("total {:.1}s on {}", t.elapsed().as_secs_f64(), be.name());
    Ok(())
}

/// One row of the comparison: a method's metrics over seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareRow {
    pub method: String,
    pub seeds: Vec<u64>,
    pub metrics: Vec<Metrics>,
    pub logs: Vec<Vec<EpochLog>>,
}

/// Every method of [`Method::all`] from one Phase 1 checkpoint per seed.
pub fn compare<B: Backend>(be: &B, run_dir: &Path, o: &Overrides, seeds: &[u64]) -> Result<()> {
    if seeds.is_empty() {
        return Err(Error::invalid("--seeds", "give at least one seed"));
    }
    let t = Instant::now();
    let base = o.fresh_config()?;
    check_memory(be, &base, o.config.as_deref())?;
    save_config(run_dir, &base)?;
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
    save_json(&run_dir.join("compare.json"), &rows)?;
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
    write_atomic(&run_dir.join("compare.md"), md.as_bytes())?;
    println!("{table}");
    eprintln!("total {wall:.1}s on {}", be.name());
    Ok(())
}
