//! The losses family (kernels/losses.cu): row softmax, the classifier losses (CE, MSE on softmax, focal, LDAM), the visibility BCE.

use crate::backend::*;
use crate::error::Result;

/// The losses family (kernels/losses.cu).
pub trait LossOps: Device {
    /// Row-wise softmax, stable for large logits.
    fn softmax_rows(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// Mean classifier loss over the batch and its gradient with respect to the logits.
    fn class_loss(
        &self,
        logits: &Tensor<Self>,
        labels: &Indices<Self>,
        loss: ClassLoss<'_, Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Per-landmark visibility BCE on logits against 0/1 targets, `(1/B) Σ_b Σ_k` (same
    /// normalisation as Eq. 1), and its gradient.
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

    /// One label per row and a non-empty `B × N_C`; returns that shape. The backend then checks the
    /// labels' range, then calls [`class_loss_params`].
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

    /// The loss variant's parameters for `classes` classes.
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

    /// Returns the shape of the logits.
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
