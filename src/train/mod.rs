//! The trainer, written once against [`Backend`]: Phase 1, the feature dictionaries, Phase 2, the
//! baselines and the evaluation.

pub mod baselines;
pub mod checkpoint;
pub mod dictionary;
pub mod guard;
pub mod iteration;
pub mod phase1;
pub mod phase2;
pub mod pipeline;
pub mod progress;
pub mod sampling;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};

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
