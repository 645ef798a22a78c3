//! Launch wrappers for kernels/layers.cu: bias + activation and its backward, column sums,
//! BatchNorm1d (training forward, inference forward, backward).

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, Activation, BnCache, Tensor};
use crate::error::Result;

/// The kernels' `act` code and slope, for an activation [`check::activation`] accepted.
fn act_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(a) => (2, a as f32),
    }
}

impl LayerOps for CudaBackend {
    fn bias_act_fwd(
        &self,
        x: &Tensor<CudaBackend>,
        bias: Option<&Tensor<CudaBackend>>,
        act: Activation,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "bias_act_fwd";
        check::bias_act_fwd(OP, x, bias, act)?;
        let (code, alpha) = act_code(act);
        let n = x.len();
        to_int(OP, "x", n)?;
        let mut y = be.alloc_out(n)?;
        if n > 0 {
            let (rows, cols) = (x.rows as i32, x.cols as i32);
            // SAFETY: y and x hold rows·cols floats, bias is null or 1 × cols (checked).
            unsafe {
                k::bias_act_fwd_f32(
                    be,
                    launch_cfg::flat(n),
                    &mut y,
                    &x.buf,
                    bias.map(|b| &b.buf),
                    rows,
                    cols,
                    code,
                    alpha,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(y, x.rows, x.cols))
    }

    fn act_bwd(
        &self,
        y: &Tensor<CudaBackend>,
        dy: &Tensor<CudaBackend>,
        act: Activation,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "act_bwd";
        check::act_bwd(OP, y, dy, act)?;
        let (code, alpha) = act_code(act);
        let n = y.len();
        let n_i = to_int(OP, "y", n)?;
        let mut dx = be.alloc_out(n)?;
        if n > 0 {
            // SAFETY: all three hold n floats (same shape checked).
            unsafe {
                k::act_bwd_f32(
                    be,
                    launch_cfg::flat(n),
                    &mut dx,
                    &y.buf,
                    &dy.buf,
                    n_i,
                    code,
                    alpha,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(dx, y.rows, y.cols))
    }

    fn col_sum(&self, x: &Tensor<CudaBackend>) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "col_sum";
        to_int(OP, "x", x.len())?;
        if x.rows == 0 || x.cols == 0 {
            return Ok(Tensor::from_parts_unchecked(
                be.alloc_zeros(x.cols)?,
                1,
                x.cols,
            ));
        }
        let mut out = be.alloc_out(x.cols)?;
        let (rows, cols) = (x.rows as i32, x.cols as i32);
        // SAFETY: out holds cols floats, x rows·cols; the col shape (blockDim (32, 8)) the kernel's
        // shared memory is sized for.
        unsafe { k::col_sum_f32(be, launch_cfg::col(x.cols), &mut out, &x.buf, rows, cols) }?;
        Ok(Tensor::from_parts_unchecked(out, 1, x.cols))
    }

    fn batchnorm_fwd_train(
        &self,
        x: &Tensor<CudaBackend>,
        gamma: &Tensor<CudaBackend>,
        beta: &Tensor<CudaBackend>,
        running_mean: &mut Tensor<CudaBackend>,
        running_var: &mut Tensor<CudaBackend>,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tensor<CudaBackend>, BnCache<CudaBackend>)> {
        let be = self;
        const OP: &str = "batchnorm_fwd_train";
        let (b, c) = check::batchnorm_fwd_train(OP, x, gamma, beta, running_mean, running_var)?;
        to_int(OP, "x", x.len())?;
        let mut y = be.alloc_out(b * c)?;
        let mut xhat = be.alloc_out(b * c)?;
        let mut inv_std = be.alloc_out(c)?;
        if c > 0 {
            let (rows, cols) = (b as i32, c as i32);
            let (momentum, eps) = (momentum as f32, eps as f32);
            // SAFETY: y, xhat and x hold rows·cols floats, the other five cols (checked); rows ≥ 2;
            // col shape as the kernel's shared memory assumes.
            unsafe {
                k::bn_fwd_train_f32(
                    be,
                    launch_cfg::col(c),
                    &mut y,
                    &mut xhat,
                    &mut inv_std,
                    &mut running_mean.buf,
                    &mut running_var.buf,
                    &x.buf,
                    &gamma.buf,
                    &beta.buf,
                    rows,
                    cols,
                    momentum,
                    eps,
                )
            }?;
        }
        Ok((
            Tensor::from_parts_unchecked(y, b, c),
            BnCache {
                xhat: Tensor::from_parts_unchecked(xhat, b, c),
                inv_std: Tensor::from_parts_unchecked(inv_std, 1, c),
            },
        ))
    }

    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<CudaBackend>,
        gamma: &Tensor<CudaBackend>,
        beta: &Tensor<CudaBackend>,
        running_mean: &Tensor<CudaBackend>,
        running_var: &Tensor<CudaBackend>,
        eps: f64,
    ) -> Result<Tensor<CudaBackend>> {
        let be = self;
        const OP: &str = "batchnorm_fwd_infer";
        check::batchnorm_params(OP, x, gamma, beta, running_mean, running_var)?;
        let n = x.len();
        to_int(OP, "x", n)?;
        let mut y = be.alloc_out(n)?;
        if n > 0 {
            let (rows, cols, eps) = (x.rows as i32, x.cols as i32, eps as f32);
            // SAFETY: y and x hold rows·cols floats, the four parameters cols each (checked).
            unsafe {
                k::bn_fwd_infer_f32(
                    be,
                    launch_cfg::flat(n),
                    &mut y,
                    &x.buf,
                    &gamma.buf,
                    &beta.buf,
                    &running_mean.buf,
                    &running_var.buf,
                    rows,
                    cols,
                    eps,
                )
            }?;
        }
        Ok(Tensor::from_parts_unchecked(y, x.rows, x.cols))
    }

    fn batchnorm_bwd(
        &self,
        dy: &Tensor<CudaBackend>,
        cache: &BnCache<CudaBackend>,
        gamma: &Tensor<CudaBackend>,
    ) -> Result<(
        Tensor<CudaBackend>,
        Tensor<CudaBackend>,
        Tensor<CudaBackend>,
    )> {
        let be = self;
        const OP: &str = "batchnorm_bwd";
        let (b, c) = check::batchnorm_bwd(OP, dy, cache, gamma)?;
        to_int(OP, "dy", dy.len())?;
        if b == 0 || c == 0 {
            return Ok((
                Tensor::from_parts_unchecked(be.alloc_zeros(0)?, b, c),
                Tensor::from_parts_unchecked(be.alloc_zeros(c)?, 1, c),
                Tensor::from_parts_unchecked(be.alloc_zeros(c)?, 1, c),
            ));
        }
        let mut dx = be.alloc_out(b * c)?;
        let mut dgamma = be.alloc_out(c)?;
        let mut dbeta = be.alloc_out(c)?;
        let (rows, cols) = (b as i32, c as i32);
        // SAFETY: dx, dy and xhat hold rows·cols floats, the other four cols (checked); col shape.
        unsafe {
            k::bn_bwd_f32(
                be,
                launch_cfg::col(c),
                &mut dx,
                &mut dgamma,
                &mut dbeta,
                &dy.buf,
                &cache.xhat.buf,
                &cache.inv_std.buf,
                &gamma.buf,
                rows,
                cols,
            )
        }?;
        Ok((
            Tensor::from_parts_unchecked(dx, b, c),
            Tensor::from_parts_unchecked(dgamma, 1, c),
            Tensor::from_parts_unchecked(dbeta, 1, c),
        ))
    }
}
