//! Launch wrappers for kernels/lsgan.cu: the discriminator's least-squares loss (*flat*) and the
//! generator's loss of Eq. 4 fused with the softmax of Q's logits (*row*), each followed by
//! `sum_scaled_f32` for the batch mean.

use cudarc::driver::PushKernelArg;

use super::{cuda_err, launch_cfg, to_int, CudaBackend};
use crate::backend::{check, GenLossOut, Indices, Tensor};
use crate::error::Result;

const FAMILY: &str = "lsgan";

/// `B` of a `B × 1` discriminator output, as the kernels' `int`.
fn batch_of(op: &'static str, d_out: &Tensor<CudaBackend>) -> Result<usize> {
    let batch = check::lsgan_batch(op, d_out)?;
    to_int(op, "d_out", batch)?;
    Ok(batch)
}

pub fn lsgan_d_loss(
    be: &CudaBackend,
    d_out: &Tensor<CudaBackend>,
    target: f64,
) -> Result<(Tensor<CudaBackend>, Tensor<CudaBackend>)> {
    const OP: &str = "lsgan_d_loss";
    let batch = batch_of(OP, d_out)?;
    let mut loss_rows = be.alloc_out(batch)?;
    let mut grad = be.alloc_out(batch)?;
    let (target, n) = (target as f32, batch as i32);
    let f = be.function(FAMILY, "lsgan_d_f32")?;
    let mut l = be.stream().launch_builder(&f);
    l.arg(&mut loss_rows)
        .arg(&mut grad)
        .arg(&d_out.buf)
        .arg(&target)
        .arg(&n);
    // SAFETY: lsgan_d_f32(float* loss_rows, float* grad, const float* d_out, float target, int n);
    // all three hold n = B floats.
    unsafe { l.launch(launch_cfg::flat(batch)) }.map_err(cuda_err)?;
    let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
    Ok((loss, Tensor::from_parts(grad, batch, 1)))
}

pub fn lsgan_g_loss(
    be: &CudaBackend,
    q_logits: &Tensor<CudaBackend>,
    d_out: &Tensor<CudaBackend>,
    labels: &Indices<CudaBackend>,
    majority: usize,
    lambda: f64,
) -> Result<GenLossOut<CudaBackend>> {
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
    let f = be.function(FAMILY, "lsgan_g_f32")?;
    let mut l = be.stream().launch_builder(&f);
    l.arg(&mut loss_rows)
        .arg(&mut d_q)
        .arg(&mut d_d)
        .arg(&q_logits.buf)
        .arg(&d_out.buf)
        .arg(labels.buf.slice.as_ref())
        .arg(&rows_i)
        .arg(&classes_i)
        .arg(&majority_i)
        .arg(&lambda);
    // SAFETY: lsgan_g_f32(float* loss_rows, float* d_q_logits, float* d_d_out, const float*
    // q_logits, const float* d_out, const unsigned* labels, int rows, int classes, int majority,
    // float lambda); loss_rows, d_d_out, d_out hold B floats, the logits B·classes, the labels B
    // values below classes (checked).
    unsafe { l.launch(launch_cfg::row(batch, classes)) }.map_err(cuda_err)?;
    let loss = be.sum_scaled(&loss_rows, batch, 1.0 / batch as f64)?;
    Ok(GenLossOut {
        loss,
        d_q_logits: Tensor::from_parts(d_q, batch, classes),
        d_d_out: Tensor::from_parts(d_d, batch, 1),
    })
}
