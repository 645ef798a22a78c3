//! Reference for the heatmap family: Gaussian ground-truth landmark heatmaps and Eq. 1's loss.

use super::Cpu;
use crate::backend::{Scalar, Tensor};
use crate::error::Result;

pub fn heatmap_targets<T: Scalar>(
    coords: &Tensor<Cpu<T>>,
    vis: &Tensor<Cpu<T>>,
    grid: usize,
    sigma: f64,
) -> Result<Tensor<Cpu<T>>> {
    todo!("{:?}{:?}{grid}{sigma}", coords, vis)
}

pub fn heatmap_loss<T: Scalar>(
    pred: &Tensor<Cpu<T>>,
    target: &Tensor<Cpu<T>>,
    vis: &Tensor<Cpu<T>>,
) -> Result<(Tensor<Cpu<T>>, Tensor<Cpu<T>>)> {
    todo!("{:?}{:?}{:?}", pred, target, vis)
}
