//! The CUDA backend: hand-written kernels (`kernels/<family>.cu`, compiled at run time with NVRTC
//! for the device's compute capability — a cubin, PTX as the fallback — cached on disk) and cuBLAS
//! for matrix products.
//!
//! Nothing CUDA is linked at build time: libcuda, libnvrtc and libcublas are loaded when
//! [`CudaBackend::new`] runs, which checks for them first so that a machine without a driver gets
//! an [`Error::Cuda`] rather than a panic. All work goes to one stream in order; the host waits only
//! in `download*`, `read_scalars` and `synchronize`.
//!
//! This file is the [`Device`] half (allocation, copies, kernel loading). Each family module
//! (`elementwise.rs`, `layers.rs`, ...) implements its family's trait of [`super::ops`], one thin
//! wrapper per op: shapes checked by the families' `check` functions, as the CPU reference does,
//! grid chosen with `launch_cfg`, one launch through the typed launchers of `kernel_abi`, `unsafe`
//! only around the launch.

#[doc(hidden)]
pub mod adam;
#[doc(hidden)]
pub mod convex;
#[doc(hidden)]
pub mod diagnostics;
#[doc(hidden)]
pub mod elementwise;
#[doc(hidden)]
pub mod graph;
#[doc(hidden)]
pub mod heatmap;
#[doc(hidden)]
pub mod layers;
#[doc(hidden)]
pub mod losses;
#[doc(hidden)]
pub mod lsgan;
#[doc(hidden)]
pub mod matmul;
#[doc(hidden)]
pub mod nvrtc;
#[doc(hidden)]
pub mod probe;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::CUresult;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DriverError};
use cudarc::nvrtc::Ptx;

use super::kernel_abi::{KernelId, SIGNATURES};
use super::{check, kernel_src, DictTensor, HostRows, Indices, Tensor};
use crate::backend::prelude::*;
use crate::error::{Error, Result};

/// What a failed device allocation says: the device, the size asked for, what was free (when the
/// driver could still tell), and what to change.
pub fn out_of_memory_message(
    device: &str,
    bytes: usize,
    free_total: Option<(usize, usize)>,
    advice: &str,
) -> String {
    let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
    let free = free_total
        .map(|(f, t)| format!(" ({:.0} MiB of {:.0} MiB free)", mib(f), mib(t)))
        .unwrap_or_default();
    format!(
        "out of GPU memory on {device}: allocating {:.1} MiB failed{free}; {advice}",
        mib(bytes)
    )
}

/// What the trainer's out-of-memory message suggests.
pub const TRAINER_MEMORY_ADVICE: &str = "lower phase2.batch, dict.max_rows_per_class or the model \
     widths, or use --dict-precision bf16";

/// Wraps any CUDA-side error (driver, cuBLAS, NVRTC) as [`Error::Cuda`].
pub fn cuda_err(e: impl std::fmt::Display) -> Error {
    Error::Cuda(e.to_string())
}

/// The largest element count a kernel argument may describe. Kernels index with `int`, and the
/// flat grid-stride loop adds at most 2^23 (the largest flat grid) to an index below this bound,
/// so nothing overflows.
pub const MAX_ELEMS: usize = 1 << 30;

/// A size as the kernels' `int`, or a shape error naming the op and the operand.
pub fn to_int(op: &'static str, what: &str, n: usize) -> Result<i32> {
    if n > MAX_ELEMS {
        return Err(Error::shape(
            op,
            format!("{what} has {n} elements; the CUDA kernels take at most 2^30"),
        ));
    }
    Ok(n as i32)
}

/// Launch configurations for the shapes of kernels/README.md.
#[doc(hidden)]
pub mod launch_cfg {
    use cudarc::driver::LaunchConfig;

    /// Threads per block of the flat, sample and one-block kernels.
    pub const BLOCK: u32 = 256;
    /// The flat grid is capped (grid-stride loops cover the rest): 2^15 blocks of 256 threads.
    pub const MAX_FLAT_GRID: u32 = 1 << 15;
    /// The *col* shape's block: 32 columns × 8 row-strided threads per column.
    pub const COL_TILE: u32 = 32;
    pub const COL_ROWS: u32 = 8;

    fn cfg(grid: u32, block: (u32, u32, u32), shared_mem_bytes: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (grid.max(1), 1, 1),
            block_dim: block,
            shared_mem_bytes,
        }
    }

    /// *flat*: a 1-D grid-stride loop over `n` elements.
    pub fn flat(n: usize) -> LaunchConfig {
        let blocks = n.div_ceil(BLOCK as usize).min(MAX_FLAT_GRID as usize) as u32;
        cfg(blocks, (BLOCK, 1, 1), 0)
    }

    /// *row*: one block per row; 32 threads when the row has at most 64 columns (one warp, no
    /// idle threads), else 256.
    pub fn row(rows: usize, cols: usize) -> LaunchConfig {
        let threads = if cols <= 64 { 32 } else { BLOCK };
        cfg(rows as u32, (threads, 1, 1), 0)
    }

    /// *col*: one block per 32 columns, `blockDim = (32, 8)`.
    pub fn col(cols: usize) -> LaunchConfig {
        cfg(
            cols.div_ceil(COL_TILE as usize) as u32,
            (COL_TILE, COL_ROWS, 1),
            0,
        )
    }

    /// *sample*: one block of 256 threads per generated sample, with the dynamic shared memory
    /// the kernel's comment asks for.
    pub fn sample(batch: usize, shared_mem_bytes: u32) -> LaunchConfig {
        cfg(batch as u32, (BLOCK, 1, 1), shared_mem_bytes)
    }

    /// One block of `threads` (a multiple of 32, at most 1024): the final loss reduction.
    pub fn one_block(threads: u32) -> LaunchConfig {
        cfg(1, (threads, 1, 1), 0)
    }

    /// A 3-D grid `(x, y, z)` of blocks of `threads`, e.g. the convex v2 kernels' column tiles ×
    /// samples × streams; an error where `y` or `z` exceeds CUDA's 65 535.
    pub fn tiled(
        x: usize,
        y: usize,
        z: usize,
        threads: u32,
        shared_mem_bytes: u32,
    ) -> crate::error::Result<LaunchConfig> {
        const MAX_YZ: usize = 65_535;
        if y > MAX_YZ || z > MAX_YZ || x > u32::MAX as usize {
            return Err(crate::error::Error::shape(
                "launch",
                format!("grid {x} × {y} × {z} exceeds CUDA's limits (y, z ≤ {MAX_YZ})"),
            ));
        }
        Ok(LaunchConfig {
            grid_dim: (x.max(1) as u32, y.max(1) as u32, z.max(1) as u32),
            block_dim: (threads, 1, 1),
            shared_mem_bytes,
        })
    }
}

/// A `u32` vector on the device (labels, dictionary row indices): the [`Device::IdxBuf`] of
/// [`CudaBackend`].
#[derive(Clone)]
pub struct DevIndices {
    /// The values (at least one element is allocated, so an empty vector holds one unused 0);
    /// shared by clones.
    pub(crate) slice: Arc<CudaSlice<u32>>,
    /// The largest value, computed on the host at upload, so that ops check index ranges without a
    /// synchronisation; `None` when empty. Private to the crate (made only by
    /// [`Device::upload_indices`]), since the range checks trust it.
    pub(crate) max: Option<u32>,
}

impl DevIndices {
    /// The largest value uploaded (`None` for an empty vector): the bound the ops' range checks
    /// compare with, known on the host without a synchronisation.
    pub fn max(&self) -> Option<u32> {
        self.max
    }
}

/// Dictionary rows on the device in their storage precision; bf16 and f16 as raw bits, which the
/// kernels widen with `to_float` (kernels/common.cuh). The [`Device::DictBuf`] of
/// [`CudaBackend`].
pub enum DevDict {
    /// Rows stored as f32.
    F32(CudaSlice<f32>),
    /// Rows stored as bfloat16 bit patterns.
    Bf16(CudaSlice<u16>),
    /// Rows stored as IEEE half-precision bit patterns.
    F16(CudaSlice<u16>),
}

/// How a kernel family's module was loaded: machine code for the device, or PTX that the driver
/// JIT-compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleImage {
    /// A cubin for this real architecture (`sm_90`); `cached` when it came from the disk cache.
    Cubin {
        /// The real architecture, e.g. `sm_90`.
        sm: String,
        /// Read from the disk cache rather than compiled by NVRTC in this process.
        cached: bool,
    },
    /// PTX for this virtual architecture (`compute_90`), and why no cubin was used.
    Ptx {
        /// The virtual architecture, e.g. `compute_90`.
        arch: String,
        /// Read from the disk cache rather than compiled by NVRTC in this process.
        cached: bool,
        /// The first line of the error that ruled out a cubin.
        why_not_cubin: String,
    },
}

impl std::fmt::Display for ModuleImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = |cached: bool| if cached { "cache" } else { "NVRTC" };
        match self {
            ModuleImage::Cubin { sm, cached } => write!(f, "cubin {sm} (from {})", from(*cached)),
            ModuleImage::Ptx {
                arch,
                cached,
                why_not_cubin,
            } => write!(
                f,
                "PTX {arch} JIT-compiled by the driver (from {}; no cubin: {why_not_cubin})",
                from(*cached)
            ),
        }
    }
}

/// Fields drop in declaration order: the cuBLAS handle, the functions and the modules before the
/// stream and the context they belong to.
struct Inner {
    blas: CudaBlas,
    /// Every entry point of [`SIGNATURES`], resolved once at start-up, indexed by [`KernelId`].
    functions: Arc<Vec<CudaFunction>>,
    modules: HashMap<&'static str, Arc<CudaModule>>,
    images: Vec<(&'static str, ModuleImage)>,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    ordinal: usize,
    device: String,
    arch: String,
    poison: AtomicBool,
    /// The convex kernels' version, [`convex::ConvexKernel`] as 1 or 2.
    convex_kernel: AtomicU8,
    counters: Counters,
}

/// What the backend has asked of the device since it opened (or since
/// [`CudaBackend::reset_counters`]): the figures a CUDA-graph redesign must drive down, printed
/// per iteration by `benches/gpu.rs`.
#[derive(Debug, Default)]
pub struct Counters {
    launches: AtomicU64,
    allocations: AtomicU64,
    host_syncs: AtomicU64,
    uploads: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Kernels launched through the typed launchers (cuBLAS calls not included).
    pub launches: u64,
    /// Device allocations (op outputs, zeros, uploads).
    pub allocations: u64,
    /// Times the host waited for the device (downloads, `read_scalars`, `synchronize`).
    pub host_syncs: u64,
    /// Host-to-device copies.
    pub uploads: u64,
}

/// The CUDA backend on one device, computing in f32 ([`Device::Elem`] is `f32`). Cloning shares
/// the device state (context, stream, cuBLAS handle, loaded kernels, counters).
///
/// Besides the errors of the op traits, any op may return [`Error::Cuda`] when the device fails
/// (out of memory said in words, with the size asked for and what was free), and
/// [`Error::Shape`] for an operand of more than [`MAX_ELEMS`] elements (the kernels index with
/// `int`). Index ranges are checked against the maximum recorded at upload, so no op
/// synchronises to check them.
#[derive(Clone)]
pub struct CudaBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The Linux file names cudarc tries for `lib` (it also tries Windows-style names, left out here).
pub fn lib_candidates(lib: &str) -> String {
    probe::candidates(lib).join(", ")
}

impl CudaBackend {
    /// Opens device `ordinal`: probes libcuda and libcublas (every function this backend calls must
    /// be there), creates the context, stream and cuBLAS handle, loads every kernel family (cubin
    /// for the device, else PTX; cached, else NVRTC) and resolves every entry point. Any failure,
    /// a panic inside cudarc included, is an [`Error::Cuda`] saying what was missing.
    pub fn new(ordinal: usize) -> Result<Self> {
        probe::driver()?;
        probe::cublas()?;
        probe::guarded(&format!("CUDA initialisation of device {ordinal}"), || {
            Self::init(ordinal)
        })
    }

    fn init(ordinal: usize) -> Result<Self> {
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| Error::Cuda(format!("cannot open CUDA device {ordinal}: {e}")))?;
        let cc = ctx.compute_capability().map_err(cuda_err)?;
        let device = ctx.name().unwrap_or_else(|_| "unknown device".into());
        let arch = nvrtc::arch_for(cc);
        // SAFETY: the backend queues everything on one stream, so there is no cross-stream
        // ordering for cudarc's per-allocation events to enforce; without them an allocation
        // costs no event creation.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        // cuBLAS' default math mode computes SGEMM in full f32 (no TF32), which the 1e-4
        // tolerance of METHOD.md §7 needs; the handle is left in that mode.
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err)?;
        let mut modules = HashMap::new();
        let mut images = Vec::new();
        let sm = nvrtc::sm_for(cc);
        for (family, source) in kernel_src::families() {
            let (module, image) = load_family(&ctx, family, source, &sm, &arch)?;
            modules.insert(family, module);
            images.push((family, image));
        }
        let functions = SIGNATURES
            .iter()
            .map(|sig| {
                let module = modules.get(sig.family).ok_or_else(|| {
                    Error::Cuda(format!(
                        "kernel {} is declared for kernels/{}.cu, which was not embedded",
                        sig.name, sig.family
                    ))
                })?;
                module.load_function(sig.name).map_err(|e| {
                    Error::Cuda(format!(
                        "kernel {} in kernels/{}.cu: {e}",
                        sig.name, sig.family
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CudaBackend {
            inner: Arc::new(Inner {
                blas,
                functions: Arc::new(functions),
                modules,
                images,
                stream,
                ctx,
                ordinal,
                device,
                arch,
                poison: AtomicBool::new(false),
                convex_kernel: AtomicU8::new(convex::ConvexKernel::from_env() as u8),
                counters: Counters::default(),
            }),
        })
    }

    /// How each kernel family was loaded (cubin or PTX), for diagnostics.
    pub fn module_images(&self) -> &[(&'static str, ModuleImage)] {
        &self.inner.images
    }

    #[doc(hidden)]
    /// The resolved function of an entry point (the typed launchers of `kernel_abi::launch` use
    /// it).
    pub fn kernel(&self, id: KernelId) -> &CudaFunction {
        &self.inner.functions[id as usize]
    }

    /// The stream every op is queued on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }
    /// The CUDA context of the device, with cudarc's per-allocation event tracking off (all work
    /// is on one stream); the cuDNN backbone binds it and queues on the same stream.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }
    /// The cuBLAS handle, bound to [`stream`](Self::stream) and left in full-f32 math mode (no
    /// TF32; METHOD.md §7).
    pub fn blas(&self) -> &CudaBlas {
        &self.inner.blas
    }
    /// The virtual architecture the kernels were compiled for, e.g. `compute_90`.
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }
    /// The driver's name for the device, e.g. `NVIDIA H200`.
    pub fn device_name(&self) -> &str {
        &self.inner.device
    }

    /// `n` zeros (at least one element is allocated: CUDA refuses empty allocations).
    pub fn alloc_zeros(&self, n: usize) -> Result<CudaSlice<f32>> {
        self.note(|c| &c.allocations);
        self.inner
            .stream
            .alloc_zeros(n.max(1))
            .map_err(self.alloc_err(4 * n))
    }

    /// The error of an allocation of `bytes`: running out of device memory is said in words, with
    /// the size asked for and what is free, where cudarc gives only the driver's code.
    pub fn alloc_err(&self, bytes: usize) -> impl Fn(DriverError) -> Error + '_ {
        self.alloc_err_advising(bytes, TRAINER_MEMORY_ADVICE)
    }

    /// [`alloc_err`](Self::alloc_err) with other advice (the backbone's is not the trainer's).
    pub fn alloc_err_advising<'a>(
        &'a self,
        bytes: usize,
        advice: &'a str,
    ) -> impl Fn(DriverError) -> Error + 'a {
        move |e| {
            if e.0 != CUresult::CUDA_ERROR_OUT_OF_MEMORY {
                return cuda_err(e);
            }
            let free = self.inner.ctx.mem_get_info().ok();
            Error::Cuda(out_of_memory_message(
                &self.inner.device,
                bytes,
                free,
                advice,
            ))
        }
    }

    /// Room for an output that the next kernel writes in full. Uninitialised, or NaN when
    /// [`set_poison_outputs`](Self::set_poison_outputs) is on, so a test sees any element a
    /// kernel forgot to write.
    pub fn alloc_out(&self, n: usize) -> Result<CudaSlice<f32>> {
        if self.inner.poison.load(Ordering::Relaxed) {
            let mut s = self.alloc_zeros(n)?;
            if n > 0 {
                let n_i = to_int("alloc_out", "output", n)?;
                // SAFETY: `s` holds at least n floats (alloc_zeros allocates max(n, 1)).
                unsafe {
                    super::kernel_abi::launch::fill_f32(
                        self,
                        launch_cfg::flat(n),
                        &mut s,
                        f32::NAN,
                        n_i,
                    )
                }?;
            }
            return Ok(s);
        }
        self.note(|c| &c.allocations);
        // SAFETY: the memory is unset until a kernel writes it; every caller launches a kernel that
        // writes all `n` elements before anything reads them, and any bit pattern is a valid f32.
        unsafe { self.inner.stream.alloc::<f32>(n.max(1)) }.map_err(self.alloc_err(4 * n))
    }

    /// The device work counted so far.
    pub fn counters(&self) -> CounterSnapshot {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            launches: get(&c.launches),
            allocations: get(&c.allocations),
            host_syncs: get(&c.host_syncs),
            uploads: get(&c.uploads),
        }
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        let c = &self.inner.counters;
        for a in [&c.launches, &c.allocations, &c.host_syncs, &c.uploads] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Counts one kernel launch (the typed launchers call it).
    pub fn note_launch(&self) {
        self.inner.counters.launches.fetch_add(1, Ordering::Relaxed);
    }

    fn note(&self, which: fn(&Counters) -> &AtomicU64) {
        which(&self.inner.counters).fetch_add(1, Ordering::Relaxed);
    }

    #[doc(hidden)]
    /// Which convex kernels later launches use (benches and tests compare the versions).
    pub fn set_convex_kernel(&self, k: convex::ConvexKernel) {
        self.inner.convex_kernel.store(k as u8, Ordering::Relaxed);
    }

    #[doc(hidden)]
    /// The convex kernels' version in use.
    pub fn convex_kernel(&self) -> convex::ConvexKernel {
        match self.inner.convex_kernel.load(Ordering::Relaxed) {
            1 => convex::ConvexKernel::V2,
            _ => convex::ConvexKernel::V1,
        }
    }

    /// Fill every later op output with NaN before the kernel runs (for tests).
    pub fn set_poison_outputs(&self, on: bool) {
        self.inner.poison.store(on, Ordering::Relaxed);
    }

    /// Checks every index is below `limit` (from the maximum recorded at upload), with the message
    /// `"{what} {max} out of range for {limit} {unit}"`.
    pub fn check_indices(
        &self,
        op: &'static str,
        idx: &Indices<Self>,
        what: &str,
        limit: usize,
        unit: &str,
    ) -> Result<()> {
        match idx.buf.max {
            Some(m) if m as usize >= limit => Err(Error::shape(
                op,
                format!("{what} {m} out of range for {limit} {unit}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Loads one family: a cubin for the device's real architecture `sm` (cached, else NVRTC), else
/// PTX for `arch` (cached, else NVRTC; PTX cached by a newer NVRTC than this driver can JIT is
/// recompiled with the local NVRTC when there is one). Says which it loaded.
fn load_family(
    ctx: &Arc<CudaContext>,
    family: &str,
    source: &str,
    sm: &str,
    arch: &str,
) -> Result<(Arc<CudaModule>, ModuleImage)> {
    let file = format!("{family}.cu");
    let why_not_cubin = match nvrtc::cubin_for(&file, source, sm) {
        Ok((cubin, cached)) => match ctx.load_module(Ptx::from_binary(cubin)) {
            Ok(m) => {
                let image = ModuleImage::Cubin {
                    sm: sm.to_string(),
                    cached,
                };
                return Ok((m, image));
            }
            Err(e) => format!("the {sm} cubin did not load ({e})"),
        },
        Err(e) => e.to_string().lines().next().unwrap_or("").to_string(),
    };
    tracing::info!("kernels/{file}: no cubin for {sm} ({why_not_cubin}); loading PTX");
    let (ptx, cached) = nvrtc::ptx_for(&file, source, arch)?;
    let image = |cached| ModuleImage::Ptx {
        arch: arch.to_string(),
        cached,
        why_not_cubin: why_not_cubin.clone(),
    };
    match ctx.load_module(Ptx::from_src(ptx)) {
        Ok(m) => Ok((m, image(cached))),
        Err(e) if cached && nvrtc::available().is_ok() => {
            tracing::info!("cached PTX for kernels/{file} did not load ({e}); recompiling");
            let ptx = nvrtc::compile_and_cache(&file, source, arch)?;
            let m = ctx
                .load_module(Ptx::from_src(ptx))
                .map_err(|e| Error::Cuda(format!("loading kernels/{file} for {arch}: {e}")))?;
            Ok((m, image(false)))
        }
        Err(e) => Err(Error::Cuda(format!(
            "loading kernels/{file} for {arch}: {e}"
        ))),
    }
}

impl Device for CudaBackend {
    type Elem = f32;
    type Buf = CudaSlice<f32>;
    type IdxBuf = DevIndices;
    type DictBuf = DevDict;

    fn name(&self) -> String {
        format!(
            "cuda:{} ({}, {})",
            self.inner.ordinal, self.inner.device, self.inner.arch
        )
    }

    fn buf_fits(buf: &CudaSlice<f32>, rows: usize, cols: usize) -> bool {
        rows.checked_mul(cols).is_some_and(|n| buf.len() >= n)
    }

    fn idx_buf_fits(buf: &DevIndices, len: usize) -> bool {
        // `max` covers every value uploaded, so any prefix is in range of it.
        buf.slice.len() >= len
    }

    fn dict_buf_fits(
        buf: &DevDict,
        rows: usize,
        cols: usize,
        precision: crate::backend::Precision,
    ) -> bool {
        use crate::backend::Precision;
        let Some(n) = rows.checked_mul(cols) else {
            return false;
        };
        match (buf, precision) {
            (DevDict::F32(b), Precision::F32) => b.len() >= n,
            (DevDict::Bf16(b), Precision::Bf16) | (DevDict::F16(b), Precision::F16) => b.len() >= n,
            _ => false,
        }
    }

    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        self.note(|c| &c.uploads);
        self.note(|c| &c.allocations);
        check::upload("upload", data.len(), rows, cols)?;
        let buf = if data.is_empty() {
            self.alloc_zeros(0)?
        } else {
            self.inner
                .stream
                .clone_htod(data)
                .map_err(self.alloc_err(4 * data.len()))?
        };
        Ok(Tensor { buf, rows, cols })
    }

    fn download(&self, t: &Tensor<Self>) -> Result<Vec<f32>> {
        self.note(|c| &c.host_syncs);
        if t.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .stream
            .clone_dtoh(&t.buf.slice(..t.len()))
            .map_err(cuda_err)
    }

    fn upload_indices(&self, data: &[u32]) -> Result<Indices<Self>> {
        self.note(|c| &c.uploads);
        self.note(|c| &c.allocations);
        let slice = if data.is_empty() {
            self.inner.stream.alloc_zeros::<u32>(1)
        } else {
            self.inner.stream.clone_htod(data)
        }
        .map_err(self.alloc_err(4 * data.len()))?;
        Ok(Indices {
            buf: DevIndices {
                slice: Arc::new(slice),
                max: data.iter().copied().max(),
            },
            len: data.len(),
        })
    }

    fn download_indices(&self, t: &Indices<Self>) -> Result<Vec<u32>> {
        self.note(|c| &c.host_syncs);
        if t.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .stream
            .clone_dtoh(&t.buf.slice.slice(..t.len))
            .map_err(cuda_err)
    }

    fn upload_dict(&self, rows: &HostRows, n_rows: usize, cols: usize) -> Result<DictTensor<Self>> {
        check::upload_dict("upload_dict", rows.len(), n_rows, cols)?;
        let s = &self.inner.stream;
        let bits16 = |v: Vec<u16>| {
            if v.is_empty() {
                s.alloc_zeros::<u16>(1)
            } else {
                s.clone_htod(&v)
            }
        };
        let buf = match rows {
            HostRows::F32(v) if v.is_empty() => DevDict::F32(self.alloc_zeros(0)?),
            HostRows::F32(v) => DevDict::F32(s.clone_htod(v).map_err(self.alloc_err(4 * v.len()))?),
            HostRows::Bf16(v) => DevDict::Bf16(
                bits16(v.iter().map(|x| x.to_bits()).collect())
                    .map_err(self.alloc_err(2 * v.len()))?,
            ),
            HostRows::F16(v) => DevDict::F16(
                bits16(v.iter().map(|x| x.to_bits()).collect())
                    .map_err(self.alloc_err(2 * v.len()))?,
            ),
        };
        Ok(DictTensor {
            buf,
            rows: n_rows,
            cols,
            precision: rows.precision(),
        })
    }

    /// Gathers the first element of each tensor into one device buffer (device-to-device copies,
    /// queued), then copies that buffer to the host: one synchronisation for all of them.
    fn read_scalars(&self, ts: &[&Tensor<Self>]) -> Result<Vec<f64>> {
        self.note(|c| &c.host_syncs);
        if ts.is_empty() {
            return Ok(Vec::new());
        }
        let s = &self.inner.stream;
        let mut gathered = self.alloc_zeros(ts.len())?;
        for (i, t) in ts.iter().enumerate() {
            if !t.is_empty() {
                let mut dst = gathered.slice_mut(i..i + 1);
                s.memcpy_dtod(&t.buf.slice(..1), &mut dst)
                    .map_err(cuda_err)?;
            }
        }
        let host = s
            .clone_dtoh(&gathered.slice(..ts.len()))
            .map_err(cuda_err)?;
        Ok(ts
            .iter()
            .zip(host)
            .map(|(t, v)| if t.is_empty() { f64::NAN } else { v as f64 })
            .collect())
    }

    /// Free and total bytes of the device's memory, as the driver reports them now; `None` when
    /// it cannot tell.
    fn device_memory(&self) -> Option<(u64, u64)> {
        let (free, total) = self.inner.ctx.mem_get_info().ok()?;
        Some((free as u64, total as u64))
    }

    /// Waits for the stream, then reports any error cudarc recorded where it could not return
    /// one (frees in `Drop`).
    fn synchronize(&self) -> Result<()> {
        self.note(|c| &c.host_syncs);
        self.inner.stream.synchronize().map_err(cuda_err)?;
        self.inner.ctx.check_err().map_err(cuda_err)
    }
}
