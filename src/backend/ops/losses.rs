//! The losses family (kernels/losses.cu): row softmax, the classifier losses (CE, MSE on softmax, focal, LDAM), the visibility BCE.

use crate::backend::*;
use crate::error::Result;

/// The losses family (kernels/losses.cu): Q's and A's classifier losses and the LDM's visibility
/// loss. Each loss op returns `(loss, grad)`: the batch mean as a `1 × 1` tensor and its gradient
/// with respect to the logits, of the logits' shape, the `1/B` included.
pub trait LossOps: Device {
    /// Row-wise softmax of `x` (`B × N`), a new `B × N` tensor whose rows sum to 1; the row
    /// maximum is subtracted first, so logits of ±1e4 stay finite.
    fn softmax_rows(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// Mean classifier loss `loss` (see [`ClassLoss`] for the per-row formulas) over the batch and
    /// its gradient with respect to the logits: `logits` is `B × N_C`, `labels` holds `B` classes
    /// in `0 … N_C−1`; returns `(1 × 1, B × N_C)`.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when `labels.len() != B`, `B` or `N_C` is 0
    /// ([`check::class_loss`]), a label is ≥ `N_C`, or LDAM's margins are not `1 × N_C`;
    /// [`Error::Invalid`] for LDAM's `s` not finite or focal `γ` not finite
    /// and ≥ 0 ([`check::class_loss_params`]). Checked in that order.
    fn class_loss(
        &self,
        logits: &Tensor<Self>,
        labels: &Indices<Self>,
        loss: ClassLoss<'_, Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Per-landmark visibility BCE on logits against 0/1 targets, `(1/B) Σ_b Σ_k` (same
    /// normalisation as Eq. 1), and its gradient. `logits` and `targets` are `B × K`; per element
    /// `max(x, 0) − x·t + log(1 + e^{−|x|})`, gradient `(σ(x) − t)/B`, both computed without
    /// overflow for large `|x|`. Returns `(1 × 1, B × K)`. [`Error::Shape`]
    /// when the shapes differ or `B = 0` ([`check::bce_logits`]).
    fn bce_logits(
        &self,
        logits: &Tensor<Self>,
        targets: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`LossOps::class_loss`], first: one label per row and a non-empty `B × N_C`; returns that
    /// shape. The backend then checks the labels' range, then calls [`class_loss_params`].
    pub fn class_loss<B: Device>(
        op: &'static str,
        logits: &Tensor<B>,
        labels: &Indices<B>,
    ) -> Result<(usize, usize)> {
        let (b, n) = logits.shape();
        if labels.len() != b {
            return Err(Error::shape(
                op,
                format!("{} labels for {b} rows of logits", labels.len()),
            ));
        }
        if b == 0 || n == 0 {
            return Err(Error::shape(
                op,
                format!("logits are {b}×{n}; a mean loss needs a non-empty batch and classes"),
            ));
        }
        Ok((b, n))
    }

    /// [`LossOps::class_loss`], last: the loss variant's parameters for `classes` classes (LDAM's
    /// margins `1 × classes` and a finite `s`; focal `γ` finite and ≥ 0).
    pub fn class_loss_params<B: Device>(
        op: &'static str,
        loss: ClassLoss<'_, B>,
        classes: usize,
    ) -> Result<()> {
        match loss {
            ClassLoss::Ldam { margins, s } => {
                shape(op, "margins", margins, 1, classes)?;
                if !s.is_finite() {
                    return Err(Error::invalid("LDAM scale s", format!("got {s}")));
                }
            }
            ClassLoss::Focal { gamma } if !(gamma >= 0.0 && gamma.is_finite()) => {
                return Err(Error::invalid(
                    "focal gamma",
                    format!("must be finite and ≥ 0, got {gamma}"),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// [`LossOps::bce_logits`]: logits and targets of one shape with at least one row; returns
    /// that shape.
    pub fn bce_logits<B: Device>(
        op: &'static str,
        logits: &Tensor<B>,
        targets: &Tensor<B>,
    ) -> Result<(usize, usize)> {
        same_shape(op, logits, targets)?;
        if logits.rows() == 0 {
            return Err(Error::shape(op, "empty batch"));
        }
        Ok(logits.shape())
    }
}
