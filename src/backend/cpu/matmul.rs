//! Reference matrix products `op(A)·op(B)` (cuBLAS on the GPU).

use ndarray::{linalg::general_mat_mul, Array2};

use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, Scalar, Tensor};
use crate::error::Result;

impl<T: Scalar> MatmulOps for Cpu<T> {
    fn matmul(
        &self,
        a: &Tensor<Cpu<T>>,
        trans_a: bool,
        b: &Tensor<Cpu<T>>,
        trans_b: bool,
    ) -> Result<Tensor<Cpu<T>>> {
        let (m, _, n) = check::matmul("matmul", a, trans_a, b, trans_b)?;
        let av = if trans_a { a.buf.t() } else { a.buf.view() };
        let bv = if trans_b { b.buf.t() } else { b.buf.view() };
        let mut c = Array2::zeros((m, n));
        general_mat_mul(T::one(), &av, &bv, T::zero(), &mut c);
        Ok(tensor(c))
    }
}
