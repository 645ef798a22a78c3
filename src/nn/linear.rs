use rand::Rng;

use super::{Mode, Param};
use crate::backend::{Activation, Backend, Scalar, Tensor};
use crate::error::Result;

/// `y = act(x·W + b)` with `W` stored `in × out` (row-major, so the forward is one plain product)
/// and the activation fused into the bias add.
#[derive(Clone)]
pub struct Linear<B: Backend> {
    pub w: Param<B>,
    pub b: Param<B>,
    pub act: Activation,
    x: Option<Tensor<B>>,
    y: Option<Tensor<B>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation: `U(−1/√in, 1/√in)` for weights and bias.
    pub fn new(
        be: &B,
        name: &str,
        d_in: usize,
        d_out: usize,
        act: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let w: Vec<B::Elem> = (0..d_in * d_out)
            .map(|_| B::Elem::of(rng.gen_range(-bound..bound)))
            .collect();
        let b: Vec<B::Elem> = (0..d_out)
            .map(|_| B::Elem::of(rng.gen_range(-bound..bound)))
            .collect();
        Ok(Linear {
            w: Param::new(format!("{name}.weight"), be.upload(&w, d_in, d_out)?),
            b: Param::new(format!("{name}.bias"), be.upload(&b, 1, d_out)?),
            act,
            x: None,
            y: None,
        })
    }

    pub fn d_in(&self) -> usize {
        self.w.value.rows()
    }
    pub fn d_out(&self) -> usize {
        self.w.value.cols()
    }

    pub fn forward(&mut self, be: &B, x: &Tensor<B>, mode: Mode) -> Result<Tensor<B>> {
        let xw = be.matmul(x, false, &self.w.value, false)?;
        let y = be.bias_act_fwd(&xw, Some(&self.b.value), self.act)?;
        if mode == Mode::Train {
            self.x = Some(x.clone());
            if self.act != Activation::Identity {
                self.y = Some(y.clone());
            }
        }
        Ok(y)
    }

    /// Sets the parameter gradients from `dy`; returns `dx` when `need_dx`.
    pub fn backward(&mut self, be: &B, dy: &Tensor<B>, need_dx: bool) -> Result<Option<Tensor<B>>> {
        let x = self.x.as_ref().ok_or_else(|| no_forward(&self.w.name))?;
        let dz = match self.act {
            Activation::Identity => None,
            act => {
                let y = self.y.as_ref().ok_or_else(|| no_forward(&self.w.name))?;
                Some(be.act_bwd(y, dy, act)?)
            }
        };
        let dz = dz.as_ref().unwrap_or(dy);
        self.w.grad = Some(be.matmul(x, true, dz, false)?);
        self.b.grad = Some(be.col_sum(dz)?);
        if need_dx {
            Ok(Some(be.matmul(dz, false, &self.w.value, true)?))
        } else {
            Ok(None)
        }
    }

    /// The gradient with respect to the input only, leaving the parameters' gradients as they
    /// were: for a network that passes a gradient through without being updated (D and Q during
    /// G's update), which saves the weight-gradient product and the column sum.
    pub fn backward_input(&mut self, be: &B, dy: &Tensor<B>) -> Result<Tensor<B>> {
        let dz = match self.act {
            Activation::Identity => None,
            act => {
                let y = self.y.as_ref().ok_or_else(|| no_forward(&self.w.name))?;
                Some(be.act_bwd(y, dy, act)?)
            }
        };
        be.matmul(dz.as_ref().unwrap_or(dy), false, &self.w.value, true)
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.w, &mut self.b]
    }
    pub fn params(&self) -> [&Param<B>; 2] {
        [&self.w, &self.b]
    }
}

pub(crate) fn no_forward(name: &str) -> crate::Error {
    crate::Error::invalid(
        "backward",
        format!("{name}: backward called without a training-mode forward"),
    )
}
