//! Matrix products (cuBLAS on the GPU, matrixmultiply on the CPU).

use crate::backend::*;
use crate::error::Result;

/// Matrix products (cuBLAS on the GPU, matrixmultiply on the CPU): a Linear layer's forward `x·W`
/// and its backward products `xᵀ·dz` and `dz·Wᵀ`.
pub trait MatmulOps: Device {
    /// `op(a)·op(b)`, where `op` transposes its operand when its flag is set: with `op(a)` of
    /// `m × k` and `op(b)` of `k × n`, a new `m × n` tensor (all zeros when `k = 0`). Full
    /// precision of [`Device::Elem`] (no TF32 or other reduced-precision modes: METHOD.md §7).
    /// [`Error::Shape`] when the inner dimensions differ
    /// ([`check::matmul`]).
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

    /// [`MatmulOps::matmul`]: the inner dimensions agree. Returns `(m, k, n)` of `op(A)`
    /// (`m × k`) times `op(B)` (`k × n`).
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
