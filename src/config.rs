//! Run configuration: every constant of METHOD.md §2–§8 is a value here, with the paper's or the preset's
//! default, and the whole resolved configuration is written to the run directory as TOML.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::Precision;
use crate::error::{Error, Result};
use crate::nn::LrSchedule;

/// The classifier loss used to fine-tune Q (METHOD.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QLoss {
    /// `Σ_j (p_j − onehot(c)_j)²` on the softmax, the paper's baseline.
    Mse,
    /// `−(1 − p_c)^γ log p_c`, with `γ` = [`Phase2Config::focal_gamma`].
    Focal,
    /// Cross-entropy of `s·(ℓ − Δ·onehot(c))` with per-class margins `Δ` from the training counts
    /// (Cao et al. 2019; [`Phase2Config::ldam_s`], [`Phase2Config::ldam_max_margin`]).
    Ldam,
    /// Plain cross-entropy.
    Ce,
}

impl QLoss {
    /// The lowercase name used in TOML, on the command line and in reports (`mse`, `focal`,
    /// `ldam`, `ce`).
    pub fn name(self) -> &'static str {
        match self {
            QLoss::Mse => "mse",
            QLoss::Focal => "focal",
            QLoss::Ldam => "ldam",
            QLoss::Ce => "ce",
        }
    }
}

/// `[data]`: where the data come from and how the long-tailed training set is cut (METHOD.md §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Directory with the four Fashion-MNIST IDX files (`*-ubyte.gz`, or uncompressed).
    /// Default [`DEFAULT_DATA_DIR`].
    pub dir: PathBuf,
    /// Imbalance ratio ρ ≥ 1 of the exponential profile, `n_c = floor(n_max · ρ^{−c/(N_C−1)})`
    /// (METHOD.md §6: 100).
    pub imbalance: f64,
    /// Training images kept of class 0, the largest count `n_max` of the exponential profile
    /// (METHOD.md §6: 5000).
    pub n_max: usize,
    /// Explicit training images per class, one per Fashion-MNIST class, each at least 1 and at most
    /// 6000 − `val_per_class`; overrides the profile.
    pub class_counts: Option<Vec<usize>>,
    /// Training images per class set aside, before the long-tailed subset, as the balanced
    /// validation set (METHOD.md §6: 500).
    pub val_per_class: usize,
    /// Use only the first `test_limit` test images (tests of the pipeline itself); `None` = all.
    pub test_limit: Option<usize>,
    /// A features file written by `convexgan extract` (DeepFashion through an ONNX backbone); when
    /// set, it replaces Fashion-MNIST: its train / val / test partition is used as it is (the data
    /// set's own imbalance) and `dir`, `imbalance`, `n_max` and `class_counts` are not used.
    #[serde(default)]
    pub features: Option<PathBuf>,
}

/// `[model]`: widths of the Phase 1 heads and of G and D (METHOD.md §1, §4; Table 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Output width of each `Linear → BatchNorm1d → ReLU` block of the streams `f_t` and `f_s`, in
    /// order; the last is `d_t = d_s` (`fmnist`: 256, 128; `paper`: 1024).
    pub stream_widths: Vec<usize>,
    /// Hidden width `h_q` of Q, `Linear(d → h_q) → ReLU → Linear(h_q → N_C)`; `0` makes Q a single
    /// Linear.
    pub q_hidden: usize,
    /// Noise width of G (Table 1: 256).
    pub z_dim: usize,
    /// Hidden widths of G (Table 1: 512, 1024).
    pub g_hidden: Vec<usize>,
    /// Hidden widths of D (Table 1: 1024, 512).
    pub d_hidden: Vec<usize>,
    /// Negative slope of G's and D's LeakyReLU (Table 1: 0.2).
    pub leaky_slope: f64,
}

/// `[phase1]`: training of the streams, A, Q and the landmark module on the long-tailed set
/// (METHOD.md §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase1Config {
    /// Epochs in all, the shape-only ones included (`paper`: 18 = 3 + 15).
    pub epochs: usize,
    /// Batch size `B`; each epoch runs in chunks of `min(B, n)`.
    pub batch: usize,
    /// Adam learning rate per 0-based epoch.
    pub lr: LrSchedule,
    /// Epochs at the start that train only the shape stream, A and the landmark module (METHOD.md §2;
    /// the paper uses 3 on DeepFashion).
    pub shape_only_epochs: usize,
    /// σ of the Gaussian ground-truth heatmaps, in grid cells (METHOD.md §2: 1).
    #[serde(default = "default_one")]
    pub heatmap_sigma: f64,
    /// Weight of the landmark loss `L_land` (Eq. 1) in the Phase 1 loss (METHOD.md §2: 1).
    #[serde(default = "default_one")]
    pub landmark_weight: f64,
    /// Weight of the visibility loss `L_vis` in the Phase 1 loss (METHOD.md §2: 1).
    #[serde(default = "default_one")]
    pub visibility_weight: f64,
    /// Train the auxiliary classifier A on the shape stream (`CE(A)` in the loss, METHOD.md §2).
    /// Off only for the paper's Table 4 ablation (`convexgan ablate aux`): A is then left at its
    /// initialisation and the shape stream learns only from Q (and the landmark module).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub aux_classifier: bool,
}

/// Serde default of the landmark settings, so configuration files written before they existed
/// still load.
fn default_one() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

// Settings that only an ablation changes are left out of a configuration file at their default,
// so the files (and the checkpoint identities hashed from them) of ordinary runs stay as they were.
fn is_true(v: &bool) -> bool {
    *v
}

fn is_both(v: &GeneratedStreams) -> bool {
    *v == GeneratedStreams::Both
}

/// `[dict]`: the per-class feature dictionaries `L_{t,c}`, `L_{s,c}` of Eq. 2 (METHOD.md §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DictConfig {
    /// Most rows kept per class; a larger class gets a random subset of this size, drawn with the
    /// run seed (METHOD.md §3: 2000).
    pub max_rows_per_class: usize,
    /// Storage type of the dictionary rows (f32, bf16 or f16; `--dict-precision`); arithmetic on
    /// them stays in f32 or wider.
    pub precision: Precision,
}

/// `[phase2]`: the GAN game of G, D and Q over the dictionaries (METHOD.md §4, Algorithm 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase2Config {
    /// Epochs of `ceil(n_train / B)` iterations each, `n_train` the whole training set (paper: 10).
    pub epochs: usize,
    /// Batch size `B` of real and of generated samples.
    pub batch: usize,
    /// Adam learning rate of G, D and Q per 0-based epoch.
    pub lr: LrSchedule,
    /// Dictionary rows `N_s` per generated sample, the length of the convex combination of Eq. 3
    /// (METHOD.md §4; paper 100, `fmnist` 30); must not exceed the smallest class dictionary.
    pub ns: usize,
    /// Lower `ns` to the smallest class dictionary (with a note) instead of stopping with an error
    /// (METHOD.md §4: "N_s = 100, capped by the smallest dictionary"; on for `paper`, whose 100 rows a
    /// rare DeepFashion category does not have).
    #[serde(default)]
    pub cap_ns: bool,
    /// Weight λ of the adversarial term of Eq. 4 (paper: 1000).
    pub lambda: f64,
    /// D is updated on iterations whose 0-based index is a multiple of `d_every`, the first
    /// included (METHOD.md §4: 5).
    pub d_every: usize,
    /// Q's class loss on real and generated samples (`fmnist`: [`QLoss::Ce`]; `paper`:
    /// [`QLoss::Mse`]).
    pub q_loss: QLoss,
    /// Focusing exponent γ of [`QLoss::Focal`] (2).
    pub focal_gamma: f64,
    /// Logit scale `s` of [`QLoss::Ldam`] (Cao et al. 2019: 30).
    pub ldam_s: f64,
    /// LDAM margin `m` of the rarest class; class `j` gets `m·n_j^{−1/4} / max_i n_i^{−1/4}`
    /// (Cao et al. 2019: 0.5).
    pub ldam_max_margin: f64,
    /// Which halves of a generated sample G's convex combination makes; the other half is a real
    /// dictionary row of the same class (the paper's Fig. 3 and Table 5, `convexgan ablate
    /// streams`). Both by default.
    #[serde(default, skip_serializing_if = "is_both")]
    pub generate: GeneratedStreams,
}

/// The streams Phase 2 generates (METHOD.md §4; the paper's Table 5 ablation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GeneratedStreams {
    /// `[f̃_t ‖ f̃_s]`, both from Eq. 3: the method itself.
    #[default]
    Both,
    /// `[f_t ‖ f̃_s]`: the shape half generated, the texture half a real row of the class (the
    /// texture row of the first of the sample's `N_s` rows, which is uniform over the class).
    Shape,
    /// `[f̃_t ‖ f_s]`: the texture half generated, the shape half a real row (chosen likewise).
    Texture,
}

impl GeneratedStreams {
    /// The lowercase name used in TOML and reports (`both`, `shape`, `texture`).
    pub fn name(self) -> &'static str {
        match self {
            GeneratedStreams::Both => "both",
            GeneratedStreams::Shape => "shape",
            GeneratedStreams::Texture => "texture",
        }
    }
}

/// The whole run configuration, as read from and written to `config.toml` (METHOD.md §8). Start
/// from a preset ([`Config::fmnist`], [`Config::paper`], [`Config::tiny`]) or [`Config::load`] a
/// file; [`Config::validate`] before use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of the preset this configuration started from (`fmnist`, `paper`, `tiny`), recorded
    /// for reports.
    pub preset: String,
    /// Run seed of every random draw (the long-tailed split, initialisation, shuffles, dictionary
    /// subsets, Phase 2), each from a ChaCha8 stream seeded with it.
    pub seed: u64,
    /// Data source and long-tailed split.
    pub data: DataConfig,
    /// Network widths.
    pub model: ModelConfig,
    /// Phase 1 schedule and loss weights.
    pub phase1: Phase1Config,
    /// Feature dictionary size and storage.
    pub dict: DictConfig,
    /// Phase 2 schedule and losses.
    pub phase2: Phase2Config,
    /// Where the report's many / medium / few-shot groups split (training images per class).
    #[serde(default)]
    pub shots: crate::metrics::ShotThresholds,
}

/// Default of [`DataConfig::dir`]: where the Debian package `dataset-fashion-mnist` installs the
/// IDX files (the same path as [`crate::data::DEFAULT_DATA_DIR`]).
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

impl Config {
    /// METHOD.md §8 `fmnist`: identity backbone on 784 pixels, streams 784 → 256 → 128, Q 256 → 256 → 10,
    /// G and D at Table 1 widths, N_s = 30, Adam lr 1e-3 (Phase 1) and 1e-4 (Phase 2).
    pub fn fmnist() -> Self {
        Config {
            preset: "fmnist".into(),
            seed: 0,
            data: DataConfig {
                dir: PathBuf::from(DEFAULT_DATA_DIR),
                imbalance: 100.0,
                n_max: 5000,
                class_counts: None,
                val_per_class: 500,
                test_limit: None,
                features: None,
            },
            model: ModelConfig {
                stream_widths: vec![256, 128],
                q_hidden: 256,
                z_dim: 256,
                g_hidden: vec![512, 1024],
                d_hidden: vec![1024, 512],
                leaky_slope: 0.2,
            },
            phase1: Phase1Config {
                epochs: 15,
                batch: 256,
                lr: LrSchedule::constant(1e-3),
                shape_only_epochs: 0,
                heatmap_sigma: 1.0,
                landmark_weight: 1.0,
                visibility_weight: 1.0,
                aux_classifier: true,
            },
            dict: DictConfig {
                max_rows_per_class: 2000,
                precision: Precision::F32,
            },
            phase2: Phase2Config {
                epochs: 10,
                batch: 256,
                lr: LrSchedule::constant(1e-4),
                ns: 30,
                cap_ns: false,
                lambda: 1000.0,
                d_every: 5,
                // Cross-entropy measured best of the four Q losses on Fashion-MNIST-LT
                // (RESULTS.md); the `paper` preset keeps the paper's MSE.
                q_loss: QLoss::Ce,
                focal_gamma: 2.0,
                ldam_s: 30.0,
                ldam_max_margin: 0.5,
                generate: GeneratedStreams::Both,
            },
            shots: Default::default(),
        }
    }

    /// METHOD.md §8 `paper`: Table 1 and Sec. IV-B values (d_t = d_s = 1024, N_s = 100,
    /// lr 5e-5 → 1e-5 after 3 epochs, 3 shape-only epochs then 15).
    pub fn paper() -> Self {
        let mut c = Self::fmnist();
        c.preset = "paper".into();
        c.model.stream_widths = vec![1024];
        c.model.q_hidden = 1024;
        let sched = LrSchedule {
            base: 5e-5,
            drops: vec![(3, 1e-5)],
        };
        c.phase1 = Phase1Config {
            epochs: 18,
            batch: 256,
            lr: sched.clone(),
            shape_only_epochs: 3,
            heatmap_sigma: 1.0,
            landmark_weight: 1.0,
            visibility_weight: 1.0,
            aux_classifier: true,
        };
        c.phase2.lr = sched;
        c.phase2.ns = 100;
        c.phase2.cap_ns = true;
        c.phase2.q_loss = QLoss::Mse;
        c
    }

    /// A tiny preset for tests of the pipeline itself (seconds, not minutes): streams 32 → 16,
    /// small G, D and Q, z 16, 3 Phase 1 and 2 Phase 2 epochs, B 64, N_s = 8, 200 rows per class
    /// (METHOD.md §8).
    pub fn tiny() -> Self {
        let mut c = Self::fmnist();
        c.preset = "tiny".into();
        c.model.stream_widths = vec![32, 16];
        c.model.q_hidden = 32;
        c.model.z_dim = 16;
        c.model.g_hidden = vec![32, 32];
        c.model.d_hidden = vec![32, 16];
        c.phase1.epochs = 3;
        c.phase1.batch = 64;
        c.phase2.epochs = 2;
        c.phase2.batch = 64;
        c.phase2.ns = 8;
        c.dict.max_rows_per_class = 200;
        c
    }

    /// The preset called `name` (`fmnist`, `paper` or `tiny`; `--preset`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for any other name.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "fmnist" => Ok(Self::fmnist()),
            "paper" => Ok(Self::paper()),
            "tiny" => Ok(Self::tiny()),
            other => Err(Error::invalid(
                "--preset",
                format!("unknown preset '{other}' (known: fmnist, paper, tiny)"),
            )),
        }
    }

    /// Rejects values no run can use, naming the field.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first offending field: a zero batch, `ns`, `d_every`, width,
    /// row count or test limit; no stream layer; an empty data directory without a features file;
    /// an imbalance below 1 or not finite; a learning rate, loss weight or loss constant that is
    /// not finite or below its bound; explicit class counts of the wrong length or with a zero;
    /// `shots.few_below > shots.many_above + 1`; an integer above `i64::MAX`.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, msg: &str| Err(Error::invalid(what, msg));
        if self.phase1.batch == 0 {
            return bad("phase1.batch", "must be at least 1");
        }
        if self.phase2.batch == 0 {
            return bad("phase2.batch", "must be at least 1");
        }
        if self.phase2.ns == 0 {
            return bad("phase2.ns (--ns)", "must be at least 1");
        }
        if self.phase2.d_every == 0 {
            return bad("phase2.d_every", "must be at least 1");
        }
        if self.data.imbalance.is_nan() || self.data.imbalance < 1.0 {
            return bad("data.imbalance (--imbalance)", "must be ≥ 1");
        }
        if self.model.stream_widths.is_empty() {
            return bad("model.stream_widths", "needs at least one layer");
        }
        if !(self.phase2.lambda >= 0.0 && self.phase2.lambda.is_finite()) {
            return bad("phase2.lambda (--lambda)", "must be finite and ≥ 0");
        }
        if self.dict.max_rows_per_class == 0 {
            return bad("dict.max_rows_per_class", "must be at least 1");
        }
        if self.data.dir.as_os_str().is_empty() && self.data.features.is_none() {
            return bad(
                "data.dir (--data)",
                "is empty; name the directory of the Fashion-MNIST files",
            );
        }
        if self.data.test_limit == Some(0) {
            return bad("data.test_limit (--test-limit)", "must be at least 1");
        }
        if self.shots.few_below > self.shots.many_above + 1 {
            return bad(
                "shots.few_below",
                "must not exceed shots.many_above + 1 (few < medium ≤ many's bound)",
            );
        }
        self.validate_integers()?;
        self.validate_numbers()
    }

    /// Every integer must survive the TOML round trip through `config.toml` (TOML integers are
    /// 64-bit signed): a larger one, accepted from the command line, would otherwise be found only
    /// when the finished stage writes its configuration. Walks the whole configuration, so no
    /// field is forgotten, and names the first one out of range.
    fn validate_integers(&self) -> Result<()> {
        fn walk(v: &serde_json::Value, path: &mut Vec<String>) -> Option<(String, u64)> {
            match v {
                serde_json::Value::Number(n) => match n.as_u64() {
                    Some(u) if u > i64::MAX as u64 => Some((path.join("."), u)),
                    _ => None,
                },
                serde_json::Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| {
                    path.push(i.to_string());
                    let r = walk(x, path);
                    path.pop();
                    r
                }),
                serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
                    path.push(k.clone());
                    let r = walk(x, path);
                    path.pop();
                    r
                }),
                _ => None,
            }
        }
        let v = serde_json::to_value(self).map_err(|e| Error::invalid("config", e.to_string()))?;
        match walk(&v, &mut Vec::new()) {
            Some((field, value)) => Err(Error::invalid(
                match field.as_str() {
                    "seed" => "seed (--seed)".to_string(),
                    "data.test_limit" => "data.test_limit (--test-limit)".to_string(),
                    _ => field,
                },
                format!(
                    "{value} is above {}, the largest integer a configuration file holds",
                    i64::MAX
                ),
            )),
            None => Ok(()),
        }
    }

    /// Values a file could set to NaN, Inf or zero that the checks above do not cover; each would
    /// otherwise surface later as a NaN loss or an empty layer.
    fn validate_numbers(&self) -> Result<()> {
        let bad = |what: &str, msg: String| Err(Error::invalid(what, msg));
        for (what, sched) in [
            ("phase1.lr", &self.phase1.lr),
            ("phase2.lr", &self.phase2.lr),
        ] {
            let rates = std::iter::once(sched.base).chain(sched.drops.iter().map(|d| d.1));
            for lr in rates {
                if !(lr.is_finite() && lr > 0.0) {
                    return bad(what, format!("learning rate {lr}: must be finite and > 0"));
                }
            }
        }
        let m = &self.model;
        for (what, widths) in [
            ("model.stream_widths", &m.stream_widths),
            ("model.g_hidden", &m.g_hidden),
            ("model.d_hidden", &m.d_hidden),
        ] {
            if widths.contains(&0) {
                return bad(what, format!("{widths:?}: every width must be at least 1"));
            }
        }
        if m.z_dim == 0 {
            return bad("model.z_dim", "must be at least 1".into());
        }
        let p = &self.phase2;
        let finite = [
            (
                "phase1.heatmap_sigma",
                self.phase1.heatmap_sigma,
                f64::MIN_POSITIVE,
            ),
            ("phase1.landmark_weight", self.phase1.landmark_weight, 0.0),
            (
                "phase1.visibility_weight",
                self.phase1.visibility_weight,
                0.0,
            ),
            ("model.leaky_slope", m.leaky_slope, f64::NEG_INFINITY),
            ("phase2.focal_gamma", p.focal_gamma, 0.0),
            ("phase2.ldam_s", p.ldam_s, f64::MIN_POSITIVE),
            (
                "phase2.ldam_max_margin",
                p.ldam_max_margin,
                f64::MIN_POSITIVE,
            ),
        ];
        for (what, v, min) in finite {
            if !(v.is_finite() && v >= min) {
                let need = if min == 0.0 {
                    "finite and ≥ 0"
                } else if min > 0.0 {
                    "finite and > 0"
                } else {
                    "finite"
                };
                return bad(what, format!("{v}: must be {need}"));
            }
        }
        if !self.data.imbalance.is_finite() {
            return bad("data.imbalance (--imbalance)", "must be finite".into());
        }
        if self.data.n_max == 0 {
            return bad("data.n_max", "must be at least 1".into());
        }
        if let Some(counts) = &self.data.class_counts {
            let what = "data.class_counts (--class-counts)";
            let classes = crate::data::fmnist::FASHION_MNIST_CLASS_COUNT;
            if counts.len() != classes {
                return bad(
                    what,
                    format!(
                        "{} counts given, Fashion-MNIST has {classes} classes",
                        counts.len()
                    ),
                );
            }
            if let Some(c) = counts.iter().position(|&n| n == 0) {
                return bad(
                    what,
                    format!("class {c} would get 0 training images; every class needs at least 1"),
                );
            }
        }
        Ok(())
    }

    /// The configuration as pretty TOML, the text of a run's `config.toml`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if TOML cannot represent a value (integers above `i64::MAX`, which
    /// [`Config::validate`] rejects first).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::invalid("config", e.to_string()))
    }

    /// Reads and validates a TOML configuration file, such as a run's `config.toml`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, and [`Error::BadFile`] naming it if it is not a
    /// regular file of bounded size, not UTF-8, not a configuration (unknown or missing fields), or
    /// fails [`Config::validate`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::internal::io::read::read_regular(
            path,
            "a TOML configuration",
            crate::internal::io::read::MAX_CONFIG_BYTES,
        )?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::bad_file(
                path,
                format!(
                    "not a TOML file: invalid UTF-8 at byte {}",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Self::from_toml(path, &text)
    }

    /// [`load`](Self::load) on text already in memory; `path` only names it in errors.
    ///
    /// # Errors
    /// [`Error::BadFile`] naming `path` if `text` does not parse (the message cut to a readable
    /// length) or fails [`Config::validate`].
    pub fn from_toml(path: &Path, text: &str) -> Result<Self> {
        let c: Config =
            toml::from_str(text).map_err(|e| Error::bad_file(path, short(&e.to_string())))?;
        c.validate()
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        Ok(c)
    }
}

/// A parse error cut to a readable length: TOML's messages quote the offending line, and a
/// hostile file's one line can be hundreds of kilobytes (deep nesting).
fn short(msg: &str) -> String {
    const MAX: usize = 600;
    if msg.len() <= MAX {
        return msg.to_string();
    }
    let mut end = MAX;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} … ({} more bytes of the message left out)",
        &msg[..end],
        msg.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_data_directory_is_named_not_printed_as_nothing() {
        let mut c = Config::fmnist();
        c.data.dir = PathBuf::new();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("data.dir (--data)") && e.contains("is empty"),
            "{e}"
        );
        // With a features file the directory is not used.
        c.data.features = Some("f.safetensors".into());
        c.validate().unwrap();
    }

    #[test]
    fn long_parse_errors_are_cut() {
        let e = Config::from_toml(
            Path::new("deep.toml"),
            &format!("x = {}", "[".repeat(100_000)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.len() < 1000 && e.contains("deep.toml"),
            "{} bytes",
            e.len()
        );
    }
}
