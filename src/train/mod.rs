//! The trainer, written once against [`Backend`]: Phase 1, the feature dictionaries, Phase 2, the
//! baselines and the evaluation.
//!
//! # Training on an in-memory data set
//!
//! A library user holding a [`Dataset`](crate::data::Dataset) (`n × dim` row-major f32 `x`, labels
//! `0..classes`; [`synthetic_blobs`](crate::data::synthetic_blobs) builds one) calls, in order:
//!
//! 1. [`pipeline::run_phase1`] (or [`pipeline::run_phase1_on`] for two backbones or landmarks):
//!    Phase 1 (METHOD.md §2) from a fresh initialisation, returning the trained
//!    [`Heads`](crate::model::Heads) and one [`EpochLog`] per epoch;
//! 2. [`pipeline::build_features`]: the frozen streams' features of every training row and the
//!    per-class [`Dictionary`](dictionary::Dictionary) of the paper's Eq. 2 (METHOD.md §3);
//! 3. [`Phase2Run::new`] then [`Phase2Run::train`] on `heads.q`, `n` and that dictionary: Phase 2,
//!    the three-player game of Algorithm 1 (Eqs. 3–5, METHOD.md §4), returning the players
//!    ([`Game`](phase2::Game), whose `q` is the final classifier) and the epoch logs;
//! 4. [`pipeline::evaluate_q`]: the metrics of the paper's Eq. 6 on a test
//!    [`Dataset`](crate::data::Dataset).
//!
//! [`pipeline::run_method`] produces the final Q of any baseline from the same Phase 1 heads
//! instead of step 3. `examples/train_in_memory.rs` runs the four steps on Gaussian blobs; the
//! [`pipeline`] module documentation has the same as code. Everything is seeded from
//! `cfg.seed`, so a run is reproducible on one backend.

pub mod baselines;
pub mod checkpoint;
pub mod dictionary;
#[doc(hidden)]
pub mod guard;
#[doc(hidden)]
pub mod iteration;
pub mod oversample;
pub mod phase1;
pub mod phase2;
pub mod phase2_run;
pub mod pipeline;
pub mod posthoc;
#[doc(hidden)]
pub mod sampling;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use phase2_run::Phase2Run;

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};

/// Losses are read from the backend every this many iterations (one synchronisation each).
pub const LOG_EVERY: usize = 25;

#[doc(hidden)]
/// Seeds of the independent random streams of a run, derived from the run seed so that changing
/// one stage (say, the number of Phase 2 epochs) does not shift the numbers another stage sees.
pub fn stage_rng(seed: u64, stage: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stage);
    rng
}
#[doc(hidden)]
pub const STREAM_INIT: u64 = 1;
#[doc(hidden)]
pub const STREAM_PHASE1: u64 = 2;
#[doc(hidden)]
pub const STREAM_PHASE2: u64 = 3;
#[doc(hidden)]
pub const STREAM_BASELINE: u64 = 4;
#[doc(hidden)]
pub const STREAM_SMOTE: u64 = 5;

/// Mean losses of one epoch of one stage, as the trainer returns them (and a run directory's
/// `phase1_log.json` / `phase2_log.json` store them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// The stage: `phase1`, `phase2`, `finetune` (a baseline's or the sampler's Q training), or a
    /// post-hoc method's name.
    pub stage: String,
    /// The epoch, 0-based.
    pub epoch: usize,
    /// Mean of each loss over the epoch's iterations, by name (`ce_q`, `ce_a`, `land`, `vis` in
    /// Phase 1; `q_real`, `q_fake`, `d_real`, `d_fake`, `g` in Phase 2; the Q loss's name, such as
    /// `ce`, in `finetune`). A post-hoc method records the setting it chose here instead (`tau`,
    /// `lr`).
    pub losses: BTreeMap<String, f64>,
}

impl EpochLog {
    /// An empty log of epoch `epoch` (0-based) of `stage`.
    pub fn new(stage: &str, epoch: usize) -> Self {
        EpochLog {
            stage: stage.to_string(),
            epoch,
            losses: BTreeMap::new(),
        }
    }

    /// Reads the scalar tensors `values` (one synchronisation) and records their mean as `name`;
    /// nothing when empty. An error only when the backend cannot read them back.
    pub fn add_mean<B: Backend>(&mut self, be: &B, name: &str, values: &[Tensor<B>]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let refs: Vec<&Tensor<B>> = values.iter().collect();
        let v = be.read_scalars(&refs)?;
        self.losses
            .insert(name.to_string(), v.iter().sum::<f64>() / v.len() as f64);
        Ok(())
    }

    /// A NaN or Inf loss stops the stage: [`Error::NonFinite`] naming stage, epoch (1-based) and
    /// loss.
    pub fn check_finite(&self) -> Result<()> {
        for (k, v) in &self.losses {
            if !v.is_finite() {
                return Err(Error::NonFinite(format!(
                    "{} epoch {}: loss '{k}' is {v}",
                    self.stage,
                    self.epoch + 1
                )));
            }
        }
        Ok(())
    }
}
