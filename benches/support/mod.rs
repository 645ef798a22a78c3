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

/// A benchmark body generic over the backend (a closure cannot be).
pub trait PerBackend {
    /// The criterion group prefix (`iter`, `ops`).
    const GROUP: &'static str;
    fn run<B: convexgan::Backend>(
        &self,
        c: &mut criterion::Criterion,
        be: &B,
        tag: &str,
        size: &sizes::Size,
    ) -> convexgan::Result<()>;
}

/// Runs `bench` with the short criterion defaults on the CPU backend and, built with
/// `--features cuda` and given a GPU, on the CUDA backend, at every size of
/// `CONVEXGAN_BENCH_SIZES`; what cannot run is printed as skipped, with the reason.
pub fn run_criterion<P: PerBackend>(bench: &P) {
    let group = P::GROUP;
    let mut c = criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let sizes = sizes::Size::from_env();
    for size in sizes.iter().filter(|_| want_backend("cpu")) {
        let cpu = convexgan::Cpu::<f32>::new();
        if let Err(e) = bench.run(&mut c, &cpu, "cpu-f32", size) {
            eprintln!("skipped: {group}/cpu-f32/{}: {e}", size.name);
        }
    }
    #[cfg(feature = "cuda")]
    match cuda().and_then(|be| {
        if want_backend("cuda") {
            Ok(be)
        } else {
            Err("not in CONVEXGAN_BENCH_BACKENDS".into())
        }
    }) {
        Ok(be) => {
            for size in &sizes {
                if let Err(e) = bench.run(&mut c, &be, "cuda", size) {
                    eprintln!("skipped: {group}/cuda/{}: {e}", size.name);
                }
            }
        }
        Err(e) => eprintln!("skipped: {group}/cuda: {e}"),
    }
    #[cfg(not(feature = "cuda"))]
    eprintln!("skipped: {group}/cuda: built without --features cuda");
    c.final_summary();
}
