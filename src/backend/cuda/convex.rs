//! Launch wrappers for kernels/convex.cu: Eq. 3's convex combination (forward and backward to G's
//! logits) and the gather of real dictionary rows, for f32, bf16 and f16 dictionaries.

use super::{launch_cfg, to_int, CudaBackend, DevDict};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, ConvexOut, DictTensor, Indices, Tensor};
use crate::error::{Error, Result};

/// The dynamic shared memory a *sample* block may use without opting in to more (48 KiB).
const MAX_SHARED_BYTES: usize = 48 * 1024;

type Dict = DictTensor<CudaBackend>;

/// The error for two dictionaries of different storage types (checked before any launch, so only
/// reached if that check is bypassed).
fn mixed(op: &str) -> Error {
    Error::invalid(
        format!("{op} dictionaries"),
        "dict_t and dict_s differ in storage type",
    )
}

/// Checks shared by the forward and the backward ([`check::convex_batch`], plus what the kernels
/// need: row indices in range, one storage type for both dictionaries, `N_s` within the shared
/// memory, `int` sizes); returns `N_s`.
#[allow(clippy::too_many_arguments)]
fn check_batch(
    op: &'static str,
    be: &CudaBackend,
    batch: usize,
    weight_cols: usize,
    dict_t: &Dict,
    dict_s: &Dict,
    rows: &Indices<CudaBackend>,
    shared_per_ns: usize,
) -> Result<usize> {
    let ns = check::convex_batch(op, batch, weight_cols, dict_t, dict_s, rows)?;
    be.check_indices(op, rows, "row index", dict_t.rows, "dictionary rows")?;
    if dict_t.precision != dict_s.precision {
        return Err(Error::invalid(
            format!("{op} dictionaries"),
            format!(
                "dict_t is {} but dict_s is {}; the CUDA kernels take one storage type for both",
                dict_t.precision.name(),
                dict_s.precision.name()
            ),
        ));
    }
    if ns * shared_per_ns > MAX_SHARED_BYTES {
        return Err(Error::invalid(
            format!("{op} N_s"),
            format!(
                "{ns} rows per sample need {} bytes of shared memory; the kernel has {MAX_SHARED_BYTES}",
                ns * shared_per_ns
            ),
        ));
    }
    to_int(op, "weights", batch * weight_cols)?;
    to_int(op, "dict_t columns", dict_t.cols)?;
    to_int(op, "dict_s columns", dict_s.cols)?;
    to_int(op, "f_t", batch * dict_t.cols)?;
    to_int(op, "f_s", batch * dict_s.cols)?;
    Ok(ns)
}

/// Which kernels the convex forward and backward launch: version 1 (one block per sample, both
/// streams in turn) or version 2 (a block per stream and column tile in the forward, per stream in
/// the backward; 16-byte loads). Both are checked against the CPU reference in the emulation
/// tests; `benches/gpu.rs` times them side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvexKernel {
    V1,
    V2,
}

impl ConvexKernel {
    /// `CONVEXGAN_CONVEX_KERNEL=1|2`, else version 1 (until version 2 has run on a GPU).
    pub fn from_env() -> Self {
        match std::env::var("CONVEXGAN_CONVEX_KERNEL").as_deref() {
            Ok("2") | Ok("v2") => ConvexKernel::V2,
            _ => ConvexKernel::V1,
        }
    }
}

/// Threads per block of the v2 forward; each thread owns 16 bytes' worth of columns.
const V2_FWD_THREADS: u32 = 128;

/// Calls the entry point of `[f32, bf16, f16]` for the dictionaries' common storage type, with the
/// two dictionary pointers between the arguments before and after `;`.
macro_rules! by_dict_type {
    ($op:expr, $dicts:expr, [$f32:path, $bf16:path, $f16:path], ($($pre:expr),*; $($post:expr),*)) => {
        match $dicts {
            (DevDict::F32(dt), DevDict::F32(ds)) => $f32($($pre,)* dt, ds, $($post),*),
            (DevDict::Bf16(dt), DevDict::Bf16(ds)) => $bf16($($pre,)* dt, ds, $($post),*),
            (DevDict::F16(dt), DevDict::F16(ds)) => $f16($($pre,)* dt, ds, $($post),*),
            _ => Err(mixed($op)),
        }
    };
}

/// Values of a dictionary's storage type per 16 bytes (the v2 kernels' `VEC`).
fn vec_width(d: &DevDict) -> usize {
    match d {
        DevDict::F32(_) => 4,
        DevDict::Bf16(_) | DevDict::F16(_) => 8,
    }
}

impl ConvexOps for CudaBackend {
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<CudaBackend>,
        dict_t: &Dict,
        dict_s: &Dict,
        rows: &Indices<CudaBackend>,
    ) -> Result<ConvexOut<CudaBackend>> {
        let be = self;
        const OP: &str = "convex_combine_fwd";
        // v1: two softmaxes (2·N_s floats) and the sample's row indices (N_s u32) in shared
        // memory; v2 holds one stream's softmax and the indices (8·N_s bytes).
        const SHARED_PER_NS: usize = 12;
        let batch = logits.rows;
        let ns = check_batch(
            OP,
            be,
            batch,
            logits.cols,
            dict_t,
            dict_s,
            rows,
            SHARED_PER_NS,
        )?;
        let (d_t, d_s) = (dict_t.cols, dict_s.cols);
        let mut f_t = be.alloc_out(batch * d_t)?;
        let mut f_s = be.alloc_out(batch * d_s)?;
        let mut w = be.alloc_out(batch * 2 * ns)?;
        if batch > 0 {
            let [batch_i, ns_i, d_t_i, d_s_i] = [batch, ns, d_t, d_s].map(|v| v as i32);
            let r = &rows.buf.slice;
            let dicts = (&dict_t.buf, &dict_s.buf);
            let l = &logits.buf;
            // SAFETY: the entry point of the dictionaries' common type (checked); every buffer holds
            // what these sizes say, every row index is below the dictionaries' row count, and the
            // block gets the dynamic shared memory its kernel asks for (v1 12·N_s bytes, v2 8·N_s)
            // with the grid its comment describes.
            unsafe {
                match be.convex_kernel() {
                    ConvexKernel::V1 => {
                        let cfg = launch_cfg::sample(batch, (SHARED_PER_NS * ns) as u32);
                        by_dict_type!(
                            OP,
                            dicts,
                            [
                                k::convex_combine_fwd_f32,
                                k::convex_combine_fwd_bf16,
                                k::convex_combine_fwd_f16
                            ],
                            (be, cfg, &mut f_t, &mut f_s, &mut w, l; r, batch_i, ns_i, d_t_i, d_s_i)
                        )
                    }
                    ConvexKernel::V2 => {
                        let tile = V2_FWD_THREADS as usize * vec_width(&dict_t.buf);
                        let cfg = launch_cfg::tiled(
                            d_t.max(d_s).div_ceil(tile),
                            batch,
                            2,
                            V2_FWD_THREADS,
                            (8 * ns) as u32,
                        )?;
                        by_dict_type!(
                            OP,
                            dicts,
                            [
                                k::convex_combine_fwd_v2_f32,
                                k::convex_combine_fwd_v2_bf16,
                                k::convex_combine_fwd_v2_f16
                            ],
                            (be, cfg, &mut f_t, &mut f_s, &mut w, l; r, batch_i, ns_i, d_t_i, d_s_i)
                        )
                    }
                }
            }?;
        }
        Ok(ConvexOut {
            f_t: Tensor::from_parts_unchecked(f_t, batch, d_t),
            f_s: Tensor::from_parts_unchecked(f_s, batch, d_s),
            w: Tensor::from_parts_unchecked(w, batch, 2 * ns),
        })
    }

    fn convex_combine_bwd(
        &self,
        w: &Tensor<CudaBackend>,
        d_f_t: &Tensor<CudaBackend>,
        d_f_s: &Tensor<CudaBackend>,
        dict_t: &Dict,
        dict_s: &Dict,
        rows: &Indices<CudaBackend>,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "convex_combine_bwd";
        // v1: the weight gradients g_t, g_s (2·N_s floats) in shared memory.
        const SHARED_PER_NS: usize = 8;
        let batch = w.rows;
        let ns = check_batch(OP, be, batch, w.cols, dict_t, dict_s, rows, SHARED_PER_NS)?;
        check::convex_grads(OP, batch, d_f_t, d_f_s, dict_t, dict_s)?;
        let mut d_logits = be.alloc_out(batch * 2 * ns)?;
        // v2 stages one stream's d_f row and its N_s gradients: (d + N_s)·4 bytes. A row too wide
        // for that takes version 1, which needs only 8·N_s bytes.
        let v2_shared = 4 * (dict_t.cols.max(dict_s.cols) + ns);
        let version = match be.convex_kernel() {
            ConvexKernel::V2 if v2_shared <= MAX_SHARED_BYTES => ConvexKernel::V2,
            _ => ConvexKernel::V1,
        };
        if batch > 0 {
            let [batch_i, ns_i, d_t_i, d_s_i] =
                [batch, ns, dict_t.cols, dict_s.cols].map(|v| v as i32);
            let r = &rows.buf.slice;
            let (wb, gt, gs) = (&w.buf, &d_f_t.buf, &d_f_s.buf);
            let dicts = (&dict_t.buf, &dict_s.buf);
            // SAFETY: the entry point of the dictionaries' common type; shapes and row indices
            // checked above; v1: 8·N_s bytes of dynamic shared memory, 256 threads (a multiple of
            // 32, as its warp-per-row loop needs); v2: (d + N_s)·4 bytes (≤ 48 KiB, checked), grid
            // (B, 2), 256 threads.
            unsafe {
                match version {
                    ConvexKernel::V1 => {
                        let cfg = launch_cfg::sample(batch, (SHARED_PER_NS * ns) as u32);
                        by_dict_type!(
                            OP,
                            dicts,
                            [
                                k::convex_combine_bwd_f32,
                                k::convex_combine_bwd_bf16,
                                k::convex_combine_bwd_f16
                            ],
                            (be, cfg, &mut d_logits, wb, gt, gs; r, batch_i, ns_i, d_t_i, d_s_i)
                        )
                    }
                    ConvexKernel::V2 => {
                        let cfg =
                            launch_cfg::tiled(batch, 2, 1, launch_cfg::BLOCK, v2_shared as u32)?;
                        by_dict_type!(
                            OP,
                            dicts,
                            [
                                k::convex_combine_bwd_v2_f32,
                                k::convex_combine_bwd_v2_bf16,
                                k::convex_combine_bwd_v2_f16
                            ],
                            (be, cfg, &mut d_logits, wb, gt, gs; r, batch_i, ns_i, d_t_i, d_s_i)
                        )
                    }
                }
            }?;
        }
        Ok(Tensor::from_parts_unchecked(d_logits, batch, 2 * ns))
    }

    fn dict_gather(&self, dict: &Dict, rows: &Indices<CudaBackend>) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "dict_gather";
        be.check_indices(OP, rows, "row index", dict.rows, "dictionary rows")?;
        let (n, cols) = (rows.len(), dict.cols);
        let total = to_int(OP, "output", n * cols)?;
        let mut out = be.alloc_out(n * cols)?;
        if total > 0 {
            let [n_i, cols_i] = [n, cols].map(|v| v as i32);
            let cfg = launch_cfg::flat(n * cols);
            let r = &rows.buf.slice;
            // SAFETY: the entry point of the dictionary's type; out holds n·cols floats, every index
            // is below the dictionary's row count (checked).
            unsafe {
                match &dict.buf {
                    DevDict::F32(d) => k::dict_gather_f32(be, cfg, &mut out, d, r, n_i, cols_i),
                    DevDict::Bf16(d) => k::dict_gather_bf16(be, cfg, &mut out, d, r, n_i, cols_i),
                    DevDict::F16(d) => k::dict_gather_f16(be, cfg, &mut out, d, r, n_i, cols_i),
                }
            }?;
        }
        Ok(Tensor::from_parts_unchecked(out, n, cols))
    }
}
