//! The lsgan family (kernels/lsgan.cu): the least-squares GAN losses of the discriminator (Eq. 5) and the generator (Eq. 4).

use crate::backend::*;
use crate::error::Result;

/// The lsgan family (kernels/lsgan.cu): the least-squares GAN losses of Phase 2 (METHOD.md §4).
/// `d_out` is D's raw output (no sigmoid), `B × 1`.
pub trait LsganOps: Device {
    /// Eq. 5's terms: `mean_b (target − D_b)²` and its gradient `−2(target − D_b)/B` with respect
    /// to `d_out` (`B × 1`); target 1 on real samples, 0 on generated ones. Returns
    /// `(1 × 1, B × 1)`. [`Error::Shape`] unless `d_out` is `B × 1` with
    /// `B > 0` ([`check::lsgan_batch`]).
    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<Self>,
        target: f64,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Eq. 4: `mean_b [ q_{b,c_b}² + Σ_{j≠c_b, j≠c_m} (1 − q_{b,j})² ] + λ·mean_b (1 − D_b)²`,
    /// `q = softmax(q_logits)`, fused with the softmax. `q_logits` is Q's output on the generated
    /// samples, `B × N_C`; `d_out` is D's, `B × 1`; `labels` holds the `B` generated classes
    /// `c_b`; `majority` is `c_m` (when `c_b = c_m` only `c_b` is left out of the sum); `lambda` is
    /// `λ` (1000). Returns the loss and both gradients ([`GenLossOut`]).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when `d_out` is not `B × 1` with `B > 0`
    /// ([`check::lsgan_batch`]), `q_logits` has other than `B` rows or `labels.len() != B`, or a
    /// label is ≥ `N_C`; [`Error::Invalid`] when `majority ≥ N_C`
    /// ([`check::lsgan_g_loss`]). The label range is checked last.
    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<Self>,
        d_out: &Tensor<Self>,
        labels: &Indices<Self>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`LsganOps::lsgan_d_loss`] and the first check of [`LsganOps::lsgan_g_loss`]: `B` of a
    /// `B × 1` discriminator output with `B > 0`.
    pub fn lsgan_batch<B: Device>(op: &'static str, d_out: &Tensor<B>) -> Result<usize> {
        if d_out.cols() != 1 || d_out.rows() == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "d_out is {}×{}, expected B×1 with B > 0",
                    d_out.rows(),
                    d_out.cols()
                ),
            ));
        }
        Ok(d_out.rows())
    }

    /// [`LsganOps::lsgan_g_loss`], second: Q's logits and the labels against `batch` from
    /// [`lsgan_batch`], and the majority class; returns the class count. The backend then checks
    /// the labels' range.
    pub fn lsgan_g_loss<B: Device>(
        op: &'static str,
        batch: usize,
        q_logits: &Tensor<B>,
        labels: &Indices<B>,
        majority: usize,
    ) -> Result<usize> {
        let classes = q_logits.cols();
        shape(op, "q_logits", q_logits, batch, classes)?;
        if labels.len() != batch {
            return Err(Error::shape(
                op,
                format!("{} labels for a batch of {batch}", labels.len()),
            ));
        }
        if majority >= classes {
            return Err(Error::invalid(
                "majority class",
                format!("{op}: {majority} out of range for {classes} classes"),
            ));
        }
        Ok(classes)
    }
}
