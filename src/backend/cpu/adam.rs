//! Reference Adam update with bias correction (Kingma & Ba 2015, Algorithm 1).

use ndarray::Zip;
use rayon::prelude::*;

use super::{parallel, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, AdamHyper, Scalar, Tensor};
use crate::error::Result;

impl<T: Scalar> AdamOps for Cpu<T> {
    fn adam_step(
        &self,
        param: &mut Tensor<Cpu<T>>,
        grad: &Tensor<Cpu<T>>,
        m: &mut Tensor<Cpu<T>>,
        v: &mut Tensor<Cpu<T>>,
        h: &AdamHyper,
    ) -> Result<()> {
        check::adam_step("adam_step", param, grad, m, v, h)?;
        let b1 = T::of(h.beta1);
        let b2 = T::of(h.beta2);
        let one = T::one();
        // Bias corrections folded into the step size and epsilon, as the paper's "efficient" form would
        // change results slightly; we keep the textbook form so the reference is unambiguous.
        let c1 = T::of(1.0 - h.beta1.powi(h.step.min(i32::MAX as u64) as i32));
        let c2 = T::of(1.0 - h.beta2.powi(h.step.min(i32::MAX as u64) as i32));
        let lr = T::of(h.lr);
        let eps = T::of(h.eps);
        let update = |p: &mut T, g: T, m: &mut T, v: &mut T| {
            *m = b1 * *m + (one - b1) * g;
            *v = b2 * *v + (one - b2) * g * g;
            let mhat = *m / c1;
            let vhat = *v / c2;
            *p -= lr * mhat / (vhat.sqrt() + eps);
        };
        let n = param.buf.len();
        match (
            parallel::chunk_for(n),
            param.buf.as_slice_mut(),
            grad.buf.as_slice(),
            m.buf.as_slice_mut(),
            v.buf.as_slice_mut(),
        ) {
            // Each element on its own: split over the CPU threads, the same result for any split.
            (Some(chunk), Some(p), Some(g), Some(m), Some(v)) => parallel::run(|| {
                p.par_chunks_mut(chunk)
                    .zip(g.par_chunks(chunk))
                    .zip(m.par_chunks_mut(chunk))
                    .zip(v.par_chunks_mut(chunk))
                    .for_each(|(((p, g), m), v)| {
                        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                            update(p, g, m, v);
                        }
                    })
            }),
            _ => Zip::from(&mut param.buf)
                .and(&grad.buf)
                .and(&mut m.buf)
                .and(&mut v.buf)
                .for_each(|p, &g, m, v| update(p, g, m, v)),
        }
        Ok(())
    }
}
