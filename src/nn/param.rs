use crate::backend::{Backend, Tensor};
use crate::error::Result;

/// A trainable tensor with its gradient and Adam moments, all of the value's shape.
#[derive(Clone)]
pub struct Param<B: Backend> {
    /// Unique name within its network (`{layer}.weight`, `{layer}.gamma`, …), the key in a
    /// [`ParamStore`](super::ParamStore).
    pub name: String,
    /// The current value.
    pub value: Tensor<B>,
    /// `∂L/∂value` from the last backward; `None` before it and after an [`Adam`](super::Adam)
    /// step, which takes it.
    pub grad: Option<Tensor<B>>,
    pub(crate) m: Option<Tensor<B>>,
    pub(crate) v: Option<Tensor<B>>,
}

impl<B: Backend> Param<B> {
    /// A parameter with no gradient and no moments yet.
    pub fn new(name: impl Into<String>, value: Tensor<B>) -> Self {
        Param {
            name: name.into(),
            value,
            grad: None,
            m: None,
            v: None,
        }
    }

    /// Adam's first and second moments (`None` before the first step).
    pub fn moments(&self) -> Option<(&Tensor<B>, &Tensor<B>)> {
        Some((self.m.as_ref()?, self.v.as_ref()?))
    }

    /// Restores Adam's first and second moments (from a checkpoint); both must have the value's
    /// shape, which is not checked here (the next Adam step rejects a mismatch).
    pub fn set_moments(&mut self, m: Tensor<B>, v: Tensor<B>) {
        self.m = Some(m);
        self.v = Some(v);
    }

    pub(crate) fn ensure_moments(&mut self, be: &B) -> Result<()> {
        if self.m.is_none() {
            self.m = Some(be.zeros(self.value.rows(), self.value.cols())?);
            self.v = Some(be.zeros(self.value.rows(), self.value.cols())?);
        }
        Ok(())
    }
}
