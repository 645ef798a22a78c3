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
    Mse,
    Focal,
    Ldam,
    Ce,
}

impl QLoss {
    pub fn name(self) -> &'static str {
        match self {
            QLoss::Mse => "mse",
            QLoss::Focal => "focal",
            QLoss::Ldam => "ldam",
            QLoss::Ce => "ce",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Directory with the four Fashion-MNIST `*-ubyte.gz` files.
    pub dir: PathBuf,
    /// Imbalance ratio ρ of the exponential profile (METHOD.md §6).
    pub imbalance: f64,
    /// Largest class count `n_max` of the exponential profile.
    pub n_max: usize,
    /// Explicit per-class counts, overriding the profile.
    pub class_counts: Option<Vec<usize>>,
    /// Images per class set aside as the balanced validation set.
    pub val_per_class: usize,
    /// Use only the first `test_limit` test images (tests of the pipeline itself); `None` = all.
    pub test_limit: Option<usize>,
    /// A features file written by `convexgan extract` (DeepFashion through an ONNX backbone); when
    /// set, it replaces Fashion-MNIST: its train / val / test partition is used as it is (the data
    /// set's own imbalance) and `dir`, `imbalance`, `n_max` and `class_counts` are not used.
    #[serde(default)]
    pub features: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden and output widths of each stream block `f_t`, `f_s` (Linear → BN → ReLU each).
    pub stream_widths: Vec<usize>,
    /// Hidden width of Q (`0` = a single Linear).
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase1Config {
    pub epochs: usize,
    pub batch: usize,
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
}

/// Serde default of the landmark settings, so configuration files written before they existed
/// still load.
fn default_one() -> f64 {
    1.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DictConfig {
    /// Rows kept per class (METHOD.md §3: 2000).
    pub max_rows_per_class: usize,
    pub precision: Precision,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase2Config {
    pub epochs: usize,
    pub batch: usize,
    pub lr: LrSchedule,
    /// Dictionary rows per generated sample (METHOD.md §4; paper 100, `fmnist` 30).
    pub ns: usize,
    /// Lower `ns` to the smallest class dictionary (with a note) instead of stopping with an error
    /// (METHOD.md §4: "N_s = 100, capped by the smallest dictionary"; on for `paper`, whose 100 rows a
    /// rare DeepFashion category does not have).
    #[serde(default)]
    pub cap_ns: bool,
    /// Weight λ of the adversarial term of Eq. 4 (paper: 1000).
    pub lambda: f64,
    /// D is updated on every `d_every`-th iteration (METHOD.md §4: 5).
    pub d_every: usize,
    pub q_loss: QLoss,
    /// Focal loss γ.
    pub focal_gamma: f64,
    /// LDAM scale s and largest margin (Cao et al. 2019: 30, 0.5).
    pub ldam_s: f64,
    pub ldam_max_margin: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub preset: String,
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub phase1: Phase1Config,
    pub dict: DictConfig,
    pub phase2: Phase2Config,
    /// Where the report's many / medium / few-shot groups split (training images per class).
    #[serde(default)]
    pub shots: crate::metrics::ShotThresholds,
}

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
        };
        c.phase2.lr = sched;
        c.phase2.ns = 100;
        c.phase2.cap_ns = true;
        c.phase2.q_loss = QLoss::Mse;
        c
    }

    /// A tiny preset for tests of the pipeline itself (seconds, not minutes).
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

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::invalid("config", e.to_string()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::io::read::read_regular(
            path,
            "a TOML configuration",
            crate::io::read::MAX_CONFIG_BYTES,
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

    /// [`load`](Self::load) on text already in memory; `path` names it in errors.
    /// The configuration in `text` (read from `path`, named in errors).
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
