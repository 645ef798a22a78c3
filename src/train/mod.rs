//! The trainer, written once against [`Backend`]: Phase 1, the feature dictionaries, Phase 2, the
//! baselines and the evaluation.

pub mod baselines;
pub mod checkpoint;
pub mod dictionary;
pub mod guard;
pub mod iteration;
pub mod oversample;
pub mod phase1;
pub mod phase2;
pub mod phase2_run;
pub mod pipeline;
pub mod posthoc;
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

/// Seeds of the independent random streams of a run, derived from the run seed so that changing
/// one stage (say, the number of Phase 2 epochs) does not shift the numbers another stage sees.
pub fn stage_rng(seed: u64, stage: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stage);
    rng
}
pub const STREAM_INIT: u64 = 1;
pub const STREAM_PHASE1: u64 = 2;
pub const STREAM_PHASE2: u64 = 3;
pub const STREAM_BASELINE: u64 = 4;
pub const STREAM_SMOTE: u64 = 5;

/// Mean losses of one epoch of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub stage: String,
    pub epoch: usize,
    pub losses: BTreeMap<String, f64>,
}

impl EpochLog {
    pub fn new(stage: &str, epoch: usize) -> Self {
        EpochLog {
            stage: stage.to_string(),
            epoch,
            losses: BTreeMap::new(),
        }
    }

    /// Reads `values` (one synchronisation) and records their mean; nothing when empty.
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

    /// A NaN or Inf loss stops the stage, naming stage, epoch and loss.
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
