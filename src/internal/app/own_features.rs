//! The commands on a user's own arrays: `resample` (fit a sampler, write the data with the
//! synthetic rows appended), `sample` (draw from a saved sampler) and `predict` (a run's
//! fine-tuned Q on new rows). Inputs and outputs are checked before any work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{load_heads, Manifest, Overrides, RunDir, PHASE1_FILE, PHASE2_FILE};
use crate::backend::Backend;
use crate::data::arrays::{read_features, read_labelled, write_npz, write_npz_arrays, Matrix};
use crate::error::{Error, Result};
use crate::internal::io::atomic;
use crate::nn::{Mode, ParamStore};
use crate::sampler::{fit, FittedSampler, SamplerOptions, Strategy};

/// What `convexgan resample` does.
#[derive(Clone, Debug)]
pub struct ResampleJob {
    pub x: PathBuf,
    /// Labels; `None` when `x` is an `.npz` with `y` or a CSV with `label_column`.
    pub y: Option<PathBuf>,
    pub label_column: String,
    pub out: PathBuf,
    pub strategy: Strategy,
    pub options: SamplerOptions,
    /// Where to save the fitted sampler, for `sample` later.
    pub save_sampler: Option<PathBuf>,
    pub progress: bool,
}

/// `convexgan resample`: writes `out` (`.npz` with `x` and `y`: the input rows, then the synthetic
/// ones) and, when asked, the sampler.
pub fn resample<B: Backend>(be: &B, job: &ResampleJob) -> Result<()> {
    atomic::check_output(&job.out, "--out")?;
    if let Some(p) = &job.save_sampler {
        atomic::check_output(p, "--save-sampler")?;
    }
    job.options.validate()?;
    let data = read_labelled(&job.x, job.y.as_deref(), &job.label_column)?;
    let t = Instant::now();
    let sampler = fit(be, &data.x, &data.y, &job.options, job.progress)?;
    let plan = sampler.plan(&job.strategy)?;
    let (x, y) = sampler.resample(be, &data.x, &data.y, &job.strategy)?;
    tracing::info!("resample: rows drawn at {:.2}s", t.elapsed().as_secs_f64());
    write_npz(&job.out, &x, &y)?;
    tracing::info!("resample: written at {:.2}s", t.elapsed().as_secs_f64());
    if let Some(p) = &job.save_sampler {
        sampler.save(p)?;
    }
    let added: Vec<String> = plan
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(l, n)| format!("{l}: +{n}"))
        .collect();
    eprintln!(
        "resample: {} rows of {} features, {} classes, N_s = {}, {} Phase 2 iterations, in {:.1}s; \
         added {} → {}",
        data.x.rows,
        data.x.cols,
        sampler.labels.len(),
        sampler.ns,
        job.options.phase2_iterations(data.x.rows),
        t.elapsed().as_secs_f64(),
        if added.is_empty() {
            "nothing".to_string()
        } else {
            added.join(", ")
        },
        job.out.display()
    );
    Ok(())
}

/// `convexgan sample`: `n` rows of class `label` from a saved sampler, seeded, to `out`
/// (`.npz` with `x` and `y`).
pub fn sample<B: Backend>(
    be: &B,
    sampler: &Path,
    label: u32,
    n: usize,
    seed: u64,
    out: &Path,
) -> Result<()> {
    atomic::check_output(out, "--out")?;
    let s = FittedSampler::load(sampler)?;
    let mut rng = crate::train::stage_rng(seed, crate::sampler::fit::STREAM_SAMPLE);
    let x = s.on(be)?.sample(label, n, &mut rng)?;
    write_npz(out, &x, &vec![label; n])?;
    eprintln!("sample: {n} rows of class {label} → {}", out.display());
    Ok(())
}

/// `convexgan predict`: the run's Q after Phase 2 (Phase 1's when the run has no Phase 2 yet, with
/// a note) on the rows of `x`, which are what the run's heads take: a features file's vectors, or
/// Fashion-MNIST pixels scaled to [0, 1]. Writes `out` (`.npz`: `proba`, `N × classes`, and
/// `label`, the most probable class).
pub fn predict<B: Backend>(be: &B, run_dir: &RunDir, x: &Path, out: &Path) -> Result<()> {
    atomic::check_output(out, "--out")?;
    // Held while the heads are read, so a stage cannot commit half-way through.
    let _lock = run_dir.lock()?;
    let cfg = Overrides::default().saved_config(run_dir)?;
    let mut heads = load_heads(be, &cfg, run_dir, None)?;
    let manifest = Manifest::load(run_dir.path())?;
    let check = |name: &str| match &manifest {
        Some(m) => m.check_input(run_dir.path(), "predict", name).map(drop),
        None => Ok(()),
    };
    check(PHASE1_FILE)?;
    if run_dir.phase2().exists() {
        heads.q.import(be, &ParamStore::load(&run_dir.phase2())?)?;
        check(PHASE2_FILE)?;
    } else {
        eprintln!(
            "note: {} has no {}; predicting with Phase 1's Q",
            run_dir.path().display(),
            run_dir.phase2().display()
        );
    }
    let m = read_features(x)?;
    if m.cols != heads.d_in() {
        return Err(Error::bad_file(
            x,
            format!(
                "{} columns, but the run's heads take {} (its features or pixels, as training saw them)",
                m.cols,
                heads.d_in()
            ),
        ));
    }
    let classes = heads.classes;
    let mut proba = Vec::with_capacity(m.rows * classes);
    for rows in m.data.chunks(1024 * m.cols) {
        let xb = be.upload_f32(rows, rows.len() / m.cols, m.cols)?;
        let (ft, fs) = heads.features(be, &xb, Mode::Eval)?;
        let logits = heads
            .q
            .forward(be, &be.concat_cols(&[&ft, &fs])?, Mode::Eval)?;
        proba.extend(be.download_f32(&be.softmax_rows(&logits)?)?);
    }
    if proba.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "class probabilities of {}",
            x.display()
        )));
    }
    let label: Vec<u32> = proba
        .chunks(classes)
        .map(|p| {
            p.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                })
                .0 as u32
        })
        .collect();
    let proba = Matrix {
        data: proba,
        rows: m.rows,
        cols: classes,
    };
    write_npz_arrays(out, &[("proba", &proba)], &[("label", &label)])?;
    eprintln!(
        "predict: {} rows, {classes} classes → {}",
        m.rows,
        out.display()
    );
    Ok(())
}
