//! The lsgan family (kernels/lsgan.cu): the least-squares GAN losses of the discriminator (Eq. 5) and the generator (Eq. 4).

use crate::backend::*;
use crate::error::Result;

/// The lsgan family (kernels/lsgan.cu).
pub trait LsganOps: Device {
    /// `mean_b (target − D_b)²` and its gradient with respect to `d_out` (`B × 1`).
    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<Self>,
        target: f64,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Eq. 4: `mean_b [ q_{b,c_b}² + Σ_{j≠c_b, j≠c_m} (1 − q_{b,j})² ] + λ·mean_b (1 − D_b)²`,
    /// `q = softmax(q_logits)`, fused with the softmax.
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

    /// `B` of a `B × 1` discriminator output with `B > 0`.
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

    /// Q's logits and the labels against `batch` from [`lsgan_batch`], and the majority class;
    /// returns the class count. The backend then checks the labels' range.
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
