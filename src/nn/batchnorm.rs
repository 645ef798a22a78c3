use super::{linear::no_forward, Mode, Param};
use crate::backend::{Activation, Backend, BnCache, Tensor};
use crate::error::Result;

/// BatchNorm1d followed by an activation. Running averages use PyTorch's momentum convention
/// (`running ← (1 − m)·running + m·batch`, default m = 0.1, eps = 1e-5).
#[derive(Clone)]
pub struct BatchNorm1d<B: Backend> {
    pub gamma: Param<B>,
    pub beta: Param<B>,
    pub running_mean: Tensor<B>,
    pub running_var: Tensor<B>,
    pub act: Activation,
    pub momentum: f64,
    pub eps: f64,
    name: String,
    cache: Option<BnCache<B>>,
    y: Option<Tensor<B>>,
}

impl<B: Backend> BatchNorm1d<B> {
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

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn width(&self) -> usize {
        self.gamma.value.cols()
    }

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

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.gamma, &mut self.beta]
    }
    pub fn params(&self) -> [&Param<B>; 2] {
        [&self.gamma, &self.beta]
    }
}
