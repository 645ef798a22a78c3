//! The stages strung together: data → Phase 1 → features and dictionaries → Phase 2 or a baseline →
//! evaluation. Each stage is a function so the command line can run them one at a time from a run
//! directory or all at once, and a library user can call them on a data set held in memory.
//!
//! # Entry points
//!
//! - [`load_data`]: the configured data set (Fashion-MNIST-LT or a features file) as [`Data`];
//!   skip it when the [`Dataset`]s are built in memory.
//! - [`run_phase1`] / [`run_phase1_on`]: **Phase 1** (METHOD.md §2) on a training [`Dataset`] from
//!   a fresh, seeded initialisation; returns the [`Heads`] and the epoch logs.
//! - [`build_features`] / [`build_features_from`]: the frozen streams' features of the training
//!   set and its feature dictionaries (the paper's Eq. 2, METHOD.md §3), as [`Features`].
//! - [`Phase2Run::train`](super::Phase2Run::train) on `heads.q` and `features.dict`: **Phase 2**
//!   (Algorithm 1, METHOD.md §4); or [`run_method`] for Phase 2 or any baseline by [`Method`].
//! - [`evaluate_q`]: the test metrics (the paper's Eq. 6, METHOD.md §5) of a Q through the frozen
//!   streams.
//!
//! ```no_run
//! use convexgan::config::Config;
//! use convexgan::data::{exponential_counts, synthetic_blobs};
//! use convexgan::train::pipeline::{build_features, evaluate_q, run_phase1};
//! use convexgan::train::Phase2Run;
//!
//! # fn main() -> convexgan::Result<()> {
//! // Ten classes of 64-d blobs, 500 down to 5 training rows; a balanced test set.
//! let counts = exponential_counts(10, 500, 100.0)?;
//! let train = synthetic_blobs(10, 64, &counts, 7)?;
//! let test = synthetic_blobs(10, 64, &vec![100; 10], 7)?;
//! let cfg = Config::tiny();
//! let be = convexgan::Cpu::<f32>::new();
//!
//! let (mut heads, _phase1_log) = run_phase1(&be, &cfg, &train, false)?;
//! let features = build_features(&be, &cfg, &mut heads, &train)?;
//! let (game, _phase2_log) =
//!     Phase2Run::new(&cfg).train(&be, heads.q.clone(), train.n, &features.dict)?;
//! let metrics = evaluate_q(&be, &heads, &game.q, &test)?;
//! println!("ACSA {:.3}, GM {:.3}", metrics.acsa, metrics.gm);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use super::baselines::{finetune_q, smote, Sampling};
use super::dictionary::{extract_features, Dictionary};
use super::phase1::train_phase1_with;
use super::{oversample, posthoc};
use super::{EpochLog, Phase2Run};
use crate::backend::{Backend, Tensor};
use crate::config::{Config, QLoss};
use crate::data::features_file::{FeatureSet, Split};
use crate::data::fmnist::{
    load_fashion_mnist, make_long_tailed, Dataset, LtCounts, LtSpec, LtSplit, TEST_LABELS,
    TRAIN_LABELS,
};
use crate::data::FASHION_MNIST_CLASS_NAMES;
use crate::error::{Error, Result};
use crate::metrics::{evaluate, Metrics};
use crate::model::{Heads, HeadsSpec};
use crate::nn::Mlp;

/// Identity of the backbone in front of the heads (METHOD.md §1: identity on pixels for Fashion-MNIST).
pub const IDENTITY_BACKBONE: &str = "identity:pixels/255";

pub use super::{
    stage_rng, STREAM_BASELINE, STREAM_INIT, STREAM_PHASE1, STREAM_PHASE2, STREAM_SMOTE,
};

/// The long-tailed training split and the test set of a configuration.
pub struct Data {
    /// The long-tailed training set, the validation set (chooses the post-hoc methods' settings)
    /// and the training count of each class.
    pub split: LtSplit,
    /// The test set, used only for the final metrics.
    pub test: Dataset,
    /// Names of the classes in label order, for reports.
    pub class_names: Vec<String>,
    /// One line saying where the data came from, for reports.
    pub source: String,
    /// Identity of the backbone in front of the heads, stored with the dictionaries.
    pub backbone: String,
    /// Width of the shape backbone's part of `x` when two backbones fed the streams.
    pub d_in_s: Option<usize>,
}

/// The data set `cfg` names: the features file `cfg.data.features` when set (its partition as it
/// is, classes without training images dropped and the rest renumbered), else Fashion-MNIST-LT
/// from `cfg.data.dir` (METHOD.md §6); the test set cut to `cfg.data.test_limit` rows when set.
///
/// # Errors
///
/// A file that is missing or malformed, a class without training or test images (Fashion-MNIST),
/// a features file with fewer than two trained classes or without training or test images, or
/// class counts the long-tailed split cannot draw.
pub fn load_data(cfg: &Config) -> Result<Data> {
    let mut data = match &cfg.data.features {
        Some(path) => load_features_data(path)?,
        None => load_fmnist_data(cfg)?,
    };
    if let Some(limit) = cfg.data.test_limit {
        let idx: Vec<usize> = (0..data.test.n.min(limit)).collect();
        data.test = data.test.select(&idx)?;
    }
    Ok(data)
}

/// A features file's partition as it is. Classes without a training image cannot have a dictionary
/// (DeepFashion lists 50 categories, and some have no images), so labels are renumbered over the
/// classes that have training images, and val/test images of the others are left out, with a note.
fn load_features_data(path: &std::path::Path) -> Result<Data> {
    let set = FeatureSet::load(path)?;
    let names = class_names(&set, path)?;
    let mut train = set.dataset(Split::Train)?;
    let mut val = set.dataset(Split::Val)?;
    let mut test = set.dataset(Split::Test)?;
    if train.n == 0 || test.n == 0 {
        return Err(Error::bad_file(
            path,
            format!(
                "{} training and {} test images; both partitions need some",
                train.n, test.n
            ),
        ));
    }
    let present: Vec<usize> = train
        .class_counts()
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(c, _)| c)
        .collect();
    if present.len() < 2 {
        return Err(Error::bad_file(
            path,
            "fewer than two classes have training images",
        ));
    }
    let mut new_label = vec![None; set.classes];
    for (i, &c) in present.iter().enumerate() {
        new_label[c] = Some(i as u32);
    }
    let relabel = |ds: &Dataset, what: &str| -> Result<Dataset> {
        let keep: Vec<usize> = (0..ds.n)
            .filter(|&i| new_label[ds.y[i] as usize].is_some())
            .collect();
        if keep.len() < ds.n {
            eprintln!(
                "note: {} {what} images of classes with no training image are left out",
                ds.n - keep.len()
            );
        }
        let mut out = ds.select(&keep)?;
        out.y = out
            .y
            .iter()
            .map(|&c| new_label[c as usize].expect("kept"))
            .collect();
        out.classes = present.len();
        out.validate()?;
        Ok(out)
    };
    train = relabel(&train, "training")?;
    val = relabel(&val, "validation")?;
    test = relabel(&test, "test")?;
    let counts = train.class_counts();
    Ok(Data {
        split: LtSplit { train, val, counts },
        test,
        class_names: present.iter().map(|&c| names[c].clone()).collect(),
        source: format!("features {} ({})", path.display(), set.backbone_identity()),
        backbone: set.backbone_identity(),
        d_in_s: set.d_in_s,
    })
}

/// The file's class names (DeepFashion2 writes them), else the category numbers, 1-based as in
/// DeepFashion's `list_category_img.txt` and DeepFashion2's `category_id`.
fn class_names(set: &FeatureSet, path: &std::path::Path) -> Result<Vec<String>> {
    let Some(json) = set.info.get(crate::data::features_file::CLASS_NAMES_KEY) else {
        return Ok((1..=set.classes).map(|c| format!("category {c}")).collect());
    };
    let key = crate::data::features_file::CLASS_NAMES_KEY;
    let names: Vec<String> = serde_json::from_str(json).map_err(|e| {
        Error::bad_file(
            path,
            format!("metadata '{key}' is not a list of names: {e}"),
        )
    })?;
    if names.len() != set.classes {
        return Err(Error::bad_file(
            path,
            format!(
                "metadata '{key}' has {} names for {} classes",
                names.len(),
                set.classes
            ),
        ));
    }
    Ok(names)
}

fn load_fmnist_data(cfg: &Config) -> Result<Data> {
    let (full, test) = load_fashion_mnist(&cfg.data.dir)?;
    // Every class needs training images for its dictionary and test images for its recall; the
    // loader itself accepts any labels below the class count, so the pipeline checks this here,
    // naming the labels file.
    for (set, stem) in [(&full, TRAIN_LABELS), (&test, TEST_LABELS)] {
        if let Some(c) = set.class_counts().iter().position(|&n| n == 0) {
            let gz = cfg.data.dir.join(format!("{stem}.gz"));
            let path = if gz.exists() {
                gz
            } else {
                cfg.data.dir.join(stem)
            };
            return Err(Error::bad_file(
                path,
                format!(
                    "class {c} has no samples among its {} labels; each of the {} classes needs some",
                    set.n, set.classes
                ),
            ));
        }
    }
    let counts = match &cfg.data.class_counts {
        Some(c) => LtCounts::Explicit(c.clone()),
        None => LtCounts::Exponential {
            n_max: cfg.data.n_max,
            ratio: cfg.data.imbalance,
        },
    };
    let split = make_long_tailed(
        &full,
        &LtSpec {
            counts,
            val_per_class: cfg.data.val_per_class,
            seed: cfg.seed,
        },
    )?;
    Ok(Data {
        split,
        test,
        class_names: FASHION_MNIST_CLASS_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        source: format!(
            "Fashion-MNIST-LT from {}, imbalance {}",
            cfg.data.dir.display(),
            cfg.data.imbalance
        ),
        backbone: IDENTITY_BACKBONE.to_string(),
        d_in_s: None,
    })
}

/// Phase 1 (METHOD.md §2) on `train` from a fresh initialisation: heads built by
/// [`heads_spec`] from `cfg.model` (seeded from `cfg.seed`), trained for `cfg.phase1.epochs`
/// epochs on the rows of `train` (`train.n × train.dim`, one backbone for both streams).
/// Returns the trained heads and one log per epoch. `show_progress` draws a progress bar.
///
/// # Errors
///
/// Fewer than two training rows, landmarks that do not validate against `train`, or a NaN or
/// Inf loss or parameter ([`Error::NonFinite`], naming the iteration).
pub fn run_phase1<B: Backend>(
    be: &B,
    cfg: &Config,
    train: &Dataset,
    show_progress: bool,
) -> Result<(Heads<B>, Vec<EpochLog>)> {
    run_phase1_on(be, cfg, train, None, show_progress)
}

/// The heads a data set needs: one backbone for both streams, or two (`x = [x_t | x_s]` with the
/// shape backbone's `d_in_s` columns last), and the landmark module when it has landmarks. An
/// error when `d_in_s` leaves no column of `train.dim` for the texture stream.
pub fn heads_spec(train: &Dataset, d_in_s: Option<usize>) -> Result<HeadsSpec> {
    let d_in_t = match d_in_s {
        Some(d) if d >= train.dim => {
            return Err(Error::invalid(
                "data",
                format!(
                    "the shape backbone's {d} columns leave none of {} for the texture stream",
                    train.dim
                ),
            ))
        }
        Some(d) => train.dim - d,
        None => train.dim,
    };
    Ok(HeadsSpec {
        d_in_t,
        d_in_s,
        classes: train.classes,
        landmarks: train.landmarks.as_ref().map_or(0, |l| l.k),
    })
}

/// [`run_phase1`] for data from one or two backbones (`d_in_s`: the shape backbone's columns,
/// last in each row of `train.x`; `None` for one backbone), with the landmark terms when `train`
/// has landmarks. Errors as [`run_phase1`], and as [`heads_spec`] for `d_in_s`.
pub fn run_phase1_on<B: Backend>(
    be: &B,
    cfg: &Config,
    train: &Dataset,
    d_in_s: Option<usize>,
    show_progress: bool,
) -> Result<(Heads<B>, Vec<EpochLog>)> {
    let mut init = stage_rng(cfg.seed, STREAM_INIT);
    let spec = heads_spec(train, d_in_s)?;
    let mut heads = Heads::from_spec(be, &cfg.model, &spec, &mut init)?;
    let x = be.upload_f32(&train.x, train.n, train.dim)?;
    let mut rng = stage_rng(cfg.seed, STREAM_PHASE1);
    let logs = train_phase1_with(
        be,
        &mut heads,
        &x,
        &train.y,
        train.landmarks.as_ref(),
        &cfg.phase1,
        &mut rng,
        show_progress,
    )?;
    Ok((heads, logs))
}

/// Frozen features of the whole training set, `N × (d_t + d_s)` on the backend, and the dictionary
/// built from them.
pub struct Features<B: Backend> {
    /// `[f_t ‖ f_s]` of every training row, `N × (d_t + d_s)`, in training-set order.
    pub all: Tensor<B>,
    /// The same values on the host, row-major (the over-samplers work on them).
    pub host: Vec<f32>,
    /// The per-class feature dictionaries (the paper's Eq. 2) and the class counts.
    pub dict: Dictionary,
}

/// The frozen features of `train` through `heads`' streams in inference mode (BatchNorm on its
/// running statistics), and the dictionaries built from them under `cfg.dict` and `cfg.seed`
/// (METHOD.md §3), recording the identity backbone ([`IDENTITY_BACKBONE`]).
///
/// # Errors
///
/// A class of `train` with no row (it would have no dictionary), or a non-finite feature.
pub fn build_features<B: Backend>(
    be: &B,
    cfg: &Config,
    heads: &mut Heads<B>,
    train: &Dataset,
) -> Result<Features<B>> {
    build_features_from(be, cfg, heads, train, IDENTITY_BACKBONE)
}

/// [`build_features`] recording `backbone` as the dictionaries' backbone identity.
pub fn build_features_from<B: Backend>(
    be: &B,
    cfg: &Config,
    heads: &mut Heads<B>,
    train: &Dataset,
    backbone: &str,
) -> Result<Features<B>> {
    let x = be.upload_f32(&train.x, train.n, train.dim)?;
    let (ft, fs) = extract_features(be, heads, &x, 1024)?;
    let (d_t, d_s) = (heads.d_t(), heads.d_s());
    let dict = Dictionary::build(
        &ft,
        &fs,
        d_t,
        d_s,
        &train.y,
        train.classes,
        cfg.dict.max_rows_per_class,
        cfg.dict.precision,
        cfg.seed,
        backbone,
    )?;
    let mut host = Vec::with_capacity(train.n * (d_t + d_s));
    for i in 0..train.n {
        host.extend_from_slice(&ft[i * d_t..(i + 1) * d_t]);
        host.extend_from_slice(&fs[i * d_s..(i + 1) * d_s]);
    }
    let all = be.upload_f32(&host, train.n, d_t + d_s)?;
    Ok(Features { all, host, dict })
}

/// A feature-space over-sampler raising every class towards the majority before Q is fine-tuned
/// with cross-entropy ([`super::oversample`], [`super::baselines::smote`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureOversampler {
    /// SMOTE, k = 5 (Chawla et al. 2002).
    Smote,
    /// Random over-sampling (duplicates).
    Random,
    /// ADASYN, K = 5 (He et al. 2008).
    Adasyn,
    /// Borderline-SMOTE 1, m = 10, k = 5 (Han et al. 2005).
    Borderline,
}

/// Every way of producing the final Q that `compare` reports. All start from the same Phase 1
/// checkpoint; those that train make the same number of Q updates as Phase 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// (a) Phase 1 alone, cross-entropy.
    Phase1,
    /// (b) Q fine-tuned on real features with a re-weighting loss (focal or LDAM).
    Reweight(QLoss),
    /// Classifier re-training on class-balanced batches (cRT, Kang et al. ICLR 2020): Q fine-tuned
    /// with cross-entropy, each batch a class uniformly then one of its samples.
    Crt,
    /// Deferred re-weighting (DRW): cross-entropy on natural batches, the second half weighted by
    /// effective-number weights (Cao et al. 2019, Cui et al. 2019).
    Drw,
    /// τ-normalised classifier weights, τ chosen on the validation split (Kang et al. 2020).
    TauNorm,
    /// Learnable weight scaling on class-balanced batches (Kang et al. 2020).
    Lws,
    /// Post-hoc logit adjustment, τ chosen on the validation split (Menon et al. 2021).
    LogitAdjust,
    /// (c) Q fine-tuned with cross-entropy on features balanced by an over-sampler.
    Oversample(FeatureOversampler),
    /// (d) Convex-GAN, Q fine-tuned with the given loss.
    ConvexGan(QLoss),
}

impl Method {
    /// The human-readable name reports print (`"SMOTE (k=5) + CE fine-tune"`).
    pub fn label(self) -> String {
        match self {
            Method::Phase1 => "Phase 1 only (CE)".into(),
            Method::Reweight(l) => format!("{} fine-tune, real only", l.name()),
            Method::Crt => "cRT (class-balanced re-training)".into(),
            Method::Drw => "CE-DRW (effective-number weights)".into(),
            Method::TauNorm => "τ-normalised classifier".into(),
            Method::Lws => "LWS (learnable weight scaling)".into(),
            Method::LogitAdjust => "post-hoc logit adjustment".into(),
            Method::Oversample(o) => match o {
                FeatureOversampler::Smote => "SMOTE (k=5) + CE fine-tune".into(),
                FeatureOversampler::Random => "random over-sampling + CE fine-tune".into(),
                FeatureOversampler::Adasyn => "ADASYN (K=5) + CE fine-tune".into(),
                FeatureOversampler::Borderline => {
                    "Borderline-SMOTE (m=10, k=5) + CE fine-tune".into()
                }
            },
            Method::ConvexGan(l) => format!("Convex-GAN, Q loss {}", l.name()),
        }
    }

    /// The name `compare --methods` takes.
    pub fn name(self) -> String {
        match self {
            Method::Phase1 => "phase1".into(),
            Method::Reweight(l) => l.name().into(),
            Method::Crt => "crt".into(),
            Method::Drw => "drw".into(),
            Method::TauNorm => "tau-norm".into(),
            Method::Lws => "lws".into(),
            Method::LogitAdjust => "logit-adjust".into(),
            Method::Oversample(o) => match o {
                FeatureOversampler::Smote => "smote".into(),
                FeatureOversampler::Random => "ros".into(),
                FeatureOversampler::Adasyn => "adasyn".into(),
                FeatureOversampler::Borderline => "borderline-smote".into(),
            },
            Method::ConvexGan(l) => format!("convexgan-{}", l.name()),
        }
    }

    /// Every method `compare` runs by default: the baselines, then Convex-GAN with each Q loss.
    pub fn all() -> Vec<Method> {
        vec![
            Method::Phase1,
            Method::Reweight(QLoss::Focal),
            Method::Reweight(QLoss::Ldam),
            Method::Crt,
            Method::Drw,
            Method::TauNorm,
            Method::Lws,
            Method::LogitAdjust,
            Method::Oversample(FeatureOversampler::Smote),
            Method::Oversample(FeatureOversampler::Random),
            Method::Oversample(FeatureOversampler::Adasyn),
            Method::Oversample(FeatureOversampler::Borderline),
            Method::ConvexGan(QLoss::Mse),
            Method::ConvexGan(QLoss::Focal),
            Method::ConvexGan(QLoss::Ldam),
            Method::ConvexGan(QLoss::Ce),
        ]
    }
}

impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let all = Method::all();
        all.iter()
            .copied()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| {
                Error::invalid(
                    "--methods",
                    format!(
                        "unknown method `{s}`; the methods are {}",
                        all.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }
}

/// Q updates per epoch in Phase 2: `ceil(N / B)` iterations, two Q updates each (real, generated).
/// Baselines make the same number of updates.
pub fn q_updates_per_epoch(n_train: usize, batch: usize) -> usize {
    2 * n_train.div_ceil(batch).max(1)
}

/// Trains (or, for the post-hoc methods, derives) the final Q of `method`, starting from the
/// Phase 1 heads' Q. `val` is the validation split the post-hoc methods choose τ (and LWS its
/// learning rate) on by ACSA; the test set is never seen here. `feats` are [`build_features`]'s
/// for `train`. Returns Q and its epoch logs (for the post-hoc methods one log holding the chosen
/// `tau` or `lr`).
///
/// # Errors
///
/// An empty `val` for the post-hoc methods, an over-sampler that cannot raise a class (SMOTE or
/// ADASYN on a class of one row), Phase 2's errors for [`Method::ConvexGan`] (`N_s` above the
/// smallest dictionary), or a non-finite loss.
#[allow(clippy::too_many_arguments)]
pub fn run_method<B: Backend>(
    be: &B,
    cfg: &Config,
    heads: &Heads<B>,
    train: &Dataset,
    val: &Dataset,
    feats: &Features<B>,
    method: Method,
    show_progress: bool,
) -> Result<(Mlp<B>, Vec<EpochLog>)> {
    let mut q = heads.q.clone();
    let counts = &feats.dict.counts;
    let p2 = &cfg.phase2;
    let updates = q_updates_per_epoch(train.n, p2.batch);
    let mut rng = stage_rng(cfg.seed, STREAM_BASELINE);
    let finetune = |q: &mut Mlp<B>,
                    x: &Tensor<B>,
                    y: &[u32],
                    counts: &[usize],
                    loss: QLoss,
                    sampling: Sampling,
                    rng: &mut rand_chacha::ChaCha8Rng| {
        finetune_q(
            be,
            q,
            x,
            y,
            counts,
            loss,
            sampling,
            p2,
            updates,
            rng,
            show_progress,
        )
    };
    let logs = match method {
        Method::Phase1 => Vec::new(),
        Method::Reweight(loss) => finetune(
            &mut q,
            &feats.all,
            &train.y,
            counts,
            loss,
            Sampling::Natural,
            &mut rng,
        )?,
        Method::Crt => finetune(
            &mut q,
            &feats.all,
            &train.y,
            counts,
            QLoss::Ce,
            Sampling::ClassBalanced,
            &mut rng,
        )?,
        Method::Drw => finetune(
            &mut q,
            &feats.all,
            &train.y,
            counts,
            QLoss::Ce,
            Sampling::DeferredReweight,
            &mut rng,
        )?,
        Method::TauNorm | Method::LogitAdjust => {
            let candidate = |tau: f64| match method {
                Method::TauNorm => posthoc::tau_normalised_q(be, &q, tau),
                _ => posthoc::logit_adjusted_q(be, &q, counts, tau),
            };
            let (tau, best) = choose_on_val(be, heads, val, &posthoc::tau_grid(), candidate)?;
            let mut log = EpochLog::new(&method.name(), 0);
            log.losses.insert("tau".into(), tau);
            return Ok((best, vec![log]));
        }
        Method::Lws => {
            let z = train_logits(be, &mut q.clone(), &feats.all)?;
            let c = counts.len();
            let total = updates * p2.epochs;
            let candidate = |lr: f64| {
                let mut r = stage_rng(cfg.seed, STREAM_BASELINE);
                let f = posthoc::learn_scales(&z, &train.y, c, p2.batch, total, lr, &mut r)?;
                posthoc::scaled_q(be, &q, &f)
            };
            let (lr, best) = choose_on_val(be, heads, val, &posthoc::LWS_LRS, candidate)?;
            let mut log = EpochLog::new(&method.name(), 0);
            log.losses.insert("lr".into(), lr);
            return Ok((best, vec![log]));
        }
        Method::Oversample(which) => {
            let d = feats.dict.d_t + feats.dict.d_s;
            let mut srng = stage_rng(cfg.seed, STREAM_SMOTE);
            let (h, y, c) = (&feats.host, &train.y, train.classes);
            let (x, y) = match which {
                FeatureOversampler::Smote => smote(h, d, y, c, 5, &mut srng)?,
                FeatureOversampler::Random => oversample::random_oversample(h, d, y, c, &mut srng)?,
                FeatureOversampler::Adasyn => oversample::adasyn(h, d, y, c, 5, &mut srng)?,
                FeatureOversampler::Borderline => {
                    oversample::borderline_smote(h, d, y, c, 5, 10, &mut srng)?
                }
            };
            let xs = be.upload_f32(&x, y.len(), d)?;
            let mut resampled = vec![0usize; c];
            for &l in &y {
                resampled[l as usize] += 1;
            }
            finetune(
                &mut q,
                &xs,
                &y,
                &resampled,
                QLoss::Ce,
                Sampling::Natural,
                &mut rng,
            )?
        }
        Method::ConvexGan(loss) => {
            let mut p2 = p2.clone();
            p2.q_loss = loss;
            let (game, logs) = Phase2Run::new(cfg)
                .with_phase2(p2)
                .progress(show_progress)
                .train(be, q, train.n, &feats.dict)?;
            return Ok((game.q, logs));
        }
    };
    Ok((q, logs))
}

/// Q's logits on every row of the frozen training features, as f64 (`N × classes`).
fn train_logits<B: Backend>(be: &B, q: &mut Mlp<B>, feats: &Tensor<B>) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    let idx: Vec<u32> = (0..feats.rows() as u32).collect();
    for chunk in idx.chunks(1024) {
        let x = be.gather_rows(feats, &be.upload_indices(chunk)?)?;
        out.extend(
            be.download_f32(&q.forward(be, &x, crate::nn::Mode::Eval)?)?
                .iter()
                .map(|&v| v as f64),
        );
    }
    Ok(out)
}

/// The candidate (built from each value of `grid`) with the best validation ACSA, the first of
/// equals; returns the chosen value and its Q.
fn choose_on_val<B: Backend>(
    be: &B,
    heads: &Heads<B>,
    val: &Dataset,
    grid: &[f64],
    mut candidate: impl FnMut(f64) -> Result<Mlp<B>>,
) -> Result<(f64, Mlp<B>)> {
    if val.n == 0 {
        return Err(Error::invalid(
            "validation split",
            "is empty; τ-normalisation, LWS and logit adjustment choose their setting on it",
        ));
    }
    let mut best: Option<(f64, f64, Mlp<B>)> = None;
    for &v in grid {
        let q = candidate(v)?;
        let acsa = val_acsa(be, heads, &q, val)?;
        if best.as_ref().is_none_or(|(_, a, _)| acsa > *a) {
            best = Some((v, acsa, q));
        }
    }
    let (v, _, q) = best.ok_or_else(|| Error::invalid("grid", "no value to try"))?;
    Ok((v, q))
}

/// Test metrics (METHOD.md §5) of `heads` with `q` as the main classifier: `test` through the
/// frozen streams, predictions the argmax of `q`'s logits. An error on a non-finite logit or a
/// class with no test rows (its recall, and so ACSA and GM, is undefined).
pub fn evaluate_q<B: Backend>(
    be: &B,
    heads: &Heads<B>,
    q: &Mlp<B>,
    test: &Dataset,
) -> Result<Metrics> {
    let scores = scores_of(be, heads, q, test)?;
    evaluate(&scores, &test.y, test.classes)
}

/// Q's logits (through `heads`' frozen streams) for every row of `ds`, `ds.n × classes`.
fn scores_of<B: Backend>(be: &B, heads: &Heads<B>, q: &Mlp<B>, ds: &Dataset) -> Result<Vec<f32>> {
    let mut h = heads.clone();
    h.q = q.clone();
    let mut scores = Vec::with_capacity(ds.n * ds.classes);
    let idx: Vec<u32> = (0..ds.n as u32).collect();
    let x = be.upload_f32(&ds.x, ds.n, ds.dim)?;
    for chunk in idx.chunks(1024) {
        let xb = be.gather_rows(&x, &be.upload_indices(chunk)?)?;
        scores.extend(be.download_f32(&h.predict(be, &xb)?)?);
    }
    if scores.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("test logits".into()));
    }
    Ok(scores)
}

/// Mean recall over the classes the validation split holds (a features file's split may lack
/// some), for choosing the post-hoc methods' settings.
fn val_acsa<B: Backend>(be: &B, heads: &Heads<B>, q: &Mlp<B>, val: &Dataset) -> Result<f64> {
    let scores = scores_of(be, heads, q, val)?;
    let pred = crate::metrics::argmax(&scores, val.classes)?;
    let cm = crate::metrics::ConfusionMatrix::from_predictions(&val.y, &pred, val.classes)?;
    let r: Vec<f64> = cm
        .recall_per_class()
        .into_iter()
        .filter(|v| !v.is_nan())
        .collect();
    Ok(r.iter().sum::<f64>() / r.len().max(1) as f64)
}
