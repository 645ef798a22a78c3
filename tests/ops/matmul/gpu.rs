//! The matrix product (`MatmulOps`, cuBLAS) on `CudaBackend` against the f64 CPU reference.

use crate::gpu::{Pair, REDUCTION};
use convexgan::backend::prelude::*;

#[test]
fn matmul_all_transposes() {
    let Some(mut p) = Pair::new(8) else { return };
    let (m, k, n) = (37, 129, 45);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        let (ga, ca) = p.rand(ar, ac, 1.0);
        let (gb, cb) = p.rand(br, bc, 1.0);
        p.close(
            &format!("matmul ta={ta} tb={tb}"),
            &p.g.matmul(&ga, ta, &gb, tb).unwrap(),
            &p.c.matmul(&ca, ta, &cb, tb).unwrap(),
            REDUCTION,
        );
    }
}
