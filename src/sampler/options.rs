//! What a sampler fit is computed from: the seed, the stream layout, the networks' widths and the
//! training budget. Every value has a default a user coming from SMOTE need not touch; the budget
//! scales with the data (see [`SamplerOptions::phase2_iterations`]).

use serde::{Deserialize, Serialize};

use crate::backend::Precision;
use crate::config::{Config, QLoss};
use crate::error::{Error, Result};
use crate::nn::LrSchedule;

/// Default `N_s` (rows combined per synthetic sample), as in the `fmnist` preset; lowered to the
/// smallest class when that has fewer rows and `ns` is left unset.
pub const DEFAULT_NS: usize = 30;

/// Phase 2 iterations when the budget is left to scale with the data: ten passes over the data,
/// but never fewer than [`MIN_ITERATIONS`] (a small data set still needs G trained) nor more than
/// [`MAX_ITERATIONS`] (so 100,000 rows of 512 features resample in under two minutes on two cores;
/// BENCHMARKS.md has the measurement and what the cap costs in quality).
pub const AUTO_EPOCHS: usize = 10;
/// The least Phase 2 iterations of an automatic budget (see [`AUTO_EPOCHS`]).
pub const MIN_ITERATIONS: usize = 300;
/// The most Phase 2 iterations of an automatic budget (see [`AUTO_EPOCHS`]).
pub const MAX_ITERATIONS: usize = 1000;

/// Q's updates on the real rows before Phase 2: `q_epochs` passes, but at most this many (on
/// 100,000 rows, ten passes would be 3,910 updates for a classifier that has converged long before).
pub const MAX_Q_UPDATES: usize = 2000;

/// Options of [`fit`](super::fit()). `Default` gives the documented defaults; they round-trip
/// through serde (a sampler file stores them), unknown keys refused, missing ones defaulted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerOptions {
    /// Seeds every random stream of the fit (weights, batches, noise) and of sampling.
    pub seed: u64,
    /// `None`: one stream, the user's whole feature vector. `Some(k)`: the last `k` columns are
    /// the shape stream and the others the texture stream (METHOD.md §1), each combined with its
    /// own convex weights.
    pub shape_columns: Option<usize>,
    /// Rows combined per synthetic sample; `None` = [`DEFAULT_NS`], or the smallest class's row
    /// count when that is lower.
    pub ns: Option<usize>,
    /// Phase 2 iterations; `None` scales with the data (see [`Self::phase2_iterations`]).
    pub iterations: Option<usize>,
    /// Epochs of Q's training on the real features before Phase 2.
    pub q_epochs: usize,
    /// Batch size of both stages.
    pub batch: usize,
    /// Adam learning rate of Q's training before Phase 2.
    pub q_lr: f64,
    /// Adam learning rate of Phase 2 (G, D and Q).
    pub lr: f64,
    /// Weight λ of the adversarial term of Eq. 4.
    pub lambda: f64,
    /// D is updated on every `d_every`-th iteration.
    pub d_every: usize,
    /// Q's loss in Phase 2.
    pub q_loss: QLoss,
    /// Hidden width of Q (0 = a single Linear).
    pub q_hidden: usize,
    /// Noise width of G.
    pub z_dim: usize,
    /// Hidden widths of G, first layer first (Table 1: 512, 1024).
    pub g_hidden: Vec<usize>,
    /// Hidden widths of D, first layer first (Table 1: 1024, 512).
    pub d_hidden: Vec<usize>,
    /// Rows kept per class in the dictionaries (METHOD.md §3).
    pub max_rows_per_class: usize,
    /// Storage precision of the dictionaries on the backend.
    pub precision: Precision,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        let base = Config::fmnist();
        SamplerOptions {
            seed: 0,
            shape_columns: None,
            ns: None,
            iterations: None,
            q_epochs: 10,
            batch: base.phase2.batch,
            q_lr: 1e-3,
            lr: 1e-4,
            lambda: base.phase2.lambda,
            d_every: base.phase2.d_every,
            q_loss: base.phase2.q_loss,
            q_hidden: base.model.q_hidden,
            z_dim: base.model.z_dim,
            g_hidden: base.model.g_hidden,
            d_hidden: base.model.d_hidden,
            max_rows_per_class: base.dict.max_rows_per_class,
            precision: Precision::F32,
        }
    }
}

impl SamplerOptions {
    /// Refuses settings no fit could use, naming the option.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("batch", self.batch),
            ("q_epochs", self.q_epochs),
            ("z_dim", self.z_dim),
            ("d_every", self.d_every),
            ("max_rows_per_class", self.max_rows_per_class),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        if self.ns == Some(0) {
            return Err(Error::invalid("ns", "must be at least 1"));
        }
        if self.iterations == Some(0) {
            return Err(Error::invalid("iterations", "must be at least 1"));
        }
        if self.shape_columns == Some(0) {
            return Err(Error::invalid(
                "shape_columns",
                "must be at least 1 (leave it unset for one stream)",
            ));
        }
        for (name, v) in [
            ("q_lr", self.q_lr),
            ("lr", self.lr),
            ("lambda", self.lambda),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    name,
                    format!("{v}: must be a positive number"),
                ));
            }
        }
        if let Some(w) = self
            .g_hidden
            .iter()
            .chain(&self.d_hidden)
            .find(|&&w| w == 0)
        {
            return Err(Error::invalid(
                "g_hidden / d_hidden",
                format!("a width of {w}"),
            ));
        }
        Ok(())
    }

    /// Phase 2 iterations for `n` training rows: `iterations` when set, else
    /// `clamp(AUTO_EPOCHS · ceil(n / batch), MIN_ITERATIONS, MAX_ITERATIONS)`.
    pub fn phase2_iterations(&self, n: usize) -> usize {
        self.iterations.unwrap_or_else(|| {
            (AUTO_EPOCHS * n.div_ceil(self.batch.max(1))).clamp(MIN_ITERATIONS, MAX_ITERATIONS)
        })
    }

    /// Q's updates on the real rows for `n` training rows, per epoch and epochs:
    /// `q_epochs · ceil(n / batch)` in all, capped at [`MAX_Q_UPDATES`] by shortening the epochs.
    pub fn q_updates(&self, n: usize) -> (usize, usize) {
        let per_epoch = n.div_ceil(self.batch.max(1)).max(1);
        let cap = MAX_Q_UPDATES.div_ceil(self.q_epochs.max(1));
        (per_epoch.min(cap), self.q_epochs)
    }

    /// `N_s` for classes whose smallest has `min_rows` dictionary rows: `ns` when set, else
    /// `min(DEFAULT_NS, min_rows)`. An explicit `ns` above `min_rows` is an error naming
    /// `smallest_class` (the label to report).
    pub fn ns_for(&self, min_rows: usize, smallest_class: usize) -> Result<usize> {
        match self.ns {
            None => Ok(DEFAULT_NS.min(min_rows)),
            Some(ns) if ns > min_rows => Err(Error::invalid(
                "ns",
                format!(
                    "N_s = {ns} exceeds the {min_rows} rows of class {smallest_class}, the \
                     smallest; use ns ≤ {min_rows} (or leave it unset)"
                ),
            )),
            Some(ns) => Ok(ns),
        }
    }

    /// The pipeline configuration Phase 2 runs under (the `fmnist` preset with these values and
    /// `N_s = ns`); Phase 2 runs `epochs` epochs, each as long as the `n_train` it is given
    /// makes it.
    pub(crate) fn to_config(&self, ns: usize, epochs: usize) -> Config {
        let mut cfg = Config::fmnist();
        cfg.preset = "sampler".into();
        cfg.seed = self.seed;
        cfg.model.q_hidden = self.q_hidden;
        cfg.model.z_dim = self.z_dim;
        cfg.model.g_hidden = self.g_hidden.clone();
        cfg.model.d_hidden = self.d_hidden.clone();
        cfg.dict.max_rows_per_class = self.max_rows_per_class;
        cfg.dict.precision = self.precision;
        let p2 = &mut cfg.phase2;
        p2.epochs = epochs;
        p2.batch = self.batch;
        p2.lr = LrSchedule::constant(self.lr);
        p2.ns = ns;
        p2.cap_ns = false;
        p2.lambda = self.lambda;
        p2.d_every = self.d_every;
        p2.q_loss = self.q_loss;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_scales_with_the_data_between_its_bounds() {
        let o = SamplerOptions::default();
        assert_eq!(o.phase2_iterations(100), MIN_ITERATIONS);
        // 10 passes of ceil(10_000 / 256) = 40 batches.
        assert_eq!(o.phase2_iterations(10_000), 400);
        assert_eq!(o.phase2_iterations(100_000), MAX_ITERATIONS);
        assert_eq!(o.q_updates(1000), (4, 10));
        assert_eq!(
            o.q_updates(100_000),
            (200, 10),
            "capped at 2000 updates in all"
        );
        let fixed = SamplerOptions {
            iterations: Some(7),
            ..o
        };
        assert_eq!(fixed.phase2_iterations(100_000), 7);
    }

    #[test]
    fn ns_defaults_to_the_smallest_class_and_an_explicit_excess_is_refused() {
        let o = SamplerOptions::default();
        assert_eq!(o.ns_for(12, 3).unwrap(), 12);
        assert_eq!(o.ns_for(500, 3).unwrap(), DEFAULT_NS);
        let o = SamplerOptions { ns: Some(20), ..o };
        let e = o.ns_for(12, 3).unwrap_err().to_string();
        assert!(e.contains("N_s = 20") && e.contains("class 3"), "{e}");
    }

    #[test]
    fn unusable_options_are_named() {
        for (o, name) in [
            (
                SamplerOptions {
                    batch: 0,
                    ..Default::default()
                },
                "batch",
            ),
            (
                SamplerOptions {
                    lr: f64::NAN,
                    ..Default::default()
                },
                "lr",
            ),
            (
                SamplerOptions {
                    shape_columns: Some(0),
                    ..Default::default()
                },
                "shape_columns",
            ),
        ] {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        SamplerOptions::default().validate().unwrap();
    }
}
