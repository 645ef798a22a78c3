//! The elementwise family (kernels/elementwise.cu): fills, accumulation, scaling, column concat/split, row gather, one-hot.

use crate::backend::*;
use crate::error::Result;

/// The elementwise family (kernels/elementwise.cu).
pub trait ElementwiseOps: Device {
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Self>>;
    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Self>>;
    /// `y ← y + alpha·x`.
    fn axpy(&self, y: &mut Tensor<Self>, alpha: f64, x: &Tensor<Self>) -> Result<()>;
    /// `alpha·x`.
    fn scale(&self, x: &Tensor<Self>, alpha: f64) -> Result<Tensor<Self>>;
    /// Columns of `parts` side by side; all parts have the same row count.
    fn concat_cols(&self, parts: &[&Tensor<Self>]) -> Result<Tensor<Self>>;
    /// Inverse of `concat_cols`: consecutive column blocks of the given widths (summing to `cols`).
    fn split_cols(&self, x: &Tensor<Self>, widths: &[usize]) -> Result<Vec<Tensor<Self>>>;
    /// `rows[i]`-th row of `x` for each `i`.
    fn gather_rows(&self, x: &Tensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;
    /// `labels.len() × n` one-hot matrix; a label ≥ n is an error.
    fn onehot(&self, labels: &Indices<Self>, n: usize) -> Result<Tensor<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// Returns the common row count.
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
