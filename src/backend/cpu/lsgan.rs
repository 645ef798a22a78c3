//! Reference for the lsgan family: the discriminator's and generator's least-squares losses
//! (Eq. 4–5).

use super::Cpu;
use crate::backend::{GenLossOut, Indices, Scalar, Tensor};
use crate::error::Result;

pub fn lsgan_d_loss<T: Scalar>(
    d_out: &Tensor<Cpu<T>>,
    target: f64,
) -> Result<(Tensor<Cpu<T>>, Tensor<Cpu<T>>)> {
    todo!("{:?}{target}", d_out)
}

pub fn lsgan_g_loss<T: Scalar>(
    q_logits: &Tensor<Cpu<T>>,
    d_out: &Tensor<Cpu<T>>,
    labels: &Indices<Cpu<T>>,
    majority: usize,
    lambda: f64,
) -> Result<GenLossOut<Cpu<T>>> {
    todo!(
        "{:?}{:?}{}{majority}{lambda}",
        q_logits,
        d_out,
        labels.len()
    )
}
