//! The convex family (kernels/convex.cu): Eq. 3's convex combination of dictionary rows, its backward, and the gather of real rows.

use crate::backend::*;
use crate::error::Result;

/// The convex family (kernels/convex.cu): Phase 2's generated and real features (METHOD.md §4).
/// Dictionary values are widened from their storage precision element by element and every sum
/// accumulates in f32 or wider (METHOD.md §3).
pub trait ConvexOps: Device {
    /// Eq. 3 for a batch: `logits` is `B × 2N_s` (G's output), `rows` holds `B·N_s` global row
    /// indices (sample `b`'s rows at `b·N_s ..`), the same rows for both streams. With
    /// `w_t = softmax(logits[.., ..N_s])` and `w_s = softmax(logits[.., N_s..])` row by row,
    /// `f_t[b] = Σ_k w_t[b,k]·dict_t[rows[b·N_s + k]]` (`B × d_t`) and likewise `f_s` from `dict_s`
    /// (`B × d_s`); returns both and `w = [w_t | w_s]` ([`ConvexOut`]).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] when `logits` has no or an odd number of columns,
    /// the dictionaries' row counts differ, `rows.len() != B·N_s` ([`check::convex_batch`]), or an
    /// index is ≥ the dictionaries' row count (checked next). A backend may add limits of its own
    /// (the CUDA backend: one storage precision for both dictionaries, `N_s` within shared
    /// memory).
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<ConvexOut<Self>>;
    /// Gradient with respect to G's logits (the dictionaries are constants): from the forward's
    /// `w` (`B × 2N_s`) and the features' gradients `d_f_t` (`B × d_t`) and `d_f_s` (`B × d_s`),
    /// per half `d = w ⊙ (g − ⟨w, g⟩)` with `g[b,k] = ⟨d_f[b], dict[rows[b·N_s + k]]⟩`; returns
    /// `B × 2N_s`. `dict_t`, `dict_s` and `rows` are the forward's. Errors as the forward's,
    /// then [`Error::Shape`] for feature gradients of the wrong shape
    /// ([`check::convex_grads`]).
    fn convex_combine_bwd(
        &self,
        w: &Tensor<Self>,
        d_f_t: &Tensor<Self>,
        d_f_s: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<Tensor<Self>>;
    /// Dictionary rows `rows[i]`, widened to the compute type (real samples of Phase 2):
    /// `rows.len() × dict.cols()`. [`Error::Shape`] when an index is ≥
    /// `dict.rows()`.
    fn dict_gather(&self, dict: &DictTensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;
}

/// Operand checks of this family, shared by every backend (re-exported as `backend::check`).
pub mod check {
    #[allow(unused_imports)]
    use crate::backend::check::{same_shape, shape};
    use crate::backend::*;
    use crate::error::{Error, Result};

    /// [`ConvexOps::convex_combine_fwd`] and [`ConvexOps::convex_combine_bwd`], first: what they
    /// share: `weight_cols = 2·N_s`, dictionaries of the same row count, `B·N_s` row indices;
    /// returns `N_s`. The backend then checks the indices' range.
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

    /// [`ConvexOps::convex_combine_bwd`], last: the incoming feature gradients, `B × d_t` and
    /// `B × d_s`.
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
