use rand::Rng;

use super::{BatchNorm1d, Linear, Mode, Param, ParamStore};
use crate::backend::{Activation, Backend, Tensor};
use crate::error::{Error, Result};

#[derive(Clone)]
pub enum Layer<B: Backend> {
    Linear(Linear<B>),
    BatchNorm(BatchNorm1d<B>),
}

/// A stack of fused `Linear(+act)` and `BatchNorm1d(+act)` layers.
#[derive(Clone)]
pub struct Mlp<B: Backend> {
    pub name: String,
    pub layers: Vec<Layer<B>>,
    d_in: usize,
}

enum Spec {
    Linear(usize, Activation),
    BatchNorm(Activation),
}

/// Builds an [`Mlp`] layer by layer: `Mlp::builder("q", 256).linear(256, Relu).linear(10, Identity)`.
pub struct MlpBuilder {
    name: String,
    d_in: usize,
    specs: Vec<Spec>,
}

impl MlpBuilder {
    pub fn linear(mut self, d_out: usize, act: Activation) -> Self {
        self.specs.push(Spec::Linear(d_out, act));
        self
    }
    pub fn batchnorm(mut self, act: Activation) -> Self {
        self.specs.push(Spec::BatchNorm(act));
        self
    }
    /// `Linear → BatchNorm1d → act` (METHOD.md §1 Choice for the stream blocks).
    pub fn linear_bn(self, d_out: usize, act: Activation) -> Self {
        self.linear(d_out, Activation::Identity).batchnorm(act)
    }
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
    pub fn builder(name: &str, d_in: usize) -> MlpBuilder {
        MlpBuilder {
            name: name.to_string(),
            d_in,
            specs: Vec::new(),
        }
    }

    pub fn d_in(&self) -> usize {
        self.d_in
    }
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

    pub fn forward(&mut self, be: &B, x: &Tensor<B>, mode: Mode) -> Result<Tensor<B>> {
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
        let mut h: Option<Tensor<B>> = None;
        for layer in &mut self.layers {
            let input = h.as_ref().unwrap_or(x);
            h = Some(match layer {
                Layer::Linear(l) => l.forward(be, input, mode)?,
                Layer::BatchNorm(bn) => bn.forward(be, input, mode)?,
            });
        }
        Ok(h.unwrap_or_else(|| x.clone()))
    }

    /// Backward through every layer, setting parameter gradients; returns the input gradient
    /// when `need_dx` (skipped for a network whose input is data, which saves a product).
    pub fn backward(&mut self, be: &B, dy: &Tensor<B>, need_dx: bool) -> Result<Option<Tensor<B>>> {
        let mut g = dy.clone();
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            let first = i == 0;
            match layer {
                Layer::Linear(l) => match l.backward(be, &g, need_dx || !first)? {
                    Some(dx) => g = dx,
                    None => return Ok(None),
                },
                Layer::BatchNorm(bn) => g = bn.backward(be, &g)?,
            }
        }
        Ok(Some(g))
    }

    /// The gradient with respect to the network's input, without its parameters' gradients (see
    /// [`Linear::backward_input`]); BatchNorm layers run their full backward.
    pub fn backward_input(&mut self, be: &B, dy: &Tensor<B>) -> Result<Tensor<B>> {
        let mut g = dy.clone();
        for layer in self.layers.iter_mut().rev() {
            g = match layer {
                Layer::Linear(l) => l.backward_input(be, &g)?,
                Layer::BatchNorm(bn) => bn.backward(be, &g)?,
            };
        }
        Ok(g)
    }

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

    /// Parameters and BatchNorm running averages, by name.
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

    /// Loads what [`export`](Self::export) wrote; a missing or wrongly shaped tensor is an error
    /// naming it.
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
