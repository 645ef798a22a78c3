//! Reference for the heatmap family: Gaussian ground-truth landmark heatmaps and Eq. 1's loss.

use ndarray::Array2;

use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, Scalar, Tensor};
use crate::error::Result;

/// A mean loss (`1 × 1`) and its gradient.
type LossGrad<T> = (Tensor<Cpu<T>>, Tensor<Cpu<T>>);

impl<T: Scalar> HeatmapOps for Cpu<T> {
    fn heatmap_targets(
        &self,
        coords: &Tensor<Cpu<T>>,
        vis: &Tensor<Cpu<T>>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<Cpu<T>>> {
        const OP: &str = "heatmap_targets";
        let (batch, k) = check::heatmap_targets(OP, coords, vis, grid, sigma)?;
        let g2 = grid * grid;
        let inv_two_s2 = T::of(1.0 / (2.0 * sigma * sigma));
        let mut out = Array2::<T>::zeros((batch, k * g2));
        for b in 0..batch {
            for l in 0..k {
                // Visibility is 0/1 (METHOD.md §2); anything non-zero counts as visible.
                if vis.buf[[b, l]] == T::zero() {
                    continue;
                }
                let x = coords.buf[[b, 2 * l]];
                let y = coords.buf[[b, 2 * l + 1]];
                for i in 0..grid {
                    let dy = T::of(i as f64) - y;
                    for j in 0..grid {
                        let dx = T::of(j as f64) - x;
                        out[[b, l * g2 + i * grid + j]] = (-(dx * dx + dy * dy) * inv_two_s2).exp();
                    }
                }
            }
        }
        Ok(tensor(out))
    }

    fn heatmap_loss(
        &self,
        pred: &Tensor<Cpu<T>>,
        target: &Tensor<Cpu<T>>,
        vis: &Tensor<Cpu<T>>,
    ) -> Result<LossGrad<T>> {
        const OP: &str = "heatmap_loss";
        let (batch, k, per) = check::heatmap_loss(OP, pred, target, vis)?;
        let inv_b = T::one() / T::of(batch as f64);
        let two = T::of(2.0);
        let mut loss = T::zero();
        let mut grad = Array2::<T>::zeros((batch, pred.cols));
        for b in 0..batch {
            for l in 0..k {
                let v = vis.buf[[b, l]];
                if v == T::zero() {
                    continue;
                }
                for c in l * per..(l + 1) * per {
                    let r = pred.buf[[b, c]] - target.buf[[b, c]];
                    loss += v * r * r;
                    grad[[b, c]] = two * v * r * inv_b;
                }
            }
        }
        Ok((
            tensor(Array2::from_elem((1, 1), loss * inv_b)),
            tensor(grad),
        ))
    }
}
