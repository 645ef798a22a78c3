use super::Param;
use crate::backend::{AdamHyper, Backend};
use crate::error::Result;

/// Adam (Kingma & Ba 2015) with bias correction and no weight decay, over whichever parameters
/// each [`step`](Adam::step) is given. The moments live in each [`Param`]; the step counter used
/// for bias correction lives here, one per optimizer (Phase 1 has one for every head, Phase 2 one
/// per player, METHOD.md §2 and §4). [`Default`] is β = (0.9, 0.999), eps 1e-8, step 0.
#[derive(Clone, Debug)]
pub struct Adam {
    /// Decay of the first moment `m` (0.9).
    pub beta1: f64,
    /// Decay of the second moment `v` (0.999).
    pub beta2: f64,
    /// Added to `√v̂` in the denominator (1e-8).
    pub eps: f64,
    /// Updates made so far; the next [`step`](Adam::step) uses `step + 1` (1-based) for the bias
    /// corrections `1 − βᵗ`. Phase 2's checkpoints save it, so a resumed run continues the
    /// correction.
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
    /// One update at learning rate `lr` of every parameter in `params` that has a gradient: the
    /// gradient is taken (left `None`), the moments are created as zeros on first use, and
    /// `value −= lr · m̂ / (√v̂ + eps)`. Parameters without a gradient are skipped, but the
    /// counter advances once per call regardless.
    ///
    /// # Errors
    ///
    /// When the backend fails to allocate the moments or rejects the update (a gradient whose
    /// shape differs from its parameter's).
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

/// Step learning-rate schedule over 0-based epochs: `base` until the first drop's epoch, then
/// each drop's value from its epoch on (METHOD.md §2/§4: the paper's 5e-5 dropping to 1e-5 from
/// epoch 3). Read from and written to the configuration's `phase1.lr` and `phase2.lr` keys.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LrSchedule {
    /// The rate before the first drop (all epochs when `drops` is empty).
    pub base: f64,
    /// `(epoch, lr)`: from epoch `epoch` (0-based) on, the rate is `lr`. Sorted by epoch.
    pub drops: Vec<(usize, f64)>,
}

impl LrSchedule {
    /// `lr` for every epoch.
    pub fn constant(lr: f64) -> Self {
        LrSchedule {
            base: lr,
            drops: Vec::new(),
        }
    }
    /// The rate for 0-based `epoch`: the last drop whose epoch is `≤ epoch`, else `base`. Relies on
    /// `drops` being sorted; with an unsorted list the last matching entry in list order wins.
    pub fn at(&self, epoch: usize) -> f64 {
        self.drops
            .iter()
            .rfind(|(e, _)| epoch >= *e)
            .map(|&(_, lr)| lr)
            .unwrap_or(self.base)
    }
}
