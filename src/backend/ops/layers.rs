//! The layers family (kernels/layers.cu): bias + activation and its backward, column sums, BatchNorm1d.

use crate::backend::*;
use crate::error::Result;

/// The layers family (kernels/layers.cu).
pub trait LayerOps: Device {
    /// `act(x + bias)` with `bias` broadcast over rows (`1 × cols`), or `act(x)` without it.
    fn bias_act_fwd(
        &self,
        x: &Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<Tensor<Self>>;
    /// Gradient through `act`, from its *output* `y` (valid for ReLU and LeakyReLU with α > 0).
    fn act_bwd(&self, y: &Tensor<Self>, dy: &Tensor<Self>, act: Activation)
        -> Result<Tensor<Self>>;
    /// Column sums, `1 × cols` (bias gradients).
    fn col_sum(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// BatchNorm1d in training mode: batch statistics (biased variance) normalise `x`; the running
    /// averages move by `momentum` toward the batch mean and the *unbiased* batch variance
    /// (PyTorch's convention).
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_fwd_train(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &mut Tensor<Self>,
        running_var: &mut Tensor<Self>,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tensor<Self>, BnCache<Self>)>;
    /// BatchNorm1d in inference mode with the running averages.
    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &Tensor<Self>,
        running_var: &Tensor<Self>,
        eps: f64,
    ) -> Result<Tensor<Self>>;
    /// Returns `(dx, dgamma, dbeta)`.
    fn batchnorm_bwd(
        &self,
        dy: &Tensor<Self>,
        cache: &BnCache<Self>,
        gamma: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>, Tensor<Self>)>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// The activation's parameter.
    pub fn activation(op: &'static str, act: Activation) -> Result<()> {
        if let Activation::LeakyRelu(a) = act {
            // The backward recovers the sign of the pre-activation from the output, which needs α > 0.
            if !(a > 0.0 && a.is_finite()) {
                return Err(Error::invalid(
                    format!("{op} activation"),
                    format!("LeakyReLU slope must be finite and > 0, got {a}"),
                ));
            }
        }
        Ok(())
    }

    pub fn bias_act_fwd<B: Device>(
        op: &'static str,
        x: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        act: Activation,
    ) -> Result<()> {
        activation(op, act)?;
        if let Some(b) = bias {
            shape(op, "bias", b, 1, x.cols())?;
        }
        Ok(())
    }

    pub fn act_bwd<B: Device>(
        op: &'static str,
        y: &Tensor<B>,
        dy: &Tensor<B>,
        act: Activation,
    ) -> Result<()> {
        activation(op, act)?;
        same_shape(op, y, dy)
    }

    /// The four per-column parameters of BatchNorm1d against `x`'s columns.
    pub fn batchnorm_params<B: Device>(
        op: &'static str,
        x: &Tensor<B>,
        gamma: &Tensor<B>,
        beta: &Tensor<B>,
        running_mean: &Tensor<B>,
        running_var: &Tensor<B>,
    ) -> Result<()> {
        for (what, t) in [
            ("gamma", gamma),
            ("beta", beta),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ] {
            shape(op, what, t, 1, x.cols())?;
        }
        Ok(())
    }

    /// The parameters, and a batch the training-mode statistics can use; returns `x`'s shape.
    pub fn batchnorm_fwd_train<B: Device>(
        op: &'static str,
        x: &Tensor<B>,
        gamma: &Tensor<B>,
        beta: &Tensor<B>,
        running_mean: &Tensor<B>,
        running_var: &Tensor<B>,
    ) -> Result<(usize, usize)> {
        batchnorm_params(op, x, gamma, beta, running_mean, running_var)?;
        let (b, c) = x.shape();
        // The unbiased variance for the running average divides by B − 1 (PyTorch refuses B = 1 too).
        if b < 2 {
            return Err(Error::shape(
                op,
                format!("x has {b} rows; training-mode batch statistics need at least 2"),
            ));
        }
        Ok((b, c))
    }

    /// Returns `dy`'s shape.
    pub fn batchnorm_bwd<B: Device>(
        op: &'static str,
        dy: &Tensor<B>,
        cache: &BnCache<B>,
        gamma: &Tensor<B>,
    ) -> Result<(usize, usize)> {
        same_shape(op, dy, &cache.xhat)?;
        let (b, c) = dy.shape();
        shape(op, "gamma", gamma, 1, c)?;
        shape(op, "inv_std", &cache.inv_std, 1, c)?;
        Ok((b, c))
    }
}
