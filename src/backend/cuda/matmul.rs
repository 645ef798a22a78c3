//! Matrix products `op(A)·op(B)` with cuBLAS SGEMM.
//!
//! Row-major convention, stated once: cuBLAS is column-major, and a row-major `r × c` matrix is,
//! byte for byte, its column-major transpose (`c × r`, leading dimension `c`). So the row-major
//! `C = op(A)·op(B)` is the column-major `Cᵀ = op(B)ᵀ·op(A)ᵀ`: call gemm with the operands swapped
//! (B first, then A), each keeping its own transpose flag, `m` = columns of C, `n` = rows of C, and
//! every leading dimension = the row-major column count of that operand.

use cudarc::cublas::{sys::cublasOperation_t, Gemm, GemmConfig};

use super::{cuda_err, to_int, CudaBackend};
use crate::backend::prelude::*;
use crate::backend::{check, Tensor};
use crate::error::Result;

impl MatmulOps for CudaBackend {
    fn matmul(
        &self,
        a: &Tensor<CudaBackend>,
        trans_a: bool,
        b: &Tensor<CudaBackend>,
        trans_b: bool,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        let (m, k, n) = check::matmul("matmul", a, trans_a, b, trans_b)?;
        to_int("matmul", "A", a.len())?;
        to_int("matmul", "B", b.len())?;
        to_int("matmul", "C", m * n)?;
        if m * n == 0 {
            return Ok(Tensor::from_parts_unchecked(be.alloc_zeros(0)?, m, n));
        }
        if k == 0 {
            // An empty sum; not left to cuBLAS, whose k = 0 behaviour is not documented.
            return Ok(Tensor::from_parts_unchecked(be.alloc_zeros(m * n)?, m, n));
        }
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let cfg = GemmConfig {
            transa: op(trans_b),
            transb: op(trans_a),
            m: n as i32,
            n: m as i32,
            k: k as i32,
            alpha: 1.0f32,
            lda: b.cols.max(1) as i32,
            ldb: a.cols.max(1) as i32,
            beta: 0.0f32,
            ldc: n as i32,
        };
        // beta = 0: cuBLAS does not read C, so an unset (or NaN-poisoned) output is fine.
        let mut c = be.alloc_out(m * n)?;
        // SAFETY: with the swap above, cuBLAS reads k·n floats of B, m·k of A (their row-major sizes,
        // shapes checked) and writes the m·n floats of C; all three are distinct allocations.
        unsafe { be.blas().gemm(cfg, &b.buf, &a.buf, &mut c) }.map_err(cuda_err)?;
        Ok(Tensor::from_parts_unchecked(c, m, n))
    }
}
