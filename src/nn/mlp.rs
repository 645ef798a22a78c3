use rand::Rng;

use super::{BatchNorm1d, Linear, Mode, Param, ParamStore};
use crate::backend::{Activation, Backend, Tensor};
use crate::error::{Error, Result};

/// One layer of an [`Mlp`], each with its activation fused in.
#[derive(Clone)]
pub enum Layer<B: Backend> {
    /// `act(x·W + b)`.
    Linear(Linear<B>),
    /// `act(BatchNorm1d(x))`; keeps the width.
    BatchNorm(BatchNorm1d<B>),
}

/// A stack of fused `Linear(+act)` and `BatchNorm1d(+act)` layers, `B × d_in → B × d_out`, with
/// a hand-written backward. Every network of the crate (the streams, A, Q, the landmark module, G
/// and D) is one; build it with [`Mlp::builder`].
#[derive(Clone)]
pub struct Mlp<B: Backend> {
    /// The network's name; layer `i`'s tensors are named `{name}.{i}.weight`, `{name}.{i}.gamma`,
    /// …, the keys of [`export`](Self::export).
    pub name: String,
    /// The layers, input first.
    pub layers: Vec<Layer<B>>,
    d_in: usize,
}

enum Spec {
    Linear(usize, Activation),
    BatchNorm(Activation),
}

/// Builds an [`Mlp`] layer by layer, each layer's input width being the previous one's output:
/// `Mlp::builder("q", 256).linear(256, Relu).linear(10, Identity)`. Nothing is allocated or drawn
/// until [`build`](Self::build).
pub struct MlpBuilder {
    name: String,
    d_in: usize,
    specs: Vec<Spec>,
}

impl MlpBuilder {
    /// Appends a `Linear` to `d_out` columns, then `act`.
    pub fn linear(mut self, d_out: usize, act: Activation) -> Self {
        self.specs.push(Spec::Linear(d_out, act));
        self
    }
    /// Appends a `BatchNorm1d` over the current width, then `act`.
    pub fn batchnorm(mut self, act: Activation) -> Self {
        self.specs.push(Spec::BatchNorm(act));
        self
    }
    /// `Linear → BatchNorm1d → act` (METHOD.md §1 Choice for the stream blocks).
    pub fn linear_bn(self, d_out: usize, act: Activation) -> Self {
        self.linear(d_out, Activation::Identity).batchnorm(act)
    }
    /// Allocates the layers on `be`, drawing the Linear initialisations from `rng` in layer order
    /// (see [`Linear::new`]); layer `i` is named `{name}.{i}`. Fails only if the backend cannot
    /// allocate.
    pub fn build<B: Backend>(self, be: &B, rng: &mut impl Rng) -> Result<Mlp<B>> {
        let mut layers = Vec::with_capacity(self.specs.len());
        let mut width = self.d_in;
        for (i, spec) in self.specs.into_iter().enumerate() {
            let name = format!("{}.{i}", self.name);
            layers.push(match spec {
                Spec::Linear(d_out, act) => {
                    let l = Linear::new(be, &name, width, d_out, act, rng)?;
                    width = d_out;
                    Layer::Linear(l)
                }
                Spec::BatchNorm(act) => Layer::BatchNorm(BatchNorm1d::new(be, &name, width, act)?),
            });
        }
        Ok(Mlp {
            name: self.name,
            layers,
            d_in: self.d_in,
        })
    }
}

impl<B: Backend> Mlp<B> {
    /// An empty [`MlpBuilder`] for a network called `name` on `d_in` input columns.
    pub fn builder(name: &str, d_in: usize) -> MlpBuilder {
        MlpBuilder {
            name: name.to_string(),
            d_in,
            specs: Vec::new(),
        }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.d_in
    }
    /// Output width: the last Linear's, or `d_in` when there is none.
    pub fn d_out(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|l| match l {
                Layer::Linear(l) => Some(l.d_out()),
                Layer::BatchNorm(_) => None,
            })
            .unwrap_or(self.d_in)
    }

    /// The output, `B × d_out`, for `x` of shape `B × d_in`, through every layer in `mode` (see
    /// [`Mode`]). An error when `x` does not have `d_in` columns, or when a BatchNorm layer gets
    /// fewer than two rows in training mode.
    pub fn forward(&mut self, be: &B, x: &Tensor<B>, mode: Mode) -> Result<Tensor<B>> {
        self.check_input(x)?;
        match mode {
            Mode::Train => self.forward_train(be, x.clone()),
            Mode::Eval => self.forward_eval(be, x),
        }
    }

    /// [`forward`](Self::forward) on an input the network may keep for its backward as it is,
    /// without a copy (an input made only for this call, such as a concatenation).
    pub fn forward_owned(&mut self, be: &B, x: Tensor<B>, mode: Mode) -> Result<Tensor<B>> {
        self.check_input(&x)?;
        match mode {
            Mode::Train => self.forward_train(be, x),
            Mode::Eval => self.forward_eval(be, &x),
        }
    }

    /// Through every layer in [`Mode::Eval`], keeping nothing.
    fn forward_eval(&mut self, be: &B, x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut h: Option<Tensor<B>> = None;
        for layer in &mut self.layers {
            let input = h.as_ref().unwrap_or(x);
            h = Some(match layer {
                Layer::Linear(l) => l.forward(be, input, Mode::Eval)?,
                Layer::BatchNorm(bn) => bn.forward(be, input, Mode::Eval)?,
            });
        }
        Ok(h.unwrap_or_else(|| x.clone()))
    }

    fn check_input(&self, x: &Tensor<B>) -> Result<()> {
        if x.cols() != self.d_in {
            return Err(Error::shape(
                "mlp forward",
                format!(
                    "{}: input has {} columns, expected {}",
                    self.name,
                    x.cols(),
                    self.d_in
                ),
            ));
        }
        Ok(())
    }

    /// Each layer keeps its input; a Linear followed by a Linear does not also keep its output,
    /// which is the next layer's input (the backward reads it there): one tensor, not two copies.
    fn forward_train(&mut self, be: &B, x: Tensor<B>) -> Result<Tensor<B>> {
        let mut h = x;
        for i in 0..self.layers.len() {
            let next_keeps_it = matches!(self.layers.get(i + 1), Some(Layer::Linear(_)));
            h = match &mut self.layers[i] {
                Layer::Linear(l) => l.forward_train(be, h, !next_keeps_it)?,
                Layer::BatchNorm(bn) => bn.forward(be, &h, Mode::Train)?,
            };
        }
        Ok(h)
    }

    /// From `dy = ∂L/∂output` (`B × d_out`), backward through every layer, setting (overwriting)
    /// every parameter's gradient. Returns `∂L/∂x` (`B × d_in`) when `need_dx`; without it the
    /// first Linear's input product is skipped (for a network whose input is data) and the result
    /// is `None`, unless the first layer is a BatchNorm, whose input gradient comes anyway. Needs
    /// a training-mode [`forward`](Self::forward) on the same batch just before; an error when a
    /// layer has none.
    pub fn backward(&mut self, be: &B, dy: &Tensor<B>, need_dx: bool) -> Result<Option<Tensor<B>>> {
        let mut g = dy.clone();
        for i in (0..self.layers.len()).rev() {
            let (head, tail) = self.layers.split_at_mut(i + 1);
            let y = next_input(tail);
            match &mut head[i] {
                Layer::Linear(l) => match l.backward_from(be, g, y, need_dx || i > 0)? {
                    Some(dx) => g = dx,
                    None => return Ok(None),
                },
                Layer::BatchNorm(bn) => g = bn.backward(be, &g)?,
            }
        }
        Ok(Some(g))
    }

    /// The gradient with respect to the network's input, without its parameters' gradients (see
    /// [`Linear::backward_input`]); BatchNorm layers run their full backward, so their `γ`, `β`
    /// gradients are overwritten. `dy` is `B × d_out`, the result `B × d_in`. Same cache
    /// requirement as [`backward`](Self::backward).
    pub fn backward_input(&mut self, be: &B, dy: &Tensor<B>) -> Result<Tensor<B>> {
        let mut g = dy.clone();
        for i in (0..self.layers.len()).rev() {
            let (head, tail) = self.layers.split_at_mut(i + 1);
            let y = next_input(tail);
            g = match &mut head[i] {
                Layer::Linear(l) => l.backward_input_from(be, g, y)?,
                Layer::BatchNorm(bn) => bn.backward(be, &g)?,
            };
        }
        Ok(g)
    }

    /// Every trainable parameter, in layer order (`W`, `b` or `γ`, `β` per layer).
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        let mut out = Vec::new();
        for layer in &mut self.layers {
            match layer {
                Layer::Linear(l) => out.extend(l.params_mut()),
                Layer::BatchNorm(bn) => out.extend(bn.params_mut()),
            }
        }
        out
    }

    /// Every trainable parameter, in layer order (`W`, `b` or `γ`, `β` per layer).
    pub fn params(&self) -> Vec<&Param<B>> {
        let mut out = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Linear(l) => out.extend(l.params()),
                Layer::BatchNorm(bn) => out.extend(bn.params()),
            }
        }
        out
    }

    /// Copies the parameters and the BatchNorm running averages into `store` as f32, under their
    /// names (`{layer}.running_mean`, `{layer}.running_var` for the averages), replacing entries
    /// of the same name. Fails only if a download fails.
    pub fn export(&self, be: &B, store: &mut ParamStore) -> Result<()> {
        for p in self.params() {
            store.put_tensor(be, &p.name, &p.value)?;
        }
        for layer in &self.layers {
            if let Layer::BatchNorm(bn) = layer {
                store.put_tensor(be, &format!("{}.running_mean", bn.name()), &bn.running_mean)?;
                store.put_tensor(be, &format!("{}.running_var", bn.name()), &bn.running_var)?;
            }
        }
        Ok(())
    }

    /// Loads what [`export`](Self::export) wrote, into the shapes this network already has, and
    /// clears every gradient and Adam moment. A missing or wrongly shaped tensor is an error naming
    /// it; tensors in `store` that this network does not use are ignored. The parameters read
    /// before an error keep their new values.
    pub fn import(&mut self, be: &B, store: &ParamStore) -> Result<()> {
        for p in self.params_mut() {
            let (r, c) = p.value.shape();
            p.value = store.get_tensor(be, &p.name, r, c)?;
            p.grad = None;
            p.m = None;
            p.v = None;
        }
        for layer in &mut self.layers {
            if let Layer::BatchNorm(bn) = layer {
                let w = bn.width();
                bn.running_mean =
                    store.get_tensor(be, &format!("{}.running_mean", bn.name()), 1, w)?;
                bn.running_var =
                    store.get_tensor(be, &format!("{}.running_var", bn.name()), 1, w)?;
            }
        }
        Ok(())
    }
}

/// A layer's output as the next layer kept it (see `Mlp::forward_train`): the input of the next
/// layer when that is a Linear.
fn next_input<B: Backend>(rest: &[Layer<B>]) -> Option<&Tensor<B>> {
    match rest.first() {
        Some(Layer::Linear(l)) => l.cached_input(),
        _ => None,
    }
}
