//! Placeholder: the heatmap family's launch wrappers come from the `cuda-kern` branch, which
//! replaces this file. The signatures are the ones `mod.rs` delegates to.

use super::CudaBackend;
use crate::backend::Tensor;
use crate::error::{Error, Result};

pub fn heatmap_targets(
    be: &CudaBackend,
    coords: &Tensor<CudaBackend>,
    vis: &Tensor<CudaBackend>,
    grid: usize,
    sigma: f64,
) -> Result<Tensor<CudaBackend>> {
    let _ = (be, coords, vis, grid, sigma);
    Err(Error::Cuda("not implemented".into()))
}

pub fn heatmap_loss(
    be: &CudaBackend,
    pred: &Tensor<CudaBackend>,
    target: &Tensor<CudaBackend>,
    vis: &Tensor<CudaBackend>,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    let _ = (be, pred, target, vis);
    Err(Error::Cuda("not implemented".into()))
}
