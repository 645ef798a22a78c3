//! Launch wrappers for kernels/heatmap.cu: Gaussian ground-truth heatmaps (*flat*) and Eq. 1's
//! landmark loss (*row*, one block per sample) followed by `sum_scaled_f32` for the batch mean.

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, Tensor};
use crate::error::Result;

impl HeatmapOps for CudaBackend {
    fn heatmap_targets(
        &self,
        coords: &Tensor<CudaBackend>,
        vis: &Tensor<CudaBackend>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "heatmap_targets";
        let (batch, k) = check::heatmap_targets(OP, coords, vis, grid, sigma)?;
        let g2 = grid * grid;
        let total = to_int(OP, "output", batch * k * g2)?;
        let mut out = be.alloc_out(batch * k * g2)?;
        if total > 0 {
            let [batch_i, k_i, grid_i] = [batch, k, grid].map(|v| v as i32);
            let sigma = sigma as f32;
            // SAFETY: out holds batch·k·grid² floats, coords batch·2k and vis batch·k (checked).
            unsafe {
                k::heatmap_targets_f32(
                    be,
                    launch_cfg::flat(batch * k * g2),
                    &mut out,
                    &coords.buf,
                    &vis.buf,
                    batch_i,
                    k_i,
                    grid_i,
                    sigma,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(out, batch, k * g2))
    }

    fn heatmap_loss(
        &self,
        pred: &Tensor<CudaBackend>,
        target: &Tensor<CudaBackend>,
        vis: &Tensor<CudaBackend>,
    ) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
        let be = self;
        const OP: &str = "heatmap_loss";
        let (batch, k, per) = check::heatmap_loss(OP, pred, target, vis)?;
        to_int(OP, "pred", pred.len())?;
        let mut loss_rows = be.alloc_out(batch)?;
        let mut grad = be.alloc_out(pred.len())?;
        let [batch_i, k_i, per_i] = [batch, k, per].map(|v| v as i32);
        // SAFETY: loss_rows holds batch floats, grad, pred and target batch·k·grid2 (checked), vis
        // batch·k. With k = 0 the kernel only writes zero losses.
        unsafe {
            k::heatmap_loss_f32(
                be,
                launch_cfg::row(batch, pred.cols),
                &mut loss_rows,
                &mut grad,
                &pred.buf,
                &target.buf,
                &vis.buf,
                batch_i,
                k_i,
                per_i,
            )
        }?;
        let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
        Ok((loss, Tensor::from_parts_unchecked(grad, batch, pred.cols)))
    }
}
