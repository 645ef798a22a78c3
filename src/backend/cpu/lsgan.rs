//! Reference for the lsgan family: the discriminator's and generator's least-squares losses
//! (Eq. 4–5).

use ndarray::Array2;

use super::losses::softmax_into;
use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, GenLossOut, Indices, Scalar, Tensor};
use crate::error::{Error, Result};

/// A mean loss (`1 × 1`) and its gradient.
type LossGrad<T> = (Tensor<Cpu<T>>, Tensor<Cpu<T>>);

impl<T: Scalar> LsganOps for Cpu<T> {
    fn lsgan_d_loss(&self, d_out: &Tensor<Cpu<T>>, target: f64) -> Result<LossGrad<T>> {
        let batch = check::lsgan_batch("lsgan_d_loss", d_out)?;
        let t = T::of(target);
        let inv_b = T::one() / T::of(batch as f64);
        let two = T::of(2.0);
        let mut loss = T::zero();
        let grad = d_out.buf.mapv(|d| {
            let r = t - d;
            loss += r * r;
            -two * r * inv_b
        });
        Ok((
            tensor(Array2::from_elem((1, 1), loss * inv_b)),
            tensor(grad),
        ))
    }

    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<Cpu<T>>,
        d_out: &Tensor<Cpu<T>>,
        labels: &Indices<Cpu<T>>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<Cpu<T>>> {
        const OP: &str = "lsgan_g_loss";
        let batch = check::lsgan_batch(OP, d_out)?;
        let classes = check::lsgan_g_loss(OP, batch, q_logits, labels, majority)?;
        if let Some((i, &c)) = labels
            .buf
            .iter()
            .enumerate()
            .find(|(_, &c)| c as usize >= classes)
        {
            return Err(Error::shape(
                OP,
                format!("labels[{i}] = {c} out of range for {classes} classes"),
            ));
        }

        let one = T::one();
        let two = T::of(2.0);
        let lam = T::of(lambda);
        let inv_b = one / T::of(batch as f64);
        let mut total = T::zero();
        let mut d_q_logits = Array2::<T>::zeros((batch, classes));
        let mut d_d_out = Array2::<T>::zeros((batch, 1));
        let mut q = vec![T::zero(); classes];
        let mut g = vec![T::zero(); classes];
        for b in 0..batch {
            let z: Vec<T> = q_logits.buf.row(b).to_vec();
            softmax_into(&z, &mut q);
            let cb = labels.buf[b] as usize;
            // The target class is pushed to 0 and every other class except the majority to 1; when
            // c_b is the majority itself both exclusions coincide and the sum skips just that class.
            let mut row_loss = T::zero();
            for j in 0..classes {
                g[j] = if j == cb {
                    row_loss += q[j] * q[j];
                    two * q[j]
                } else if j == majority {
                    T::zero()
                } else {
                    let r = one - q[j];
                    row_loss += r * r;
                    -two * r
                };
            }
            let r = one - d_out.buf[[b, 0]];
            row_loss += lam * r * r;
            total += row_loss;
            d_d_out[[b, 0]] = -two * lam * r * inv_b;

            // Softmax Jacobian: d_z = q ⊙ (g − <q, g>).
            let qg: T = q.iter().zip(&g).map(|(&a, &c)| a * c).sum();
            for j in 0..classes {
                d_q_logits[[b, j]] = q[j] * (g[j] - qg) * inv_b;
            }
        }
        Ok(GenLossOut {
            loss: tensor(Array2::from_elem((1, 1), total * inv_b)),
            d_q_logits: tensor(d_q_logits),
            d_d_out: tensor(d_d_out),
        })
    }
}
