//! Matrix products (cuBLAS on the GPU, matrixmultiply on the CPU).

use crate::backend::*;
use crate::error::Result;

/// Matrix products (cuBLAS on the GPU, matrixmultiply on the CPU)..
pub trait MatmulOps: Device {
    /// `op(a)·op(b)` where `op` transposes when the flag is set.
    fn matmul(
        &self,
        a: &Tensor<Self>,
        trans_a: bool,
        b: &Tensor<Self>,
        trans_b: bool,
    ) -> Result<Tensor<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// Returns `(m, k, n)` of `op(A)` (`m × k`) times `op(B)` (`k × n`).
    pub fn matmul<B: Device>(
        op: &'static str,
        a: &Tensor<B>,
        trans_a: bool,
        b: &Tensor<B>,
        trans_b: bool,
    ) -> Result<(usize, usize, usize)> {
        let (m, k) = if trans_a {
            (a.cols(), a.rows())
        } else {
            (a.rows(), a.cols())
        };
        let (k2, n) = if trans_b {
            (b.cols(), b.rows())
        } else {
            (b.rows(), b.cols())
        };
        if k != k2 {
            return Err(Error::shape(
                op,
                format!(
                    "op(A) is {m}×{k}, op(B) is {k2}×{n} (trans_a={trans_a}, trans_b={trans_b})"
                ),
            ));
        }
        Ok((m, k, n))
    }
}
