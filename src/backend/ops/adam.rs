//! The adam family (kernels/adam.cu): one Adam step with bias correction.

use crate::backend::*;
use crate::error::Result;

/// The adam family (kernels/adam.cu).
pub trait AdamOps: Device {
    /// One Adam update with bias correction, in place.
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
