//! Placeholder: the losses family's launch wrappers come from the `cuda-kern` branch, which
//! replaces this file. The signatures are the ones `mod.rs` delegates to.

use super::CudaBackend;
use crate::backend::{ClassLoss, Indices, Tensor};
use crate::error::{Error, Result};

pub fn softmax_rows(be: &CudaBackend, x: &Tensor<CudaBackend>) -> Result<Tensor<CudaBackend>> {
    let _ = (be, x);
    Err(Error::Cuda("not implemented".into()))
}

pub fn class_loss(
    be: &CudaBackend,
    logits: &Tensor<CudaBackend>,
    labels: &Indices<CudaBackend>,
    loss: ClassLoss<'_, CudaBackend>,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    let _ = (be, logits, labels, loss);
    Err(Error::Cuda("not implemented".into()))
}

pub fn bce_logits(
    be: &CudaBackend,
    logits: &Tensor<CudaBackend>,
    targets: &Tensor<CudaBackend>,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    let _ = (be, logits, targets);
    Err(Error::Cuda("not implemented".into()))
}
