//! Operand checks shared by every backend, so that an op fails with the same error variant and
//! message whichever backend runs it.
//!
//! Only what depends on nothing but shapes and arguments lives here. What depends on where the
//! data is stays with the backend: index ranges (a scan of the host values on the CPU, the maximum
//! recorded at upload on CUDA), the kernels' `int` limits and shared memory, one storage precision
//! for both dictionaries. Where a backend check comes between two of these, the op has two
//! functions here, to be called in the order their docs give, so that every backend reports the
//! same first error.

use super::{Device, Tensor};
use crate::error::{Error, Result};

pub fn same_shape<B: Device>(op: &'static str, a: &Tensor<B>, b: &Tensor<B>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(
            op,
            format!("{}×{} vs {}×{}", a.rows(), a.cols(), b.rows(), b.cols()),
        ));
    }
    Ok(())
}

pub fn shape<B: Device>(
    op: &'static str,
    what: &str,
    t: &Tensor<B>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if t.shape() != (rows, cols) {
        return Err(Error::shape(
            op,
            format!(
                "{what} is {}×{}, expected {rows}×{cols}",
                t.rows(),
                t.cols()
            ),
        ));
    }
    Ok(())
}

// ---- host <-> backend ----------------------------------------------------------------------------

/// `len` host values for a `rows × cols` tensor.
pub fn upload(op: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    if len != rows * cols {
        return Err(Error::shape(
            op,
            format!("{len} values for a {rows}×{cols} tensor"),
        ));
    }
    Ok(())
}

/// `len` host values for `n_rows` dictionary rows of width `cols`.
pub fn upload_dict(op: &'static str, len: usize, n_rows: usize, cols: usize) -> Result<()> {
    if len != n_rows * cols {
        return Err(Error::shape(
            op,
            format!("{len} values for {n_rows} rows of width {cols}"),
        ));
    }
    Ok(())
}

// The family checks live beside their traits (backend/ops/<family>.rs); re-exported here so every
// backend calls them by one path.
pub use super::ops::adam::check::*;
pub use super::ops::convex::check::*;
pub use super::ops::elementwise::check::*;
pub use super::ops::heatmap::check::*;
pub use super::ops::layers::check::*;
pub use super::ops::losses::check::*;
pub use super::ops::lsgan::check::*;
pub use super::ops::matmul::check::*;
