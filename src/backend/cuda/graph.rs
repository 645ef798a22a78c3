//! CUDA graphs of backend work, for benches/gpu.rs: capture a Phase 2 iteration once and replay it.
//!
//! Capture needs a stream other than the legacy default stream (which [`CudaBackend::new`] uses and
//! which cannot be captured), so [`CudaBackend::new_capturable`] opens the same device with a fresh
//! stream and its own cuBLAS handle. What the captured closure allocates becomes graph memory:
//! the graph is instantiated with auto-free-on-launch, so allocations that outlive the capture
//! (layer caches, losses) are released at the next replay; the caller keeps their host handles
//! alive until it stops replaying, then drops them once, after a synchronisation. Memory allocated
//! before the capture must not be freed inside it (a free node may only free graph memory).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::CudaGraph;

use super::{cuda_err, CudaBackend, Inner};
use crate::error::{Error, Result};

/// An instantiated graph and the stream it replays on.
pub struct StepGraph {
    graph: CudaGraph,
}

impl StepGraph {
    /// Queues one replay (asynchronous, like any op).
    pub fn replay(&self) -> Result<()> {
        self.graph.launch().map_err(cuda_err)
    }
}

impl CudaBackend {
    /// [`CudaBackend::new`] on a fresh stream, so that its work can be captured.
    pub fn new_capturable(ordinal: usize) -> Result<Self> {
        let base = Self::new(ordinal)?;
        let i = &base.inner;
        let stream = i.ctx.new_stream().map_err(cuda_err)?;
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err)?;
        Ok(CudaBackend {
            inner: Arc::new(Inner {
                blas,
                functions: i.functions.clone(),
                modules: i.modules.clone(),
                images: i.images.clone(),
                stream,
                ctx: i.ctx.clone(),
                ordinal: i.ordinal,
                device: i.device.clone(),
                arch: i.arch.clone(),
                poison: AtomicBool::new(false),
                convex_kernel: AtomicU8::new(i.convex_kernel.load(Ordering::Relaxed)),
                counters: Default::default(),
            }),
        })
    }

    /// Records what `f` queues into a graph instead of running it. Fails on the legacy default
    /// stream, and when `f` does anything capture forbids (a host transfer from pageable memory, a
    /// synchronisation, freeing memory allocated before the capture). A panic inside the capture
    /// (cudarc unwraps in some of its clone and drop paths, which capture can make fail) is caught
    /// and returned as [`Error::Cuda`] with the panic's message, after the capture was ended.
    pub fn capture<T>(&self, f: impl FnOnce(&Self) -> Result<T>) -> Result<(StepGraph, T)> {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let caught = |what: &str, p: Box<dyn std::any::Any + Send>| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Error::Cuda(format!("panic {what}: {msg}"))
        };
        let s = &self.inner.stream;
        s.synchronize().map_err(cuda_err)?;
        s.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(|e| Error::Cuda(format!("cannot begin stream capture: {e}")))?;
        let out = catch_unwind(AssertUnwindSafe(|| f(self)))
            .unwrap_or_else(|p| Err(caught("inside stream capture", p)));
        // End the capture whatever happened, so the stream is usable again.
        let ended = catch_unwind(AssertUnwindSafe(|| {
            s.end_capture(CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH)
        }))
        .map_err(|p| caught("ending stream capture", p));
        // The closure's own failure first: it is usually why ending the capture failed too.
        let out = out?;
        let graph = ended?
            .map_err(|e| Error::Cuda(format!("stream capture failed: {e}")))?
            .ok_or_else(|| Error::Cuda("stream capture recorded nothing".into()))?;
        catch_unwind(AssertUnwindSafe(|| graph.upload()))
            .map_err(|p| caught("uploading the graph", p))?
            .map_err(cuda_err)?;
        Ok((StepGraph { graph }, out))
    }
}
