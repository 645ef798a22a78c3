use crate::backend::{Backend, Tensor};
use crate::error::Result;

/// A trainable tensor with its gradient and Adam moments.
#[derive(Clone)]
pub struct Param<B: Backend> {
    pub name: String,
    pub value: Tensor<B>,
    pub grad: Option<Tensor<B>>,
    pub(crate) m: Option<Tensor<B>>,
    pub(crate) v: Option<Tensor<B>>,
}

impl<B: Backend> Param<B> {
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
