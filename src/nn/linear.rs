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
        match mode {
            Mode::Eval => self.product(be, x),
            Mode::Train => self.forward_train(be, x.clone(), true),
        }
    }

    /// `act(x·W + b)`, the activation applied over the fresh product.
    fn product(&self, be: &B, x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut y = be.matmul(x, false, &self.w.value, false)?;
        be.bias_act_fwd_inplace(&mut y, Some(&self.b.value), self.act)?;
        Ok(y)
    }

    /// The training-mode forward on an input the layer may keep as it is. `keep_y: false` leaves
    /// the output out of the cache: for an [`Mlp`](super::Mlp) whose next Linear keeps the same
    /// tensor as its input, and hands it to [`backward_from`](Self::backward_from).
    pub(crate) fn forward_train(
        &mut self,
        be: &B,
        x: Tensor<B>,
        keep_y: bool,
    ) -> Result<Tensor<B>> {
        let y = self.product(be, &x)?;
        self.x = Some(x);
        self.y = (keep_y && self.act != Activation::Identity).then(|| y.clone());
        Ok(y)
    }

    /// The input of the last training-mode forward, if there was one.
    pub(crate) fn cached_input(&self) -> Option<&Tensor<B>> {
        self.x.as_ref()
    }

    /// From `dy = ∂L/∂y` (`B × d_out`), sets (overwrites, not accumulates) `∂L/∂W = xᵀ·dz` and
    /// `∂L/∂b` = column sums of `dz`, where `dz` is `dy` through the activation; returns
    /// `∂L/∂x = dz·Wᵀ` (`B × d_in`) when `need_dx`, `None` otherwise. Uses the cache of the last
    /// training-mode forward, which must have been on the same batch; an error when there was none.
    pub fn backward(&mut self, be: &B, dy: &Tensor<B>, need_dx: bool) -> Result<Option<Tensor<B>>> {
        self.backward_from(be, dy.clone(), None, need_dx)
    }

    /// [`backward`](Self::backward) on a `dy` it may overwrite, with the forward's output `y` from
    /// the caller when the cache does not hold it (see [`forward_train`](Self::forward_train)).
    pub(crate) fn backward_from(
        &mut self,
        be: &B,
        dy: Tensor<B>,
        y: Option<&Tensor<B>>,
        need_dx: bool,
    ) -> Result<Option<Tensor<B>>> {
        let dz = self.through_act(be, dy, y)?;
        let x = self.x.as_ref().ok_or_else(|| no_forward(&self.w.name))?;
        self.w.grad = Some(be.matmul(x, true, &dz, false)?);
        self.b.grad = Some(be.col_sum(&dz)?);
        if need_dx {
            Ok(Some(be.matmul(&dz, false, &self.w.value, true)?))
        } else {
            Ok(None)
        }
    }

    /// `dy` through the activation, from the forward's output (`y`, or the cached one).
    fn through_act(&self, be: &B, mut dy: Tensor<B>, y: Option<&Tensor<B>>) -> Result<Tensor<B>> {
        if self.x.is_none() {
            return Err(no_forward(&self.w.name));
        }
        if self.act != Activation::Identity {
            let y = y
                .or(self.y.as_ref())
                .ok_or_else(|| no_forward(&self.w.name))?;
            be.act_bwd_inplace(y, &mut dy, self.act)?;
        }
        Ok(dy)
    }

    /// The gradient with respect to the input only, leaving the parameters' gradients as they
    /// were: for a network that passes a gradient through without being updated (D and Q during
    /// G's update), which saves the weight-gradient product and the column sum. Same cache
    /// requirement as [`backward`](Self::backward).
    pub fn backward_input(&mut self, be: &B, dy: &Tensor<B>) -> Result<Tensor<B>> {
        self.backward_input_from(be, dy.clone(), None)
    }

    /// [`backward_input`](Self::backward_input) on a `dy` it may overwrite, `y` as in
    /// [`backward_from`](Self::backward_from).
    pub(crate) fn backward_input_from(
        &mut self,
        be: &B,
        dy: Tensor<B>,
        y: Option<&Tensor<B>>,
    ) -> Result<Tensor<B>> {
        let dz = self.through_act(be, dy, y)?;
        be.matmul(&dz, false, &self.w.value, true)
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
