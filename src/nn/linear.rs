use rand::Rng;

use super::{Mode, Param};
use crate::backend::{Activation, Backend, Scalar, Tensor};
use crate::error::{Error, Result};

/// Fully connected layer `y = act(x·W + b)` on a `B × d_in` batch, giving `B × d_out`. `W` is
/// stored `d_in × d_out` (row-major, so the forward is one plain product; the transpose of
/// PyTorch's `weight`) and the activation is fused into the bias add.
#[derive(Clone)]
pub struct Linear<B: Backend> {
    /// Weight `W`, `d_in × d_out`, named `{name}.weight`.
    pub w: Param<B>,
    /// Bias `b`, `1 × d_out`, named `{name}.bias`.
    pub b: Param<B>,
    /// Activation fused after the bias add (`Identity` for none).
    pub act: Activation,
    x: Option<Tensor<B>>,
    y: Option<Tensor<B>>,
}

impl<B: Backend> Linear<B> {
    /// A `d_in → d_out` layer with PyTorch's default initialisation, `U(−1/√d_in, 1/√d_in)` for
    /// weights and bias (METHOD.md §1), drawn from `rng`: all of `W` row by row, then `b`. `name`
    /// prefixes the parameter names.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `d_in` or `d_out` is 0 (no layer, and no finite initialisation
    /// bound); the backend's error when it cannot allocate.
    pub fn new(
        be: &B,
        name: &str,
        d_in: usize,
        d_out: usize,
        act: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if d_in == 0 || d_out == 0 {
            return Err(Error::invalid(
                name,
                format!("a {d_in} → {d_out} linear layer: both widths must be at least 1"),
            ));
        }
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

    /// Input width (rows of `W`).
    pub fn d_in(&self) -> usize {
        self.w.value.rows()
    }
    /// Output width (columns of `W`).
    pub fn d_out(&self) -> usize {
        self.w.value.cols()
    }

    /// `act(x·W + b)` for `x` of shape `B × d_in`. [`Mode::Train`] keeps `x` (and `y` when there
    /// is an activation) for the backward; [`Mode::Eval`] keeps nothing and leaves any earlier
    /// cache in place. An error when `x` does not have `d_in` columns.
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

    /// From `dy = ∂L/∂y` (`B × d_out`), sets (overwrites, not accumulates) `∂L/∂W = xᵀ·dz` and
    /// `∂L/∂b` = column sums of `dz`, where `dz` is `dy` through the activation; returns
    /// `∂L/∂x = dz·Wᵀ` (`B × d_in`) when `need_dx`, `None` otherwise. Uses the cache of the last
    /// training-mode forward, which must have been on the same batch; an error when there was none.
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
    /// G's update), which saves the weight-gradient product and the column sum. Same cache
    /// requirement as [`backward`](Self::backward).
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

    /// The parameters, `[W, b]`.
    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.w, &mut self.b]
    }
    /// The parameters, `[W, b]`.
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
