//! The matrix product through `MatmulOps` on `Cpu<f64>`: every transpose combination's forward
//! against the direct sum and the backward the nn layer uses against central finite differences.
//!
//! Tolerance for the finite-difference checks: h = 1e-6, relative error ≤ 1e-6 (the reasoning of
//! `layers::grad` holds here too: truncation ≈ 1e-12, rounding ≈ 1e-9, a missing term O(1)).

use crate::common::{assert_close, dot, fd_grad, rand_vec, rng};
use crate::reference::{be, down, up};
use convexgan::backend::prelude::*;

const H: f64 = 1e-6;
const TOL: f64 = 1e-6;
/// Forwards compared with a direct formula differ only by rounding.
const EXACT: f64 = 1e-12;

// ---- matmul --------------------------------------------------------------------------------------

#[test]
fn matmul_all_transpose_combinations() {
    let (m, k, n) = (3, 5, 4);
    for (seed, (ta, tb)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let mut g = rng(20 + seed as u64);
        // Stored shapes: op(A) is m×k, op(B) is k×n.
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        let a = rand_vec(&mut g, m * k, 1.0);
        let bm = rand_vec(&mut g, k * n, 1.0);
        let r = rand_vec(&mut g, m * n, 1.0);
        let fwd = |a: &[f64], bm: &[f64]| {
            down(
                &be()
                    .matmul(&up(a, ar, ac), ta, &up(bm, br, bc), tb)
                    .unwrap(),
            )
        };
        let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
        let bt = |p: usize, j: usize| if tb { bm[j * k + p] } else { bm[p * n + j] };
        let want: Vec<f64> = (0..m * n)
            .map(|ij| (0..k).map(|p| at(ij / n, p) * bt(p, ij % n)).sum())
            .collect();
        let what = format!("matmul ta={ta} tb={tb}");
        assert_close(&format!("{what} forward"), &fwd(&a, &bm), &want, EXACT);

        // The backward the nn layer uses: dop(A) = R·op(B)ᵀ, dop(B) = op(A)ᵀ·R, stored transposed
        // back when the operand was transposed.
        let (at_, bt_, rt) = (up(&a, ar, ac), up(&bm, br, bc), up(&r, m, n));
        let da = if ta {
            be().matmul(&bt_, tb, &rt, true).unwrap()
        } else {
            be().matmul(&rt, false, &bt_, !tb).unwrap()
        };
        let db = if tb {
            be().matmul(&rt, true, &at_, ta).unwrap()
        } else {
            be().matmul(&at_, !ta, &rt, false).unwrap()
        };
        assert_eq!(da.shape(), (ar, ac), "{what}: dA shape");
        assert_eq!(db.shape(), (br, bc), "{what}: dB shape");
        let fd_a = fd_grad(|av| dot(&r, &fwd(av, &bm)), &a, H);
        let fd_b = fd_grad(|bv| dot(&r, &fwd(&a, bv)), &bm, H);
        assert_close(&format!("{what} dA"), &down(&da), &fd_a, TOL);
        assert_close(&format!("{what} dB"), &down(&db), &fd_b, TOL);
    }
}
