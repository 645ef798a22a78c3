//! Reference matrix products `op(A)·op(B)` (cuBLAS on the GPU).
//!
//! `matrixmultiply` computes each product on one thread; a large enough product is cut into as
//! many pieces as the CPU backend's pool has threads (`cpu::parallel`), by output columns or rows,
//! whichever duplicates less packing. One pool for every op: with `matrixmultiply`'s own threads
//! beside rayon's, the two spun against each other on a 2-core machine (a third of a `fmnist`
//! iteration in the scheduler, two threads slower than one). Every element of the product is still
//! one micro-kernel's sum over `k` in the same blocks, wherever its piece starts, so the result is
//! the same bits for any number of threads.

use std::any::TypeId;

use ndarray::{s, Array2, ArrayView2};
use rayon::prelude::*;

use super::{parallel, tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, Scalar, Tensor};
use crate::error::Result;

/// Below this many multiply-adds a product runs on the calling thread (a `fmnist` Q layer, 0.7 M,
/// is faster whole; a G or D layer, 15–130 M, gains from the split).
const MIN_PARALLEL_MACS: usize = 1 << 21;

/// Pieces start on multiples of this many rows or columns, the AVX-512 micro-kernel's tile, so
/// that a cut does not add a partly filled tile.
const TILE: usize = 32;

impl<T: Scalar> MatmulOps for Cpu<T> {
    fn matmul(
        &self,
        a: &Tensor<Cpu<T>>,
        trans_a: bool,
        b: &Tensor<Cpu<T>>,
        trans_b: bool,
    ) -> Result<Tensor<Cpu<T>>> {
        let (_, k, _) = check::matmul("matmul", a, trans_a, b, trans_b)?;
        let av = if trans_a { a.buf.t() } else { a.buf.view() };
        let bv = if trans_b { b.buf.t() } else { b.buf.view() };
        Ok(tensor(product(av, bv, k, parallel::threads())))
    }
}

/// `a·b` (`m × k` by `k × n`) in up to `threads` pieces run on the pool.
fn product<T: Scalar>(a: ArrayView2<T>, b: ArrayView2<T>, k: usize, threads: usize) -> Array2<T> {
    let (m, n) = (a.nrows(), b.ncols());
    let len = m * n;
    // The product is written into unfilled memory: with β = 0 `matrixmultiply` only stores to C
    // (its kernels must not read it), so the zeroing pass an `Array2::zeros` would make is saved.
    let mut out: Vec<T> = Vec::with_capacity(len);
    let c = SendPtr(out.as_mut_ptr());
    let macs = len.saturating_mul(k);
    // Cutting the columns repacks all of A in every piece, cutting the rows all of B.
    let by_cols = n >= m;
    let span = if by_cols { n } else { m };
    let per = span.div_ceil(threads.max(1)).next_multiple_of(TILE);
    // Piece `[s0, s0 + w)` of the cut dimension; the pieces' blocks of C are disjoint.
    let piece = |s0: usize, w: usize| {
        // SAFETY: the views' pointers and strides describe their elements; piece `s0` writes
        // only its own columns (rows) of the `m × n` row-major buffer `out` holds room for.
        unsafe {
            if by_cols {
                let bp = b.slice(s![.., s0..s0 + w]);
                gemm(m, k, w, &a, &bp, c.at(s0), n);
            } else {
                let ap = a.slice(s![s0..s0 + w, ..]);
                gemm(w, k, n, &ap, &b, c.at(s0 * n), n);
            }
        }
    };
    if threads <= 1 || macs < MIN_PARALLEL_MACS || per >= span {
        piece(0, span);
    } else {
        parallel::run(|| {
            (0..span)
                .into_par_iter()
                .step_by(per)
                .for_each(|s0| piece(s0, per.min(span - s0)))
        });
    }
    // SAFETY: every element of the `m × n` block was written by exactly one piece above (an
    // empty `k` included: `matrixmultiply` then stores zeros).
    unsafe { out.set_len(len) };
    Array2::from_shape_vec((m, n), out).expect("m × n elements")
}

/// The output's base pointer, shared by the pieces (each writes its own block).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
impl<T> SendPtr<T> {
    /// The pointer `offset` elements on (a method, so that closures capture the whole `SendPtr`).
    ///
    /// # Safety
    /// As [`pointer::add`].
    unsafe fn at(self, offset: usize) -> *mut T {
        self.0.add(offset)
    }
}
// SAFETY: the pieces write disjoint elements, and `product` waits for all of them.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// `C = A·B` through `matrixmultiply`'s f32 or f64 kernel, C row-major with row stride `rsc`.
///
/// # Safety
/// `c` must have room for `m` rows of `rsc` elements from which the `m × n` block is written.
unsafe fn gemm<T: Scalar>(
    m: usize,
    k: usize,
    n: usize,
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    c: *mut T,
    rsc: usize,
) {
    let (rsa, csa) = (a.strides()[0], a.strides()[1]);
    let (rsb, csb) = (b.strides()[0], b.strides()[1]);
    let rsc = rsc as isize;
    // One call for either width: the kernels differ only in the element type.
    macro_rules! call {
        ($gemm:path) => {
            $gemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr().cast(),
                rsa,
                csa,
                b.as_ptr().cast(),
                rsb,
                csb,
                0.0,
                c.cast(),
                rsc,
                1,
            )
        };
    }
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        call!(matrixmultiply::sgemm);
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        call!(matrixmultiply::dgemm);
    } else {
        unreachable!("Scalar is f32 or f64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claim the split rests on: every piece count gives the same bits as one piece.
    #[test]
    fn a_product_cut_into_pieces_is_the_same_bits_as_whole() {
        let fill = |r: usize, c: usize, seed: usize| {
            Array2::from_shape_fn((r, c), |(i, j)| {
                (((i * 31 + j * 17 + seed) % 101) as f32 - 50.0) / 7.0
            })
        };
        // Wide (cut by columns), tall (cut by rows), and through transposed views.
        for &(m, k, n) in &[(64, 300, 700), (700, 300, 64), (257, 129, 255)] {
            let a = fill(m, k, 1);
            let b = fill(k, n, 2);
            let bt = b.t().to_owned();
            let whole = product(a.view(), b.view(), k, 1);
            let want = a.dot(&b);
            let err = (&whole - &want).iter().fold(0f32, |e, d| e.max(d.abs()));
            assert!(err <= 1e-3 * want.iter().fold(1f32, |e, v| e.max(v.abs())));
            for pieces in [2, 3, 7] {
                let cut = product(a.view(), b.view(), k, pieces);
                assert!(cut
                    .iter()
                    .zip(&whole)
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
                let cut = product(a.view(), bt.t(), k, pieces);
                assert!(cut
                    .iter()
                    .zip(&whole)
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
            }
        }
    }
}
