//! Placeholder: the convex family's launch wrappers come from the `cuda-kern` branch, which replaces
//! this file. The signatures are the ones `mod.rs` delegates to.

use super::CudaBackend;
use crate::backend::{ConvexOut, DictTensor, Indices, Tensor};
use crate::error::{Error, Result};

pub fn convex_combine_fwd(
    be: &CudaBackend,
    logits: &Tensor<CudaBackend>,
    dict_t: &DictTensor<CudaBackend>,
    dict_s: &DictTensor<CudaBackend>,
    rows: &Indices<CudaBackend>,
) -> Result<ConvexOut<CudaBackend>> {
    let _ = (be, logits, dict_t, dict_s, rows);
    Err(Error::Cuda("not implemented".into()))
}

pub fn convex_combine_bwd(
    be: &CudaBackend,
    w: &Tensor<CudaBackend>,
    d_f_t: &Tensor<CudaBackend>,
    d_f_s: &Tensor<CudaBackend>,
    dict_t: &DictTensor<CudaBackend>,
    dict_s: &DictTensor<CudaBackend>,
    rows: &Indices<CudaBackend>,
) -> Result<Tensor<CudaBackend>> {
    let _ = (be, w, d_f_t, d_f_s, dict_t, dict_s, rows);
    Err(Error::Cuda("not implemented".into()))
}

pub fn dict_gather(
    be: &CudaBackend,
    dict: &DictTensor<CudaBackend>,
    rows: &Indices<CudaBackend>,
) -> Result<Tensor<CudaBackend>> {
    let _ = (be, dict, rows);
    Err(Error::Cuda("not implemented".into()))
}
