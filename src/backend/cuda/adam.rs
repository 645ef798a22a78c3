//! Launch wrapper for kernels/adam.cu: one bias-corrected Adam update, in place.

use super::{launch_cfg, to_int, CudaBackend};
use crate::backend::kernel_abi::launch as k;
use crate::backend::prelude::*;
use crate::backend::{check, AdamHyper, Tensor};
use crate::error::Result;

impl AdamOps for CudaBackend {
    fn adam_step(
        &self,
        param: &mut Tensor<CudaBackend>,
        grad: &Tensor<CudaBackend>,
        m: &mut Tensor<CudaBackend>,
        v: &mut Tensor<CudaBackend>,
        h: &AdamHyper,
    ) -> Result<()> {
        let be = self;
        const OP: &str = "adam_step";
        check::adam_step(OP, param, grad, m, v, h)?;
        let n = param.len();
        let n_i = to_int(OP, "param", n)?;
        if n == 0 {
            return Ok(());
        }
        // The bias corrections in f64 on the host, exactly as the CPU reference computes them; β^t
        // underflows to 0 long before t reaches i32::MAX.
        let t = h.step.min(i32::MAX as u64) as i32;
        let c1 = (1.0 - h.beta1.powi(t)) as f32;
        let c2 = (1.0 - h.beta2.powi(t)) as f32;
        let (lr, b1, b2, eps) = (h.lr as f32, h.beta1 as f32, h.beta2 as f32, h.eps as f32);
        // SAFETY: the four tensors are distinct (three are borrowed mutably) and hold n floats each
        // (same shapes checked).
        unsafe {
            k::adam_step_f32(
                be,
                launch_cfg::flat(n),
                &mut param.buf,
                &grad.buf,
                &mut m.buf,
                &mut v.buf,
                n_i,
                lr,
                b1,
                b2,
                eps,
                c1,
                c2,
            )
        }
    }
}
