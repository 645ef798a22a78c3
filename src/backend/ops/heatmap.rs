//! The heatmap family (kernels/heatmap.cu): Gaussian landmark targets and the heatmap loss of Eq. 1.

use crate::backend::*;
use crate::error::Result;

/// The heatmap family (kernels/heatmap.cu): Phase 1's landmark terms (METHOD.md §2). A row holds
/// `K` maps of `grid²` cells side by side: map `k` is columns `k·grid² …`, cell `(i, j)` (row `i`,
/// column `j`) at `k·grid² + i·grid + j`. `K = 0` (no landmarks) is valid.
pub trait HeatmapOps: Device {
    /// Gaussian ground truth (peak 1, `sigma` in cells) on a `grid × grid` map per landmark:
    /// `coords` is `B × 2K` (x, y in grid cells, column then row), `vis` is `B × K` (1 visible);
    /// invisible landmarks get an all-zero map. Output `B × K·grid²`, cell `(i, j)` of a visible
    /// landmark at `(x, y)` holding `exp(−((j − x)² + (i − y)²) / (2σ²))` (no normalisation). Any
    /// non-zero `vis` counts as visible.
    ///
    /// [`Error::Shape`] when `coords` is not `B × 2K`;
    /// [`Error::Invalid`] when `grid = 0` or `sigma` is not finite and > 0
    /// ([`check::heatmap_targets`]).
    fn heatmap_targets(
        &self,
        coords: &Tensor<Self>,
        vis: &Tensor<Self>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<Self>>;
    /// Eq. 1: `(1/B) Σ_b Σ_k v_{b,k} Σ_{ij} (M − M̂)²` and its gradient
    /// `2·v_{b,k}·(M̂ − M)/B` with respect to `pred` (`M̂`; 0 on the maps of invisible landmarks,
    /// whatever `pred` holds). `pred` and `target` are `B × K·grid²`, `vis` is `B × K` (used as a
    /// weight). Returns `(1 × 1, B × K·grid²)`. [`Error::Shape`] when `pred`
    /// and `target` differ in shape, `B = 0`, `pred` has other than `B` rows, or its columns are
    /// not a multiple of `K` ([`check::heatmap_loss`]).
    fn heatmap_loss(
        &self,
        pred: &Tensor<Self>,
        target: &Tensor<Self>,
        vis: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`HeatmapOps::heatmap_targets`]: `coords` of `B × 2K` against `vis`'s `B × K`, `grid ≥ 1`,
    /// `sigma` finite and > 0. Returns `(B, K)` from `vis`.
    pub fn heatmap_targets<B: Device>(
        op: &'static str,
        coords: &Tensor<B>,
        vis: &Tensor<B>,
        grid: usize,
        sigma: f64,
    ) -> Result<(usize, usize)> {
        let (batch, k) = vis.shape();
        shape(op, "coords", coords, batch, 2 * k)?;
        if grid == 0 {
            return Err(Error::invalid("heatmap grid", "must be at least 1 cell"));
        }
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(Error::invalid(
                "heatmap sigma",
                format!("{sigma} (must be finite and > 0)"),
            ));
        }
        Ok((batch, k))
    }

    /// [`HeatmapOps::heatmap_loss`]: returns `(B, K, grid²)`: `pred`'s columns are `K` maps of
    /// `grid²` cells each.
    pub fn heatmap_loss<B: Device>(
        op: &'static str,
        pred: &Tensor<B>,
        target: &Tensor<B>,
        vis: &Tensor<B>,
    ) -> Result<(usize, usize, usize)> {
        same_shape(op, pred, target)?;
        let (batch, k) = vis.shape();
        if batch == 0 {
            return Err(Error::shape(op, "empty batch"));
        }
        if pred.rows() != batch {
            return Err(Error::shape(
                op,
                format!("pred has {} rows, vis has {batch}", pred.rows()),
            ));
        }
        // K = 0 (a data set without landmarks) is valid with zero-width maps.
        let cols = pred.cols();
        let per = match cols.checked_div(k) {
            Some(per) if per * k == cols => per,
            None if cols == 0 => 0,
            _ => {
                return Err(Error::shape(
                    op,
                    format!("pred has {cols} columns, not a multiple of the {k} landmarks in vis"),
                ))
            }
        };
        Ok((batch, k, per))
    }
}
