//! The losses family (`LossOps`, `kernels/losses.cu`): row softmax, CE / MSE-on-softmax / focal /
//! LDAM classifier losses, visibility BCE.
//!
//! `grad`: the f64 CPU reference against finite differences and hand-computed values.
//! `emulated`: the CUDA kernels built for the host (`crate::emulation`) against that reference.
//! `gpu` (feature `cuda`): `CudaBackend` against that reference (`crate::gpu`).

#[cfg(target_os = "linux")]
mod emulated;
#[cfg(feature = "cuda")]
mod gpu;
mod grad;
