//! The elementwise family (kernels/elementwise.cu): fills, accumulation, scaling, column concat/split, row gather, one-hot.

use crate::backend::*;
use crate::error::Result;

/// The elementwise family (kernels/elementwise.cu): data movement and the cheap arithmetic of
/// gradient accumulation. Their gradients are trivial (identity, scale, the inverse slicing), so
/// the family has no backward ops. `f64` arguments are rounded to [`Device::Elem`].
pub trait ElementwiseOps: Device {
    /// A `rows × cols` tensor of zeros (either may be 0).
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Self>>;
    /// A `rows × cols` tensor with every element `value`.
    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Self>>;
    /// `y ← y + alpha·x` in place (gradient accumulation). [`Error::Shape`]
    /// unless `x` has `y`'s shape.
    fn axpy(&self, y: &mut Tensor<Self>, alpha: f64, x: &Tensor<Self>) -> Result<()>;
    /// `alpha·x`, a new tensor of `x`'s shape.
    fn scale(&self, x: &Tensor<Self>, alpha: f64) -> Result<Tensor<Self>>;
    /// The columns of `parts` side by side, in order: `rows × Σ cols`. Builds `[z ‖ onehot(c)]` and
    /// `[f_t ‖ f_s]`. [`Error::Shape`] when `parts` is empty or the parts'
    /// row counts differ ([`check::concat_cols`]).
    fn concat_cols(&self, parts: &[&Tensor<Self>]) -> Result<Tensor<Self>>;
    /// Inverse of [`concat_cols`](Self::concat_cols): `widths.len()` tensors `x.rows() × widths[i]`,
    /// the consecutive column blocks of `x` (a width may be 0).
    /// [`Error::Shape`] unless the widths sum to `x.cols()`
    /// ([`check::split_cols`]).
    fn split_cols(&self, x: &Tensor<Self>, widths: &[usize]) -> Result<Vec<Tensor<Self>>>;
    /// Row `rows[i]` of `x` as row `i` of the result, `rows.len() × x.cols()` (rows may repeat).
    /// [`Error::Shape`] when an index is ≥ `x.rows()`.
    fn gather_rows(&self, x: &Tensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;
    /// `labels.len() × n` one-hot matrix: 1 at column `labels[i]` of row `i`, 0 elsewhere.
    /// [`Error::Shape`] when a label is ≥ `n`.
    fn onehot(&self, labels: &Indices<Self>, n: usize) -> Result<Tensor<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`ElementwiseOps::concat_cols`]: at least one part and one row count for all; returns that
    /// row count.
    pub fn concat_cols<B: Device>(op: &'static str, parts: &[&Tensor<B>]) -> Result<usize> {
        let Some(first) = parts.first() else {
            return Err(Error::shape(op, "no parts"));
        };
        let rows = first.rows();
        if let Some(p) = parts.iter().find(|p| p.rows() != rows) {
            return Err(Error::shape(
                op,
                format!("parts have {} and {} rows", rows, p.rows()),
            ));
        }
        Ok(rows)
    }

    /// [`ElementwiseOps::split_cols`]: the widths sum to `x.cols()`.
    pub fn split_cols<B: Device>(op: &'static str, x: &Tensor<B>, widths: &[usize]) -> Result<()> {
        let total: usize = widths.iter().sum();
        if total != x.cols() {
            return Err(Error::shape(
                op,
                format!("widths sum to {total}, tensor has {} columns", x.cols()),
            ));
        }
        Ok(())
    }
}
