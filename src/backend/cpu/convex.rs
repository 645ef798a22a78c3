//! Reference for the convex family: Eq. 3's batched convex combination of dictionary rows, its
//! backward to G's logits, and the gather of real dictionary rows.
//!
//! Dictionary values are widened from their storage precision (f32/bf16/f16) element by element
//! and every sum accumulates in the compute type `T` (METHOD.md §3: never narrower than f32).

use ndarray::Array2;

use super::losses::softmax_into;
use super::{parallel, tensor, Cpu};
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

/// Dictionary row `r` in `T`: borrowed from the dictionary when it is stored in `T` (f32 rows,
/// f32 compute: no copy), else widened into `scratch` (whose length is the row's).
fn row<'a, T: Scalar>(dict: &'a HostRows, r: usize, scratch: &'a mut [T]) -> &'a [T] {
    if let HostRows::F32(v) = dict {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            let cols = scratch.len();
            return bytemuck::cast_slice(&v[r * cols..(r + 1) * cols]);
        }
    }
    widen_row(dict, r, scratch);
    scratch
}

/// Asks the CPU to start loading dictionary row `r` (f32 storage) into cache: rows are drawn at
/// random from a dictionary far larger than the caches, so each row would otherwise stall on
/// memory when its turn comes. A hint only; it changes no result.
#[inline]
fn prefetch_row(dict: &HostRows, r: usize, cols: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes: &[u8] = match dict {
            HostRows::F32(v) => bytemuck::cast_slice(&v[r * cols..(r + 1) * cols]),
            HostRows::Bf16(v) => bytemuck::cast_slice(&v[r * cols..(r + 1) * cols]),
            HostRows::F16(v) => bytemuck::cast_slice(&v[r * cols..(r + 1) * cols]),
        };
        for line in bytes.chunks(64) {
            // SAFETY: a prefetch of an address inside a live slice; it reads nothing and cannot fault.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    line.as_ptr().cast(),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (dict, r, cols);
}

/// Rows ahead of the one being combined whose loads are started early.
const PREFETCH_AHEAD: usize = 2;

/// Row `b` of a row-major matrix as a slice (tensors are in standard layout; a view that is not
/// is copied).
fn row_of<T: Scalar>(m: &Array2<T>, b: usize) -> std::borrow::Cow<'_, [T]> {
    let r = m.row(b);
    match r.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(r.to_vec()),
    }
}

/// `out[b] = Σ_k w[b, k] · dict[rows[b·N_s + k]]`, the terms added in the order of `k`. Rows of
/// the batch are independent, so they are spread over the CPU backend's threads.
fn combine<T: Scalar>(w: &Array2<T>, dict: &HostRows, cols: usize, rows: &[u32]) -> Array2<T> {
    let (batch, ns) = w.dim();
    let mut out = vec![T::zero(); batch * cols];
    parallel::for_rows(&mut out, cols, ns * cols, |first, chunk| {
        let mut scratch = vec![T::zero(); cols];
        for (i, acc) in chunk.chunks_mut(cols).enumerate() {
            let b = first + i;
            for k in 0..ns {
                if let Some(&next) = rows.get(b * ns + k + PREFETCH_AHEAD) {
                    prefetch_row(dict, next as usize, cols);
                }
                let wk = w[[b, k]];
                let x = row(dict, rows[b * ns + k] as usize, &mut scratch);
                acc.iter_mut().zip(x).for_each(|(a, &x)| *a += wk * x);
            }
        }
    });
    Array2::from_shape_vec((batch, cols), out).expect("batch × cols elements")
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
    let mut g = vec![T::zero(); batch * ns];
    parallel::for_rows(&mut g, ns, ns * cols, |first, chunk| {
        let mut scratch = vec![T::zero(); cols];
        for (i, gb) in chunk.chunks_mut(ns).enumerate() {
            let b = first + i;
            let df = row_of(d_f, b);
            for (k, gk) in gb.iter_mut().enumerate() {
                if let Some(&next) = rows.get(b * ns + k + PREFETCH_AHEAD) {
                    prefetch_row(dict, next as usize, cols);
                }
                *gk = parallel::dot(&df, row(dict, rows[b * ns + k] as usize, &mut scratch));
            }
        }
    });
    Array2::from_shape_vec((batch, ns), g).expect("batch × N_s elements")
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
        let mut out = vec![T::zero(); rows.len * cols];
        parallel::for_rows(&mut out, cols, cols, |first, chunk| {
            let mut scratch = vec![T::zero(); cols];
            for (i, o) in chunk.chunks_mut(cols).enumerate() {
                o.copy_from_slice(row(&dict.buf, rows.buf[first + i] as usize, &mut scratch));
            }
        });
        let out = Array2::from_shape_vec((rows.len, cols), out).expect("rows × cols elements");
        Ok(tensor(out))
    }
}
