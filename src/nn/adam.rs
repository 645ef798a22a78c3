use super::Param;
use crate::backend::{AdamHyper, Backend};
use crate::error::Result;

/// Adam over a set of parameters, with its own step counter (bias correction is per optimizer,
/// as in PyTorch where each network has its optimizer).
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step: u64,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
        }
    }
}

impl Adam {
    /// One update of every parameter that has a gradient.
    pub fn step<'a, B: Backend>(
        &mut self,
        be: &B,
        lr: f64,
        params: impl IntoIterator<Item = &'a mut Param<B>>,
    ) -> Result<()> {
        self.step += 1;
        let hyper = AdamHyper {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            step: self.step,
        };
        for p in params {
            let Some(grad) = p.grad.take() else { continue };
            p.ensure_moments(be)?;
            let (m, v) = (
                p.m.as_mut().expect("moments"),
                p.v.as_mut().expect("moments"),
            );
            be.adam_step(&mut p.value, &grad, m, v, &hyper)?;
        }
        Ok(())
    }
}

/// Step learning-rate schedule: `base` until the first drop's epoch, then each drop's value
/// (METHOD.md §2/§4: 5e-5 dropping to 1e-5 after 3 epochs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LrSchedule {
    pub base: f64,
    /// `(epoch, lr)`: from epoch `epoch` (0-based) on, the rate is `lr`. Sorted by epoch.
    pub drops: Vec<(usize, f64)>,
}

impl LrSchedule {
    pub fn constant(lr: f64) -> Self {
        LrSchedule {
            base: lr,
            drops: Vec::new(),
        }
    }
    pub fn at(&self, epoch: usize) -> f64 {
        self.drops
            .iter()
            .rfind(|(e, _)| epoch >= *e)
            .map(|&(_, lr)| lr)
            .unwrap_or(self.base)
    }
}
