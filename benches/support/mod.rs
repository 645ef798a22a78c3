//! Shared by the benchmarks and by tests/torch_peer.rs (included there with `#[path]`).
#![allow(dead_code)]

pub mod probe;
pub mod sizes;

/// The repository root: `CONVEXGAN_REPO` when set (the GPU machine runs the bench binaries away
/// from the tree they were built in), else the crate directory at build time.
pub fn repo_root() -> std::path::PathBuf {
    std::env::var_os("CONVEXGAN_REPO")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// The CUDA backend on device 0, or why not (printed as a skip by the callers).
#[cfg(feature = "cuda")]
pub fn cuda() -> Result<convexgan::backend::cuda::CudaBackend, String> {
    convexgan::backend::cuda::CudaBackend::new(0).map_err(|e| format!("no CUDA device ({e})"))
}

/// Whether `CONVEXGAN_BENCH_BACKENDS` (comma-separated, default `cpu,cuda`) names `backend`.
pub fn want_backend(backend: &str) -> bool {
    std::env::var("CONVEXGAN_BENCH_BACKENDS")
        .unwrap_or_else(|_| "cpu,cuda".into())
        .split(',')
        .any(|b| b.trim() == backend)
}
