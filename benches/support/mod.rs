//! Shared by the benchmarks and by tests/pipeline/torch_peer.rs (included there with `#[path]`).
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

/// Whether `CONVEXGAN_REQUIRE_GPU` is set (scripts/gpu-check.sh sets it on a machine with a GPU):
/// there a CUDA backend that does not open, or a CUDA benchmark that fails, is a failure (the
/// binary exits non-zero), never a skip.
pub fn require_gpu() -> bool {
    std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some()
}

/// Reports that the CUDA part of `what` cannot run: `skipped: what: why`, or, when
/// [`require_gpu`], `failed: what: why` and exit status 1.
pub fn cuda_unavailable(what: &str, why: &str) {
    if require_gpu() {
        eprintln!("failed: {what}: {why} (CONVEXGAN_REQUIRE_GPU is set)");
        std::process::exit(1);
    }
    eprintln!("skipped: {what}: {why}");
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
/// `CONVEXGAN_BENCH_SIZES`; what cannot run is printed as skipped, with the reason (with
/// `CONVEXGAN_REQUIRE_GPU`, a CUDA part that cannot run or fails exits 1 instead).
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
    if want_backend("cuda") {
        match cuda() {
            Ok(be) => {
                let mut failed = 0;
                for size in &sizes {
                    if let Err(e) = bench.run(&mut c, &be, "cuda", size) {
                        if require_gpu() {
                            failed += 1;
                            eprintln!("failed: {group}/cuda/{}: {e}", size.name);
                        } else {
                            eprintln!("skipped: {group}/cuda/{}: {e}", size.name);
                        }
                    }
                }
                if failed > 0 {
                    c.final_summary();
                    std::process::exit(1);
                }
            }
            Err(e) => cuda_unavailable(&format!("{group}/cuda"), &e),
        }
    } else {
        eprintln!("skipped: {group}/cuda: not in CONVEXGAN_BENCH_BACKENDS");
    }
    #[cfg(not(feature = "cuda"))]
    if want_backend("cuda") {
        cuda_unavailable(&format!("{group}/cuda"), "built without --features cuda");
    }
    c.final_summary();
}
