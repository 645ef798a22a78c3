//! Reference for the convex family: Eq. 3's batched convex combination of dictionary rows, its
//! backward to G's logits, and the gather of real dictionary rows.

use super::Cpu;
use crate::backend::{ConvexOut, DictTensor, Indices, Scalar, Tensor};
use crate::error::Result;

pub fn convex_combine_fwd<T: Scalar>(
    logits: &Tensor<Cpu<T>>,
    dict_t: &DictTensor<Cpu<T>>,
    dict_s: &DictTensor<Cpu<T>>,
    rows: &Indices<Cpu<T>>,
) -> Result<ConvexOut<Cpu<T>>> {
    todo!(
        "{:?}{}{}{}",
        logits,
        dict_t.rows(),
        dict_s.rows(),
        rows.len()
    )
}

pub fn convex_combine_bwd<T: Scalar>(
    w: &Tensor<Cpu<T>>,
    d_f_t: &Tensor<Cpu<T>>,
    d_f_s: &Tensor<Cpu<T>>,
    dict_t: &DictTensor<Cpu<T>>,
    dict_s: &DictTensor<Cpu<T>>,
    rows: &Indices<Cpu<T>>,
) -> Result<Tensor<Cpu<T>>> {
    todo!(
        "{:?}{:?}{:?}{}{}{}",
        w,
        d_f_t,
        d_f_s,
        dict_t.rows(),
        dict_s.rows(),
        rows.len()
    )
}

pub fn dict_gather<T: Scalar>(
    dict: &DictTensor<Cpu<T>>,
    rows: &Indices<Cpu<T>>,
) -> Result<Tensor<Cpu<T>>> {
    todo!("{}{}", dict.rows(), rows.len())
}
