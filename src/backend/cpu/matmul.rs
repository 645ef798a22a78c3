//! Reference matrix products `op(A)·op(B)` (cuBLAS on the GPU).

use ndarray::{linalg::general_mat_mul, Array2};

use super::{tensor, Cpu};
use crate::backend::{Scalar, Tensor};
use crate::error::{Error, Result};

pub fn matmul<T: Scalar>(
    a: &Tensor<Cpu<T>>,
    trans_a: bool,
    b: &Tensor<Cpu<T>>,
    trans_b: bool,
) -> Result<Tensor<Cpu<T>>> {
    let av = if trans_a { a.buf.t() } else { a.buf.view() };
    let bv = if trans_b { b.buf.t() } else { b.buf.view() };
    let (m, k) = av.dim();
    let (k2, n) = bv.dim();
    if k != k2 {
        return Err(Error::shape(
            "matmul",
            format!("op(A) is {m}×{k}, op(B) is {k2}×{n} (trans_a={trans_a}, trans_b={trans_b})"),
        ));
    }
    let mut c = Array2::zeros((m, n));
    general_mat_mul(T::one(), &av, &bv, T::zero(), &mut c);
    Ok(tensor(c))
}
