use super::{linear::no_forward, Mode, Param};
use crate::backend::{Activation, Backend, BnCache, Tensor};
use crate::error::Result;

/// BatchNorm1d over the columns of a `B × width` batch, followed by an activation:
/// `y = act(γ ⊙ (x − μ)/√(σ² + eps) + β)`, per column. In training mode `μ`, `σ²` are the batch's
/// (biased variance, so a batch needs at least two rows); in inference mode they are the running
/// averages. Running averages use PyTorch's momentum convention
/// (`running ← (1 − m)·running + m·batch`, unbiased batch variance, default m = 0.1, eps = 1e-5;
/// METHOD.md §1).
#[derive(Clone)]
pub struct BatchNorm1d<B: Backend> {
    /// Scale `γ`, `1 × width`, named `{name}.gamma`; starts at 1.
    pub gamma: Param<B>,
    /// Shift `β`, `1 × width`, named `{name}.beta`; starts at 0.
    pub beta: Param<B>,
    /// Running mean used in inference mode, `1 × width`; starts at 0. Not trained by Adam; moved
    /// by each training-mode forward.
    pub running_mean: Tensor<B>,
    /// Running (unbiased) variance used in inference mode, `1 × width`; starts at 1.
    pub running_var: Tensor<B>,
    /// Activation applied after the affine step (fused; `Identity` for none).
    pub act: Activation,
    /// Weight `m` of the current batch in the running averages (0.1).
    pub momentum: f64,
    /// Added to the variance before the square root (1e-5).
    pub eps: f64,
    name: String,
    cache: Option<BnCache<B>>,
    y: Option<Tensor<B>>,
}

impl<B: Backend> BatchNorm1d<B> {
    /// A fresh layer over `width` columns (`γ = 1`, `β = 0`, running mean 0 and variance 1);
    /// `name` prefixes its parameter and running-average names. Fails only if the backend cannot
    /// allocate.
    pub fn new(be: &B, name: &str, width: usize, act: Activation) -> Result<Self> {
        Ok(BatchNorm1d {
            gamma: Param::new(format!("{name}.gamma"), be.fill(1, width, 1.0)?),
            beta: Param::new(format!("{name}.beta"), be.zeros(1, width)?),
            running_mean: be.zeros(1, width)?,
            running_var: be.fill(1, width, 1.0)?,
            act,
            momentum: 0.1,
            eps: 1e-5,
            name: name.to_string(),
            cache: None,
            y: None,
        })
    }

    /// The prefix of this layer's tensor names (`{name}.gamma`, `{name}.running_mean`, …).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of normalised columns (features).
    pub fn width(&self) -> usize {
        self.gamma.value.cols()
    }

    /// `y` for a `B × width` batch, same shape. [`Mode::Train`] normalises with the batch
    /// statistics, updates the running averages and keeps what [`backward`](Self::backward)
    /// needs; [`Mode::Eval`] uses the running averages and leaves the state untouched. An error
    /// when `x` has the wrong width, or in training mode fewer than two rows.
    pub fn forward(&mut self, be: &B, x: &Tensor<B>, mode: Mode) -> Result<Tensor<B>> {
        let z = match mode {
            Mode::Train => {
                let (z, cache) = be.batchnorm_fwd_train(
                    x,
                    &self.gamma.value,
                    &self.beta.value,
                    &mut self.running_mean,
                    &mut self.running_var,
                    self.momentum,
                    self.eps,
                )?;
                self.cache = Some(cache);
                z
            }
            Mode::Eval => be.batchnorm_fwd_infer(
                x,
                &self.gamma.value,
                &self.beta.value,
                &self.running_mean,
                &self.running_var,
                self.eps,
            )?,
        };
        let y = match self.act {
            Activation::Identity => z,
            act => be.bias_act_fwd(&z, None, act)?,
        };
        if mode == Mode::Train && self.act != Activation::Identity {
            self.y = Some(y.clone());
        }
        Ok(y)
    }

    /// From `dy = ∂L/∂y` (`B × width`), sets (overwrites) the gradients of `γ` and `β` and
    /// returns `∂L/∂x`, through the batch statistics of the last training-mode forward, which must
    /// have been on the same batch. An error when there was no training-mode forward.
    pub fn backward(&mut self, be: &B, dy: &Tensor<B>) -> Result<Tensor<B>> {
        let cache = self.cache.as_ref().ok_or_else(|| no_forward(&self.name))?;
        let dz = match self.act {
            Activation::Identity => None,
            act => {
                let y = self.y.as_ref().ok_or_else(|| no_forward(&self.name))?;
                Some(be.act_bwd(y, dy, act)?)
            }
        };
        let (dx, dgamma, dbeta) =
            be.batchnorm_bwd(dz.as_ref().unwrap_or(dy), cache, &self.gamma.value)?;
        self.gamma.grad = Some(dgamma);
        self.beta.grad = Some(dbeta);
        Ok(dx)
    }

    /// The trainable parameters, `[γ, β]` (the running averages are not parameters).
    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.gamma, &mut self.beta]
    }
    /// The trainable parameters, `[γ, β]`.
    pub fn params(&self) -> [&Param<B>; 2] {
        [&self.gamma, &self.beta]
    }
}
