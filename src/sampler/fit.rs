//! Fitting the sampler on a user's features and labels, and drawing synthetic rows from it.
//!
//! The user's vectors are the features (there is no Phase 1 backbone to train): each column is
//! standardised, the dictionaries are the standardised rows of each class (METHOD.md §3), Q is
//! trained on them with cross-entropy, then G, D and Q play Phase 2 (METHOD.md §4). Synthetic rows
//! are convex combinations of one class's rows (Eq. 3) mapped back to the user's scale; since the
//! weights sum to one, that is exactly the same combination of the user's own rows.

use rand::Rng;

use super::options::SamplerOptions;
use super::strategy::{rows_to_generate, Strategy};
use crate::backend::Backend;
use crate::config::{Phase2Config, QLoss};
use crate::data::arrays::{Matrix, MatrixRef};
use crate::error::{Error, Result};
use crate::model::{build_q, Generator};
use crate::nn::{LrSchedule, Mode, ParamStore};
use crate::train::baselines::{finetune_q, Sampling};
use crate::train::dictionary::{DeviceDictionary, Dictionary};
use crate::train::sampling::{normal_noise, sample_rows};
use crate::train::{stage_rng, EpochLog, Phase2Run, STREAM_INIT, STREAM_PHASE1};

/// The random stream [`FittedSampler::resample`] draws from (the pipeline's streams are 1–5).
pub const STREAM_SAMPLE: u64 = 6;

/// What the dictionaries record as the features' origin.
pub const USER_FEATURES: &str = "user features";

/// Rows generated per backend call.
const CHUNK: usize = 4096;

/// A fitted sampler, all on the host: it can be saved ([`save`](Self::save)), loaded, and put on
/// any backend to draw rows ([`on`](Self::on)).
#[derive(Clone, Debug, PartialEq)]
pub struct FittedSampler {
    /// The options the sampler was fitted with (also how G is rebuilt on load).
    pub options: SamplerOptions,
    /// The user's label of each class, ascending; class `i` of the networks is `labels[i]`.
    pub labels: Vec<u32>,
    /// Training rows of each class.
    pub counts: Vec<usize>,
    /// Feature columns.
    pub dim: usize,
    /// `N_s` the generator was trained with.
    pub ns: usize,
    /// Per-column mean of the standardisation (`x = z · scale + mean`), `dim` values.
    pub mean: Vec<f32>,
    /// Per-column scale of the standardisation, `dim` values (1 for a constant column).
    pub scale: Vec<f32>,
    /// The standardised dictionaries.
    pub dict: Dictionary,
    /// G's weights after Phase 2 (tensors `g.*`).
    pub generator: ParamStore,
    /// Q's weights after Phase 2 (tensors `q.*`), a classifier on standardised rows.
    pub classifier: ParamStore,
    /// Mean losses of Q's training (stage `finetune`) and of Phase 2 (stage `phase2`).
    pub logs: Vec<EpochLog>,
}

/// Fits a sampler on `x` (`rows × cols`) with one label per row. Labels are any `u32`; at least
/// two classes, and not all of the same size (Phase 2 draws the classes it generates in proportion
/// to how far each is below the majority). `progress` shows progress bars.
///
/// The fit standardises the columns, trains Q on the real rows, builds the dictionaries and plays
/// Phase 2 (METHOD.md §9), all seeded from `options.seed`.
///
/// # Errors
///
/// Options that [`SamplerOptions::validate`] refuses; `x` of the wrong length, empty, or holding
/// a NaN or Inf; a label count other than `x.rows`; `shape_columns` leaving no texture column;
/// a single class or classes all of the same count; an explicit `ns` above the smallest class; or
/// a non-finite loss while training.
pub fn fit<'x, B: Backend>(
    be: &B,
    x: impl Into<MatrixRef<'x>>,
    y: &[u32],
    options: &SamplerOptions,
    progress: bool,
) -> Result<FittedSampler> {
    let x = x.into();
    let started = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::info!(
            "sampler fit: {what} done at {:.2}s",
            started.elapsed().as_secs_f64()
        )
    };
    options.validate()?;
    check_inputs(x, y, options)?;
    let mut labels: Vec<u32> = y.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let index = |l: u32| labels.binary_search(&l).expect("every label is listed") as u32;
    let yc: Vec<u32> = y.iter().map(|&l| index(l)).collect();
    let classes = labels.len();
    let mut counts = vec![0usize; classes];
    for &c in &yc {
        counts[c as usize] += 1;
    }
    if counts.iter().all(|&n| n == counts[0]) {
        return Err(Error::invalid(
            "labels",
            format!(
                "every class has {} rows: there is no minority class to oversample",
                counts[0]
            ),
        ));
    }
    let (mean, scale) = standardisation(x);
    let z: Vec<f32> = x
        .data
        .chunks(x.cols)
        .flat_map(|row| {
            row.iter()
                .zip(mean.iter().zip(&scale))
                .map(|(&v, (&m, &s))| (v - m) / s)
        })
        .collect();

    // Q on the real (standardised) features first: Phase 2 starts from a trained classifier.
    let mut init = stage_rng(options.seed, STREAM_INIT);
    let mut q = build_q(be, x.cols, options.q_hidden, classes, &mut init)?;
    let xt = be.upload_f32(&z, x.rows, x.cols)?;
    let (q_per_epoch, q_epochs) = options.q_updates(x.rows);
    let q_cfg = Phase2Config {
        epochs: q_epochs,
        batch: options.batch,
        lr: LrSchedule::constant(options.q_lr),
        ..options.to_config(1, 1).phase2
    };
    let mut rng = stage_rng(options.seed, STREAM_PHASE1);
    let mut logs = finetune_q(
        be,
        &mut q,
        &xt,
        &yc,
        &counts,
        QLoss::Ce,
        Sampling::Natural,
        &q_cfg,
        q_per_epoch,
        &mut rng,
        progress,
    )?;
    drop(xt);
    lap("Q on the real rows");

    let d_s = options.shape_columns.unwrap_or(0);
    let d_t = x.cols - d_s;
    let (ft, fs): (Vec<f32>, Vec<f32>) = if d_s == 0 {
        (z, Vec::new())
    } else {
        let mut ft = Vec::with_capacity(x.rows * d_t);
        let mut fs = Vec::with_capacity(x.rows * d_s);
        for row in z.chunks(x.cols) {
            ft.extend_from_slice(&row[..d_t]);
            fs.extend_from_slice(&row[d_t..]);
        }
        (ft, fs)
    };
    let dict = Dictionary::build(
        &ft,
        &fs,
        d_t,
        d_s,
        &yc,
        classes,
        options.max_rows_per_class,
        options.precision,
        options.seed,
        USER_FEATURES,
    )?;
    drop((ft, fs));
    lap("dictionaries");
    let smallest = (0..classes)
        .min_by_key(|&c| dict.layout.rows[c])
        .unwrap_or(0);
    let ns = options.ns_for(dict.min_rows(), labels[smallest] as usize)?;
    let iterations = options.phase2_iterations(x.rows);
    let cfg = options.to_config(ns, 1);
    // One epoch of `iterations` iterations: Phase2Run's epochs are `ceil(n_train / batch)` long.
    let (game, p2_logs) =
        Phase2Run::new(&cfg)
            .progress(progress)
            .train(be, q, iterations * options.batch, &dict)?;
    logs.extend(p2_logs);
    lap("Phase 2");
    let mut generator = ParamStore::new();
    game.g.net.export(be, &mut generator)?;
    let mut classifier = ParamStore::new();
    game.q.export(be, &mut classifier)?;
    Ok(FittedSampler {
        options: options.clone(),
        labels,
        counts,
        dim: x.cols,
        ns,
        mean,
        scale,
        dict,
        generator,
        classifier,
        logs,
    })
}

fn check_inputs(x: MatrixRef<'_>, y: &[u32], options: &SamplerOptions) -> Result<()> {
    if x.data.len() != x.rows * x.cols {
        return Err(Error::shape(
            "sampler fit",
            format!("{} values for {} × {}", x.data.len(), x.rows, x.cols),
        ));
    }
    if x.rows == 0 || x.cols == 0 {
        return Err(Error::invalid(
            "features",
            format!(
                "{} × {}: need at least one row and one column",
                x.rows, x.cols
            ),
        ));
    }
    if y.len() != x.rows {
        return Err(Error::invalid(
            "features and labels",
            format!("{} feature rows but {} labels", x.rows, y.len()),
        ));
    }
    if let Some(i) = x.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "features: row {}, column {} is {}",
            i / x.cols,
            i % x.cols,
            x.data[i]
        )));
    }
    if let Some(k) = options.shape_columns {
        if k >= x.cols {
            return Err(Error::invalid(
                "shape_columns",
                format!(
                    "{k} shape columns leave none of the {} for the texture stream",
                    x.cols
                ),
            ));
        }
    }
    let first = y[0];
    if y.iter().all(|&l| l == first) {
        return Err(Error::invalid(
            "labels",
            format!("every row has label {first}; need at least two classes"),
        ));
    }
    Ok(())
}

/// Per-column mean and standard deviation (a constant column gets scale 1, so it stays as it is).
fn standardisation(x: MatrixRef<'_>) -> (Vec<f32>, Vec<f32>) {
    let n = x.rows as f64;
    let mut mean = vec![0f64; x.cols];
    for row in x.data.chunks(x.cols) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; x.cols];
    for row in x.data.chunks(x.cols) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let scale = var
        .iter()
        .zip(&mean)
        .map(|(&s, &m)| {
            let sd = (s / n).sqrt();
            if sd > 1e-6 * m.abs().max(1.0) {
                sd as f32
            } else {
                1.0
            }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), scale)
}

impl FittedSampler {
    /// The network index of label `label` (its position in [`labels`](Self::labels)); an error
    /// when the label was not fitted.
    pub fn class_index(&self, label: u32) -> Result<usize> {
        self.labels.binary_search(&label).map_err(|_| {
            Error::invalid(
                "class",
                format!("{label} is not among the fitted classes {:?}", self.labels),
            )
        })
    }

    /// Synthetic rows for each class under `strategy` (imbalanced-learn's meaning, on the fitted
    /// counts), keyed by the user's labels: `(label, rows to generate)`, in label order. An error
    /// as [`rows_to_generate`], or for a target naming a label that was not fitted.
    pub fn plan(&self, strategy: &Strategy) -> Result<Vec<(u32, usize)>> {
        let strategy = match strategy {
            Strategy::Targets(t) => {
                let mut m = std::collections::BTreeMap::new();
                for (&label, &n) in t {
                    let c = self.class_index(label)?;
                    // Checked here rather than by `rows_to_generate`, which would name the
                    // network's class index instead of the user's label.
                    if n < self.counts[c] {
                        return Err(Error::invalid(
                            "sampling strategy",
                            format!(
                                "class {label} has {} rows, more than its target {n}; an \
                                 over-sampler only adds rows",
                                self.counts[c]
                            ),
                        ));
                    }
                    m.insert(c as u32, n);
                }
                Strategy::Targets(m)
            }
            s => s.clone(),
        };
        let n = rows_to_generate(&self.counts, &strategy)?;
        Ok(self.labels.iter().copied().zip(n).collect())
    }

    /// The fitted generator and dictionaries on `be`, ready to draw rows. An error when the
    /// stored weights do not fit the options' networks (a corrupt or edited file).
    pub fn on<'s, B: Backend>(&'s self, be: &'s B) -> Result<Generating<'s, B>> {
        Ok(Generating {
            sampler: self,
            be,
            g: self.generator_on(be)?,
            dev: self.dict.upload(be)?,
        })
    }

    /// G with the fitted weights on `be`; an error naming the tensor when a weight's shape does
    /// not match the options (how a loaded file's G is checked).
    pub(crate) fn generator_on<B: Backend>(&self, be: &B) -> Result<Generator<B>> {
        let cfg = self.options.to_config(self.ns, 1);
        let mut init = stage_rng(self.options.seed, STREAM_INIT);
        let mut g = Generator::new(be, &cfg.model, self.labels.len(), self.ns, &mut init)?;
        g.net.import(be, &self.generator)?;
        Ok(g)
    }

    /// The synthetic rows of `plan` (`(label, count)` pairs, as [`plan`](Self::plan) gives)
    /// drawn from the seed's sampling stream (the same rows every time for the same fit and plan),
    /// labels beside them: a `Σ count × dim` matrix in the user's scale, in plan order. An error on
    /// a label that was not fitted or a non-finite generated value.
    pub fn generate<B: Backend>(
        &self,
        be: &B,
        plan: &[(u32, usize)],
    ) -> Result<(Matrix, Vec<u32>)> {
        let mut on = self.on(be)?;
        let mut rng = stage_rng(self.options.seed, STREAM_SAMPLE);
        let mut data = Vec::new();
        let mut y = Vec::new();
        for &(label, n) in plan {
            let m = on.sample(label, n, &mut rng)?;
            data.extend(m.data);
            y.extend(std::iter::repeat_n(label, n));
        }
        Ok((
            Matrix {
                rows: y.len(),
                cols: self.dim,
                data,
            },
            y,
        ))
    }

    /// imbalanced-learn's `fit_resample` after the fit: `x` and `y` (the fitted data) followed by
    /// the synthetic rows of `strategy`. The counts come from the fit, not from `x`; an error when
    /// `x` is not `y.len() × dim`, or as [`plan`](Self::plan) and [`generate`](Self::generate).
    pub fn resample<B: Backend>(
        &self,
        be: &B,
        x: &Matrix,
        y: &[u32],
        strategy: &Strategy,
    ) -> Result<(Matrix, Vec<u32>)> {
        if x.cols != self.dim || x.rows != y.len() {
            return Err(Error::invalid(
                "resample",
                format!(
                    "{} × {} features with {} labels, but the sampler was fitted on {} columns",
                    x.rows,
                    x.cols,
                    y.len(),
                    self.dim
                ),
            ));
        }
        let (syn, sy) = self.generate(be, &self.plan(strategy)?)?;
        let mut data = x.data.clone();
        data.extend(syn.data);
        let mut labels = y.to_vec();
        labels.extend(sy);
        Ok((
            Matrix {
                rows: labels.len(),
                cols: self.dim,
                data,
            },
            labels,
        ))
    }
}

/// A fitted sampler's generator and dictionaries on a backend ([`FittedSampler::on`]), for
/// drawing rows class by class with the caller's random stream.
pub struct Generating<'s, B: Backend> {
    sampler: &'s FittedSampler,
    be: &'s B,
    g: Generator<B>,
    dev: DeviceDictionary<B>,
}

impl<B: Backend> Generating<'_, B> {
    /// `n` synthetic rows of class `label` (the user's label), in the user's scale: each a convex
    /// combination of `N_s` distinct rows of that class's dictionary, weighted by G (Eq. 3).
    /// Returns an `n × dim` matrix; an error on a label that was not fitted or a non-finite value.
    pub fn sample(&mut self, label: u32, n: usize, rng: &mut impl Rng) -> Result<Matrix> {
        let s = self.sampler;
        let be = self.be;
        let c = s.class_index(label)?;
        let classes = s.labels.len();
        let mut data = Vec::with_capacity(n * s.dim);
        let mut left = n;
        while left > 0 {
            let m = left.min(CHUNK);
            left -= m;
            let cls = vec![c as u32; m];
            let rows = sample_rows(rng, &s.dict.layout, &cls, s.ns)?;
            let z = normal_noise(rng, m, self.g.z_dim);
            let zc = be.concat_cols(&[
                &be.upload_f32(&z, m, self.g.z_dim)?,
                &be.onehot(&be.upload_indices(&cls)?, classes)?,
            ])?;
            let logits = self.g.net.forward(be, &zc, Mode::Eval)?;
            let out = be.convex_combine_fwd(
                &logits,
                &self.dev.texture,
                &self.dev.shape,
                &be.upload_indices(&rows)?,
            )?;
            let f = be.download_f32(&be.concat_cols(&[&out.f_t, &out.f_s])?)?;
            for row in f.chunks(s.dim) {
                data.extend(
                    row.iter()
                        .zip(s.mean.iter().zip(&s.scale))
                        .map(|(&v, (&m, &sc))| v * sc + m),
                );
            }
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("generated row {}", i / s.dim)));
        }
        Ok(Matrix {
            data,
            rows: n,
            cols: s.dim,
        })
    }
}
