//! The layers family (kernels/layers.cu): bias + activation and its backward, column sums, BatchNorm1d.

use crate::backend::*;
use crate::error::Result;

/// The layers family (kernels/layers.cu): what a Linear → BatchNorm1d → activation block needs
/// beyond the matrix product. `x` is `B × C` (a sample per row, a feature per column) throughout.
pub trait LayerOps: Device {
    /// `act(x + bias)` with `bias` (`1 × C`) broadcast over the rows, or `act(x)` without it; a new
    /// `B × C` tensor. [`Error::Invalid`] for a LeakyReLU slope that is not
    /// finite and > 0, [`Error::Shape`] for a bias that is not `1 × C`
    /// ([`check::bias_act_fwd`]).
    fn bias_act_fwd(
        &self,
        x: &Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<Tensor<Self>>;
    /// Gradient through `act`, from its *output* `y` (which is why LeakyReLU needs α > 0):
    /// `dx = dy` where `y > 0`, else `slope·dy` (slope 0 for ReLU, α for LeakyReLU); `dx = dy` for
    /// [`Activation::Identity`]. `y` and `dy` are `B × C`; returns `dx`, `B × C`. Errors as
    /// [`check::act_bwd`].
    fn act_bwd(&self, y: &Tensor<Self>, dy: &Tensor<Self>, act: Activation)
        -> Result<Tensor<Self>>;
    /// [`bias_act_fwd`](Self::bias_act_fwd) written over `x`, for a caller that has no further use
    /// for `x` (a Linear layer's fresh product): a backend may then skip the new tensor and the
    /// extra pass. Same errors; on an error `x` is left as it was.
    fn bias_act_fwd_inplace(
        &self,
        x: &mut Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<()> {
        *x = self.bias_act_fwd(x, bias, act)?;
        Ok(())
    }
    /// [`act_bwd`](Self::act_bwd) written over `dy`, for a caller that has no further use for
    /// `dy`. Same errors; on an error `dy` is left as it was.
    fn act_bwd_inplace(
        &self,
        y: &Tensor<Self>,
        dy: &mut Tensor<Self>,
        act: Activation,
    ) -> Result<()> {
        *dy = self.act_bwd(y, dy, act)?;
        Ok(())
    }
    /// Column sums of `x` (`B × C`), `1 × C`: a bias's gradient from the gradient of its output.
    fn col_sum(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// BatchNorm1d in training mode: batch statistics (biased variance) normalise `x`; the running
    /// averages move by `momentum` toward the batch mean and the *unbiased* batch variance
    /// (PyTorch's convention). Per column `j`, with `μ_j` and `σ²_j = mean_b (x_bj − μ_j)²`:
    /// `x̂ = (x − μ) / √(σ² + eps)`, `y = γ·x̂ + β`,
    /// `running_mean ← (1 − momentum)·running_mean + momentum·μ` and
    /// `running_var ← (1 − momentum)·running_var + momentum·σ²·B/(B − 1)`.
    ///
    /// `x` is `B × C`; `gamma`, `beta`, `running_mean` and `running_var` are `1 × C` (the last two
    /// updated in place). Returns `y` (`B × C`) and the [`BnCache`] the backward needs.
    /// [`Error::Shape`] when a parameter is not `1 × C` or `B < 2`
    /// ([`check::batchnorm_fwd_train`]).
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
    /// BatchNorm1d in inference mode with the running averages:
    /// `y = γ·(x − running_mean) / √(running_var + eps) + β` per column, a new `B × C` tensor (any
    /// `B ≥ 1`; nothing is updated). [`Error::Shape`] when a parameter is not
    /// `1 × C` ([`check::batchnorm_params`]).
    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &Tensor<Self>,
        running_var: &Tensor<Self>,
        eps: f64,
    ) -> Result<Tensor<Self>>;
    /// Backward of [`batchnorm_fwd_train`](Self::batchnorm_fwd_train), batch statistics
    /// included: from `dy` (`B × C`), that call's `cache` and `gamma` (`1 × C`), returns
    /// `(dx, dgamma, dbeta)` with `dbeta = Σ_b dy`, `dgamma = Σ_b dy ⊙ x̂` (each `1 × C`) and
    /// `dx = γ·inv_std/B · (B·dy − dbeta − x̂ ⊙ dgamma)` (`B × C`).
    /// [`Error::Shape`] on any shape disagreement ([`check::batchnorm_bwd`]).
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

    /// The activation's parameter: a LeakyReLU slope must be finite and > 0
    /// ([`Error::Invalid`]).
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

    /// [`LayerOps::bias_act_fwd`]: [`activation`], then a bias of `1 × x.cols()`.
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

    /// [`LayerOps::act_bwd`]: [`activation`], then `dy` of `y`'s shape.
    pub fn act_bwd<B: Device>(
        op: &'static str,
        y: &Tensor<B>,
        dy: &Tensor<B>,
        act: Activation,
    ) -> Result<()> {
        activation(op, act)?;
        same_shape(op, y, dy)
    }

    /// The four per-column parameters of BatchNorm1d against `x`'s columns: each `1 × x.cols()`
    /// ([`LayerOps::batchnorm_fwd_infer`]).
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

    /// [`LayerOps::batchnorm_fwd_train`]: the parameters ([`batchnorm_params`]), and a batch the
    /// training-mode statistics can use (`B ≥ 2`); returns `x`'s shape.
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

    /// [`LayerOps::batchnorm_bwd`]: `dy` of `cache.xhat`'s shape, `gamma` and `cache.inv_std`
    /// of `1 × C`; returns `dy`'s shape.
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
