//! The matrix product (`MatmulOps`; cuBLAS on the GPU, so there is no emulated kernel).
//!
//! `grad`: the f64 CPU reference against finite differences and hand-computed values.
//! `gpu` (feature `cuda`): `CudaBackend` against that reference (`crate::gpu`).

#[cfg(feature = "cuda")]
mod gpu;
mod grad;
