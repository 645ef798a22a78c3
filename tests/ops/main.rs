//! The op tests, one binary (`cargo test --test ops`): one module per op family of
//! `convexgan::backend::ops`, each with up to three sections:
//!
//! - `<family>::grad`: the f64 CPU reference against central finite differences, direct formulas
//!   and hand-computed cases, and its argument errors;
//! - `<family>::emulated` (Linux): every CUDA kernel of `kernels/<family>.cu`, built for the host
//!   against `tests/ops/emu/` (see `emulation`), against that reference;
//! - `<family>::gpu` (feature `cuda`): `CudaBackend` against that reference (see `gpu`); they
//!   skip without a device unless `CONVEXGAN_REQUIRE_GPU` is set.
//!
//! Besides the families: `chain` (whole-chain gradients composed from raw ops as the trainer
//! composes them), `kernels` (feature `cuda`: NVRTC compilation, the PTX launch ABI, ptxas
//! registers and spills, the PTX cache; `CONVEXGAN_REQUIRE_NVRTC`, `CONVEXGAN_PTXAS`,
//! `CONVEXGAN_REPO`), and the checks of the emulation itself in `emulation`.
//!
//! Filters: `cargo test --test ops convex::` runs one family, `gpu::` every GPU section (what the
//! device check runs), `emulated::` every emulated kernel, `grad::` every CPU reference check.

#[path = "../common/mod.rs"]
mod common;

#[cfg(target_os = "linux")]
mod emulation;
#[cfg(feature = "cuda")]
mod gpu;

mod chain;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

mod adam;
mod convex;
mod elementwise;
mod heatmap;
mod layers;
mod losses;
mod lsgan;
mod matmul;

/// `CONVEXGAN_PTX_CACHE` is process-wide: `kernels::ptx_cache_round_trip` points it at a
/// temporary directory for a while, and opening a `CudaBackend` (which loads every kernel family
/// through that cache) waits until it is restored.
#[cfg(feature = "cuda")]
static PTX_CACHE_ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
