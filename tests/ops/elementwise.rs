//! The elementwise family (`ElementwiseOps`, `kernels/elementwise.cu`): zeros, fill, axpy, scale,
//! column concat/split, row gathers, one-hot, and the scaled sum the losses reduce with.
//!
//! `grad`: the f64 CPU reference against finite differences and hand-computed values.
//! `emulated`: the CUDA kernels built for the host (`crate::emulation`) against that reference.
//! `gpu` (feature `cuda`): `CudaBackend` against that reference (`crate::gpu`).

#[cfg(target_os = "linux")]
mod emulated;
#[cfg(feature = "cuda")]
mod gpu;
mod grad;
