//! Launch wrappers for kernels/heatmap.cu: Gaussian ground-truth heatmaps (*flat*) and Eq. 1's
//! landmark loss (*row*, one block per sample) followed by `sum_scaled_f32` for the batch mean.

use cudarc::driver::PushKernelArg;

use super::{cuda_err, launch_cfg, to_int, CudaBackend};
use crate::backend::{check, Tensor};
use crate::error::{Error, Result};

const FAMILY: &str = "heatmap";

pub fn heatmap_targets(
    be: &CudaBackend,
    coords: &Tensor<CudaBackend>,
    vis: &Tensor<CudaBackend>,
    grid: usize,
    sigma: f64,
) -> Result<Tensor<CudaBackend>> {
    const OP: &str = "heatmap_targets";
    let (batch, k) = vis.shape();
    check::shape(OP, "coords", coords, batch, 2 * k)?;
    if grid == 0 {
        return Err(Error::invalid("heatmap grid", "must be at least 1 cell"));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid(
            "heatmap sigma",
            format!("{sigma} (must be finite and > 0)"),
        ));
    }
    let g2 = grid * grid;
    let total = to_int(OP, "output", batch * k * g2)?;
    let mut out = be.alloc_out(batch * k * g2)?;
    if total > 0 {
        let [batch_i, k_i, grid_i] = [batch, k, grid].map(|v| v as i32);
        let sigma = sigma as f32;
        let f = be.function(FAMILY, "heatmap_targets_f32")?;
        let mut l = be.stream().launch_builder(&f);
        l.arg(&mut out)
            .arg(&coords.buf)
            .arg(&vis.buf)
            .arg(&batch_i)
            .arg(&k_i)
            .arg(&grid_i)
            .arg(&sigma);
        // SAFETY: heatmap_targets_f32(float* out, const float* coords, const float* vis, int
        // batch, int k, int grid, float sigma); out holds batch·k·grid² floats, coords batch·2k
        // and vis batch·k (checked).
        unsafe { l.launch(launch_cfg::flat(batch * k * g2)) }.map_err(cuda_err)?;
    }
    Ok(Tensor::from_parts(out, batch, k * g2))
}

pub fn heatmap_loss(
    be: &CudaBackend,
    pred: &Tensor<CudaBackend>,
    target: &Tensor<CudaBackend>,
    vis: &Tensor<CudaBackend>,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    const OP: &str = "heatmap_loss";
    check::same_shape(OP, pred, target)?;
    let (batch, k) = vis.shape();
    if batch == 0 {
        return Err(Error::shape(OP, "empty batch"));
    }
    if pred.rows != batch {
        return Err(Error::shape(
            OP,
            format!("pred has {} rows, vis has {batch}", pred.rows),
        ));
    }
    if (k == 0 && pred.cols != 0) || (k > 0 && !pred.cols.is_multiple_of(k)) {
        return Err(Error::shape(
            OP,
            format!(
                "pred has {} columns, not a multiple of the {k} landmarks in vis",
                pred.cols
            ),
        ));
    }
    let per = pred.cols.checked_div(k).unwrap_or(0);
    to_int(OP, "pred", pred.len())?;
    let mut loss_rows = be.alloc_out(batch)?;
    let mut grad = be.alloc_out(pred.len())?;
    let [batch_i, k_i, per_i] = [batch, k, per].map(|v| v as i32);
    let f = be.function(FAMILY, "heatmap_loss_f32")?;
    let mut l = be.stream().launch_builder(&f);
    l.arg(&mut loss_rows)
        .arg(&mut grad)
        .arg(&pred.buf)
        .arg(&target.buf)
        .arg(&vis.buf)
        .arg(&batch_i)
        .arg(&k_i)
        .arg(&per_i);
    // SAFETY: heatmap_loss_f32(float* loss_rows, float* grad, const float* pred, const float*
    // target, const float* vis, int batch, int k, int grid2); loss_rows holds batch floats, grad,
    // pred and target batch·k·grid2 (checked), vis batch·k. With k = 0 the kernel only writes
    // zero losses.
    unsafe { l.launch(launch_cfg::row(batch, pred.cols)) }.map_err(cuda_err)?;
    let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
    Ok((loss, Tensor::from_parts(grad, batch, pred.cols)))
}
