//! Reference for the convex family: Eq. 3's batched convex combination of dictionary rows, its
//! backward to G's logits, and the gather of real dictionary rows.
//!
//! Dictionary values are widened from their storage precision (f32/bf16/f16) element by element
//! and every sum accumulates in the compute type `T` (METHOD.md §3: never narrower than f32).

use ndarray::Array2;

use super::losses::softmax_into;
use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, ConvexOut, DictTensor, HostRows, Indices, Scalar, Tensor};
use crate::error::{Error, Result};

fn check_indices(op: &'static str, rows: &[u32], n_rows: usize) -> Result<()> {
    if let Some((i, &r)) = rows.iter().enumerate().find(|(_, &r)| r as usize >= n_rows) {
        return Err(Error::shape(
            op,
            format!("rows[{i}] = {r} out of range for a dictionary of {n_rows} rows"),
        ));
    }
    Ok(())
}

/// Dictionary row `r`, widened to `T` into `out`. The storage precision is matched once per row
/// (not per element) so the loops over columns vectorise.
fn widen_row<T: Scalar>(dict: &HostRows, r: usize, out: &mut [T]) {
    let cols = out.len();
    let range = r * cols..(r + 1) * cols;
    match dict {
        HostRows::F32(v) => out
            .iter_mut()
            .zip(&v[range])
            .for_each(|(o, &x)| *o = T::of_f32(x)),
        HostRows::Bf16(v) => out
            .iter_mut()
            .zip(&v[range])
            .for_each(|(o, &x)| *o = T::of_f32(x.to_f32())),
        HostRows::F16(v) => out
            .iter_mut()
            .zip(&v[range])
            .for_each(|(o, &x)| *o = T::of_f32(x.to_f32())),
    }
}

/// `out[b] = Σ_k w[b, k] · dict[rows[b·N_s + k]]`.
fn combine<T: Scalar>(w: &Array2<T>, dict: &HostRows, cols: usize, rows: &[u32]) -> Array2<T> {
    let (batch, ns) = w.dim();
    let mut out = Array2::<T>::zeros((batch, cols));
    let mut row = vec![T::zero(); cols];
    for (b, mut acc) in out.rows_mut().into_iter().enumerate() {
        for k in 0..ns {
            let wk = w[[b, k]];
            widen_row(dict, rows[b * ns + k] as usize, &mut row);
            acc.iter_mut().zip(&row).for_each(|(a, &x)| *a += wk * x);
        }
    }
    out
}

/// `g[b, k] = <d_f[b], dict[rows[b·N_s + k]]>`: the gradient with respect to the convex weights.
fn weight_grad<T: Scalar>(
    d_f: &Array2<T>,
    dict: &HostRows,
    cols: usize,
    rows: &[u32],
    ns: usize,
) -> Array2<T> {
    let batch = d_f.nrows();
    let mut g = Array2::<T>::zeros((batch, ns));
    let mut row = vec![T::zero(); cols];
    for b in 0..batch {
        let df = d_f.row(b);
        for k in 0..ns {
            widen_row(dict, rows[b * ns + k] as usize, &mut row);
            let mut acc = T::zero();
            df.iter().zip(&row).for_each(|(&d, &x)| acc += d * x);
            g[[b, k]] = acc;
        }
    }
    g
}

impl<T: Scalar> ConvexOps for Cpu<T> {
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Cpu<T>>,
        dict_t: &DictTensor<Cpu<T>>,
        dict_s: &DictTensor<Cpu<T>>,
        rows: &Indices<Cpu<T>>,
    ) -> Result<ConvexOut<Cpu<T>>> {
        const OP: &str = "convex_combine_fwd";
        let batch = logits.rows;
        let ns = check::convex_batch(OP, batch, logits.cols, dict_t, dict_s, rows)?;
        check_indices(OP, &rows.buf, dict_t.rows)?;

        let mut w = Array2::<T>::zeros((batch, 2 * ns));
        for b in 0..batch {
            let z = logits.buf.row(b);
            let mut wr = w.row_mut(b);
            // The two streams get independent softmaxes over their own halves.
            for half in 0..2 {
                let zs: Vec<T> = z.iter().skip(half * ns).take(ns).copied().collect();
                let mut ws = vec![T::zero(); ns];
                softmax_into(&zs, &mut ws);
                for (k, v) in ws.into_iter().enumerate() {
                    wr[half * ns + k] = v;
                }
            }
        }
        let w_t = w.slice(ndarray::s![.., ..ns]).to_owned();
        let w_s = w.slice(ndarray::s![.., ns..]).to_owned();
        let f_t = combine(&w_t, &dict_t.buf, dict_t.cols, &rows.buf);
        let f_s = combine(&w_s, &dict_s.buf, dict_s.cols, &rows.buf);
        Ok(ConvexOut {
            f_t: tensor(f_t),
            f_s: tensor(f_s),
            w: tensor(w),
        })
    }

    fn convex_combine_bwd(
        &self,
        w: &Tensor<Cpu<T>>,
        d_f_t: &Tensor<Cpu<T>>,
        d_f_s: &Tensor<Cpu<T>>,
        dict_t: &DictTensor<Cpu<T>>,
        dict_s: &DictTensor<Cpu<T>>,
        rows: &Indices<Cpu<T>>,
    ) -> Result<Tensor<Cpu<T>>> {
        const OP: &str = "convex_combine_bwd";
        let batch = w.rows;
        let ns = check::convex_batch(OP, batch, w.cols, dict_t, dict_s, rows)?;
        check_indices(OP, &rows.buf, dict_t.rows)?;
        check::convex_grads(OP, batch, d_f_t, d_f_s, dict_t, dict_s)?;
        let g_t = weight_grad(&d_f_t.buf, &dict_t.buf, dict_t.cols, &rows.buf, ns);
        let g_s = weight_grad(&d_f_s.buf, &dict_s.buf, dict_s.cols, &rows.buf, ns);

        // Softmax backward per half: d_logit = w ⊙ (g − <w, g>).
        let mut d_logits = Array2::<T>::zeros((batch, 2 * ns));
        for b in 0..batch {
            for (half, g) in [&g_t, &g_s].into_iter().enumerate() {
                let off = half * ns;
                let mut wg = T::zero();
                for k in 0..ns {
                    wg += w.buf[[b, off + k]] * g[[b, k]];
                }
                for k in 0..ns {
                    d_logits[[b, off + k]] = w.buf[[b, off + k]] * (g[[b, k]] - wg);
                }
            }
        }
        Ok(tensor(d_logits))
    }

    fn dict_gather(
        &self,
        dict: &DictTensor<Cpu<T>>,
        rows: &Indices<Cpu<T>>,
    ) -> Result<Tensor<Cpu<T>>> {
        check_indices("dict_gather", &rows.buf, dict.rows)?;
        let cols = dict.cols;
        let mut out = Array2::<T>::zeros((rows.len, cols));
        let mut row = vec![T::zero(); cols];
        for (i, &r) in rows.buf.iter().enumerate() {
            widen_row(&dict.buf, r as usize, &mut row);
            out.row_mut(i)
                .iter_mut()
                .zip(&row)
                .for_each(|(o, &x)| *o = x);
        }
        Ok(tensor(out))
    }
}
