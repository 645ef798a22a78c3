//! Launch wrappers for kernels/losses.cu: row softmax, the classifier losses (CE, MSE on softmax,
//! focal, LDAM; one kernel, switched by `kind`) and the visibility BCE. Each loss is one *row*
//! launch writing per-row losses and the gradient, then `sum_scaled_f32` for the batch mean.

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, ClassLoss, Indices, Tensor};
use crate::error::Result;

type LossGrad = (Tensor<CudaBackend>, Tensor<CudaBackend>);

impl LossOps for CudaBackend {
    fn softmax_rows(&self, x: &Tensor<CudaBackend>) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "softmax_rows";
        let n = to_int(OP, "x", x.len())?;
        let mut y = be.alloc_out(x.len())?;
        if n > 0 {
            let [rows, cols] = [x.rows, x.cols].map(|v| v as i32);
            // SAFETY: both hold rows·cols floats; one block per row of a multiple of 32 threads.
            unsafe {
                k::softmax_rows_f32(
                    be,
                    launch_cfg::row(x.rows, x.cols),
                    &mut y,
                    &x.buf,
                    rows,
                    cols,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(y, x.rows, x.cols))
    }

    fn class_loss(
        &self,
        logits: &Tensor<CudaBackend>,
        labels: &Indices<CudaBackend>,
        loss: ClassLoss<'_, CudaBackend>,
    ) -> Result<LossGrad> {
        let be = self;
        const OP: &str = "class_loss";
        let (b, n) = check::class_loss(OP, logits, labels)?;
        be.check_indices(OP, labels, "label", n, "classes")?;
        to_int(OP, "logits", logits.len())?;
        check::class_loss_params(OP, loss, n)?;
        let (kind, gamma, s, margins) = match loss {
            ClassLoss::Ce => (0i32, 0.0f32, 0.0f32, None),
            ClassLoss::Mse => (1, 0.0, 0.0, None),
            ClassLoss::Focal { gamma } => (2, gamma as f32, 0.0, None),
            ClassLoss::Ldam { margins, s } => (3, 0.0, s as f32, Some(margins)),
        };
        let mut loss_rows = be.alloc_out(b)?;
        let mut grad = be.alloc_out(b * n)?;
        let [rows_i, cols_i] = [b, n].map(|v| v as i32);
        // SAFETY: loss_rows holds b floats, dlogits and logits b·n, labels b values below n
        // (checked), margins 1 × n for LDAM (checked) and null otherwise, which the kernel then never
        // reads.
        unsafe {
            k::class_loss_f32(
                be,
                launch_cfg::row(b, n),
                &mut loss_rows,
                &mut grad,
                &logits.buf,
                &labels.buf.slice,
                margins.map(|m| &m.buf),
                rows_i,
                cols_i,
                kind,
                gamma,
                s,
            )
        }?;
        let loss = be.sum_scaled(&loss_rows, b, 1.0 / b as f64)?;
        Ok((loss, Tensor::from_parts_unchecked(grad, b, n)))
    }

    fn bce_logits(
        &self,
        logits: &Tensor<CudaBackend>,
        targets: &Tensor<CudaBackend>,
    ) -> Result<LossGrad> {
        let be = self;
        const OP: &str = "bce_logits";
        let (b, n) = check::bce_logits(OP, logits, targets)?;
        to_int(OP, "logits", logits.len())?;
        let mut loss_rows = be.alloc_out(b)?;
        let mut grad = be.alloc_out(b * n)?;
        let [rows_i, cols_i] = [b, n].map(|v| v as i32);
        // SAFETY: loss_rows holds b floats, the others b·n (same shape checked).
        unsafe {
            k::bce_logits_f32(
                be,
                launch_cfg::row(b, n),
                &mut loss_rows,
                &mut grad,
                &logits.buf,
                &targets.buf,
                rows_i,
                cols_i,
            )
        }?;
        let loss = be.sum_scaled(&loss_rows, b, 1.0 / b as f64)?;
        Ok((loss, Tensor::from_parts_unchecked(grad, b, n)))
    }
}
