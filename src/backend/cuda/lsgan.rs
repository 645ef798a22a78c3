//! Placeholder: the lsgan family's launch wrappers come from the `cuda-kern` branch, which replaces
//! this file. The signatures are the ones `mod.rs` delegates to.

use super::CudaBackend;
use crate::backend::{GenLossOut, Indices, Tensor};
use crate::error::{Error, Result};

pub fn lsgan_d_loss(
    be: &CudaBackend,
    d_out: &Tensor<CudaBackend>,
    target: f64,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    let _ = (be, d_out, target);
    Err(Error::Cuda("not implemented".into()))
}

pub fn lsgan_g_loss(
    be: &CudaBackend,
    q_logits: &Tensor<CudaBackend>,
    d_out: &Tensor<CudaBackend>,
    labels: &Indices<CudaBackend>,
    majority: usize,
    lambda: f64,
) -> Result<GenLossOut<CudaBackend>> {
    let _ = (be, q_logits, d_out, labels, majority, lambda);
    Err(Error::Cuda("not implemented".into()))
}
