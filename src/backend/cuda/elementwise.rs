//! Launch wrappers for kernels/elementwise.cu: fill, axpy, scale, column concat/split, row gather,
//! one-hot, and the one-block loss reduction.

use cudarc::driver::CudaSlice;

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, Indices, Tensor};
use crate::error::{Error, Result};

/// `y[..n] = value` (also used to poison outputs in tests).
pub fn fill_slice(be: &CudaBackend, y: &mut CudaSlice<f32>, n: usize, value: f32) -> Result<()> {
    let n_i = to_int("fill", "output", n)?;
    if n == 0 {
        return Ok(());
    }
    // SAFETY: `y` holds at least n floats.
    unsafe { k::fill_f32(be, launch_cfg::flat(n), y, value, n_i) }
}

/// `dst[:, dst_col0 .. dst_col0 + width] = src[:, src_col0 .. src_col0 + width]`.
#[allow(clippy::too_many_arguments)]
fn copy_cols(
    be: &CudaBackend,
    op: &'static str,
    dst: &mut CudaSlice<f32>,
    dst_cols: usize,
    dst_col0: usize,
    src: &CudaSlice<f32>,
    src_cols: usize,
    src_col0: usize,
    width: usize,
    rows: usize,
) -> Result<()> {
    let n = rows * width;
    if n == 0 {
        return Ok(());
    }
    to_int(op, "output", rows * dst_cols)?;
    to_int(op, "input", rows * src_cols)?;
    // All six are below 2^30 (products of them are, checked just above).
    let [dst_cols, dst_col0, src_cols, src_col0, width, rows] =
        [dst_cols, dst_col0, src_cols, src_col0, width, rows].map(|v| v as i32);
    // SAFETY: the callers keep dst_col0 + width ≤ dst_cols and src_col0 + width ≤ src_cols, and
    // dst / src hold rows·dst_cols / rows·src_cols floats (both bounded by 2^30, checked above),
    // in distinct allocations.
    unsafe {
        k::copy_cols_f32(
            be,
            launch_cfg::flat(n),
            dst,
            dst_cols,
            dst_col0,
            src,
            src_cols,
            src_col0,
            width,
            rows,
        )
    }
}

impl CudaBackend {
    /// `scale · Σ x[..n]` as a `1 × 1` tensor: the final, deterministic reduction of per-row
    /// losses (`sum_scaled_f32`), one block: 256 threads, 1024 beyond 16 Ki values. The result
    /// depends only on `n` (no atomics), so runs are reproducible.
    pub fn sum_scaled(&self, x: &CudaSlice<f32>, n: usize, scale: f64) -> Result<Tensor<Self>> {
        sum_scaled(self, x, n, scale)
    }
}

fn sum_scaled(
    be: &CudaBackend,
    x: &CudaSlice<f32>,
    n: usize,
    scale: f64,
) -> Result<Tensor<CudaBackend>> {
    let n_i = to_int("sum_scaled", "x", n)?;
    if x.len() < n {
        return Err(Error::shape(
            "sum_scaled",
            format!("buffer holds {} values, asked to sum {n}", x.len()),
        ));
    }
    let mut out = be.alloc_out(1)?;
    let scale = scale as f32;
    let threads = if n > 16 * 1024 {
        1024
    } else {
        launch_cfg::BLOCK
    };
    // SAFETY: out holds one float, x at least n (checked); one block of a multiple of 32 threads
    // as the kernel assumes.
    unsafe { k::sum_scaled_f32(be, launch_cfg::one_block(threads), &mut out, x, n_i, scale) }?;
    Ok(Tensor::from_parts_unchecked(out, 1, 1))
}

impl ElementwiseOps for CudaBackend {
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<CudaBackend>> {
        let be = self;
        to_int("zeros", "output", rows * cols)?;
        Ok(Tensor::from_parts_unchecked(
            be.alloc_zeros(rows * cols)?,
            rows,
            cols,
        ))
    }

    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<CudaBackend>> {
        let be = self;
        let n = rows * cols;
        let mut y = be.alloc_zeros(n)?;
        fill_slice(be, &mut y, n, value as f32)?;
        Ok(Tensor::from_parts_unchecked(y, rows, cols))
    }

    fn axpy(&self, y: &mut Tensor<CudaBackend>, alpha: f64, x: &Tensor<CudaBackend>) -> Result<()> {
        let be = self;
        check::same_shape("axpy", y, x)?;
        let n = y.len();
        let n_i = to_int("axpy", "y", n)?;
        if n == 0 {
            return Ok(());
        }
        let alpha = alpha as f32;
        // SAFETY: y and x are distinct tensors (one is borrowed mutably) of the same n elements.
        unsafe { k::axpy_f32(be, launch_cfg::flat(n), &mut y.buf, &x.buf, alpha, n_i) }
    }

    fn scale(&self, x: &Tensor<CudaBackend>, alpha: f64) -> Result<Tensor<CudaBackend>> {
        let be = self;
        let n = x.len();
        let n_i = to_int("scale", "x", n)?;
        let mut y = be.alloc_out(n)?;
        if n > 0 {
            let alpha = alpha as f32;
            // SAFETY: both hold n floats.
            unsafe { k::scale_f32(be, launch_cfg::flat(n), &mut y, &x.buf, alpha, n_i) }?;
        }
        Ok(Tensor::from_parts_unchecked(y, x.rows, x.cols))
    }

    fn concat_cols(&self, parts: &[&Tensor<CudaBackend>]) -> Result<Tensor<CudaBackend>> {
        let be = self;
        let rows = check::concat_cols("concat_cols", parts)?;
        let cols: usize = parts.iter().map(|p| p.cols).sum();
        to_int("concat_cols", "output", rows * cols)?;
        let mut out = be.alloc_out(rows * cols)?;
        let mut c0 = 0;
        for p in parts {
            copy_cols(
                be,
                "concat_cols",
                &mut out,
                cols,
                c0,
                &p.buf,
                p.cols,
                0,
                p.cols,
                rows,
            )?;
            c0 += p.cols;
        }
        Ok(Tensor::from_parts_unchecked(out, rows, cols))
    }

    fn split_cols(
        &self,
        x: &Tensor<CudaBackend>,
        widths: &[usize],
    ) -> Result<Vec<Tensor<CudaBackend>>> {
        let be = self;
        check::split_cols("split_cols", x, widths)?;
        let mut out = Vec::with_capacity(widths.len());
        let mut c0 = 0;
        for &w in widths {
            let mut part = be.alloc_out(x.rows * w)?;
            copy_cols(
                be,
                "split_cols",
                &mut part,
                w,
                0,
                &x.buf,
                x.cols,
                c0,
                w,
                x.rows,
            )?;
            out.push(Tensor::from_parts_unchecked(part, x.rows, w));
            c0 += w;
        }
        Ok(out)
    }

    fn gather_rows(
        &self,
        x: &Tensor<CudaBackend>,
        rows: &Indices<CudaBackend>,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "gather_rows";
        be.check_indices(OP, rows, "row index", x.rows, "rows")?;
        let n = rows.len() * x.cols;
        to_int(OP, "output", n)?;
        to_int(OP, "x", x.len())?;
        let (len, cols) = (rows.len() as i32, x.cols as i32);
        let mut out = be.alloc_out(n)?;
        if n > 0 {
            // SAFETY: out holds n·cols floats, idx n values each < x.rows (checked from the recorded
            // maximum), x holds x.rows·cols floats.
            unsafe {
                k::gather_rows_f32(
                    be,
                    launch_cfg::flat(n),
                    &mut out,
                    &x.buf,
                    &rows.buf.slice,
                    len,
                    cols,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(out, rows.len(), x.cols))
    }

    fn onehot(&self, labels: &Indices<CudaBackend>, n: usize) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "onehot";
        be.check_indices(OP, labels, "label", n, "classes")?;
        let total = labels.len() * n;
        to_int(OP, "output", total)?;
        let mut out = be.alloc_out(total)?;
        if total > 0 {
            let (len, classes) = (labels.len() as i32, n as i32);
            // SAFETY: out holds n·classes floats, labels n values.
            unsafe {
                k::onehot_f32(
                    be,
                    launch_cfg::flat(total),
                    &mut out,
                    &labels.buf.slice,
                    len,
                    classes,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(out, labels.len(), n))
    }
}
