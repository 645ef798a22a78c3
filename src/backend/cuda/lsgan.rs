//! Launch wrappers for kernels/lsgan.cu: the discriminator's least-squares loss (*flat*) and the
//! generator's loss of Eq. 4 fused with the softmax of Q's logits (*row*), each followed by
//! `sum_scaled_f32` for the batch mean.

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, GenLossOut, Indices, Tensor};
use crate::error::Result;

/// `B` of a `B × 1` discriminator output, as the kernels' `int`.
fn batch_of(op: &'static str, d_out: &Tensor<CudaBackend>) -> Result<usize> {
    let batch = check::lsgan_batch(op, d_out)?;
    to_int(op, "d_out", batch)?;
    Ok(batch)
}

impl LsganOps for CudaBackend {
    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<CudaBackend>,
        target: f64,
    ) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
        let be = self;
        const OP: &str = "lsgan_d_loss";
        let batch = batch_of(OP, d_out)?;
        let mut loss_rows = be.alloc_out(batch)?;
        let mut grad = be.alloc_out(batch)?;
        let (target, n) = (target as f32, batch as i32);
        // SAFETY: all three hold n = B floats.
        unsafe {
            k::lsgan_d_f32(
                be,
                launch_cfg::flat(batch),
                &mut loss_rows,
                &mut grad,
                &d_out.buf,
                target,
                n,
            )
        }?;
        let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
        Ok((loss, Tensor::from_parts_unchecked(grad, batch, 1)))
    }

    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<CudaBackend>,
        d_out: &Tensor<CudaBackend>,
        labels: &Indices<CudaBackend>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<CudaBackend>> {
        let be = self;
        const OP: &str = "lsgan_g_loss";
        let batch = batch_of(OP, d_out)?;
        let classes = check::lsgan_g_loss(OP, batch, q_logits, labels, majority)?;
        be.check_indices(OP, labels, "label", classes, "classes")?;
        to_int(OP, "q_logits", q_logits.len())?;
        let mut loss_rows = be.alloc_out(batch)?;
        let mut d_q = be.alloc_out(batch * classes)?;
        let mut d_d = be.alloc_out(batch)?;
        let [rows_i, classes_i, majority_i] = [batch, classes, majority].map(|v| v as i32);
        let lambda = lambda as f32;
        // SAFETY: loss_rows, d_d_out, d_out hold B floats, the logits B·classes, the labels B values
        // below classes (checked).
        unsafe {
            k::lsgan_g_f32(
                be,
                launch_cfg::row(batch, classes),
                &mut loss_rows,
                &mut d_q,
                &mut d_d,
                &q_logits.buf,
                &d_out.buf,
                &labels.buf.slice,
                rows_i,
                classes_i,
                majority_i,
                lambda,
            )
        }?;
        let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
        Ok(GenLossOut {
            loss,
            d_q_logits: Tensor::from_parts_unchecked(d_q, batch, classes),
            d_d_out: Tensor::from_parts_unchecked(d_d, batch, 1),
        })
    }
}
