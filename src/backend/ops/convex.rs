//! The convex family (kernels/convex.cu): Eq. 3's convex combination of dictionary rows, its backward, and the gather of real rows.

use crate::backend::*;
use crate::error::Result;

/// The convex family (kernels/convex.cu).
pub trait ConvexOps: Device {
    /// Eq. 3 for a batch: `logits` is `B × 2N_s` (G's output), `rows` holds `B·N_s` global row
    /// indices (sample `b`'s rows at `b·N_s ..`), the same rows for both streams.
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<ConvexOut<Self>>;
    /// Gradient with respect to G's logits (the dictionaries are constants).
    fn convex_combine_bwd(
        &self,
        w: &Tensor<Self>,
        d_f_t: &Tensor<Self>,
        d_f_s: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<Tensor<Self>>;
    /// Dictionary rows `rows[i]`, widened to the compute type (real samples of Phase 2).
    fn dict_gather(&self, dict: &DictTensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// What the convex forward and backward share: `weight_cols = 2·N_s`, dictionaries of the same
    /// row count, `B·N_s` row indices; returns `N_s`. The backend then checks the indices' range.
    pub fn convex_batch<B: Device>(
        op: &'static str,
        batch: usize,
        weight_cols: usize,
        dict_t: &DictTensor<B>,
        dict_s: &DictTensor<B>,
        rows: &Indices<B>,
    ) -> Result<usize> {
        if weight_cols == 0 || !weight_cols.is_multiple_of(2) {
            return Err(Error::shape(
                op,
                format!(
                    "logits/weights have {weight_cols} columns, expected a positive even 2·N_s"
                ),
            ));
        }
        let ns = weight_cols / 2;
        if dict_t.rows() != dict_s.rows() {
            return Err(Error::shape(
                op,
                format!(
                    "dict_t has {} rows but dict_s has {}: row i of both must come from one image",
                    dict_t.rows(),
                    dict_s.rows()
                ),
            ));
        }
        if rows.len() != batch * ns {
            return Err(Error::shape(
                op,
                format!(
                    "rows holds {} indices, expected B·N_s = {batch}·{ns} = {}",
                    rows.len(),
                    batch * ns
                ),
            ));
        }
        Ok(ns)
    }

    /// The backward's incoming feature gradients, `B × d_t` and `B × d_s`.
    pub fn convex_grads<B: Device>(
        op: &'static str,
        batch: usize,
        d_f_t: &Tensor<B>,
        d_f_s: &Tensor<B>,
        dict_t: &DictTensor<B>,
        dict_s: &DictTensor<B>,
    ) -> Result<()> {
        shape(op, "d_f_t", d_f_t, batch, dict_t.cols())?;
        shape(op, "d_f_s", d_f_s, batch, dict_s.cols())
    }
}
