//! The adam family (kernels/adam.cu): one Adam step with bias correction.

use crate::backend::*;
use crate::error::Result;

/// The adam family (kernels/adam.cu).
pub trait AdamOps: Device {
    /// One Adam update with bias correction (Kingma & Ba 2015, Algorithm 1), in place, element by
    /// element, with `t = hyper.step`:
    /// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
    /// `param ← param − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)`.
    /// `param`, `grad` and the moment estimates `m` and `v` (zeros before step 1) have one shape.
    /// [`Error::Shape`] when they do not,
    /// [`Error::Invalid`] when `hyper.step` is 0 ([`check::adam_step`]).
    fn adam_step(
        &self,
        param: &mut Tensor<Self>,
        grad: &Tensor<Self>,
        m: &mut Tensor<Self>,
        v: &mut Tensor<Self>,
        hyper: &AdamHyper,
    ) -> Result<()>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`AdamOps::adam_step`]: `grad`, `m` and `v` of `param`'s shape, and `step ≥ 1`.
    pub fn adam_step<B: Device>(
        op: &'static str,
        param: &Tensor<B>,
        grad: &Tensor<B>,
        m: &Tensor<B>,
        v: &Tensor<B>,
        hyper: &AdamHyper,
    ) -> Result<()> {
        same_shape(op, param, grad)?;
        same_shape(op, param, m)?;
        same_shape(op, param, v)?;
        if hyper.step == 0 {
            return Err(Error::invalid("adam step", "step is 1-based; got 0"));
        }
        Ok(())
    }
}
