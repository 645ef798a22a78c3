//! The convex combination and the dictionary gather (`ConvexOps`, f32/bf16/f16 dictionaries) on
//! `CudaBackend` against the f64 CPU reference.

use crate::common::rand_labels;
use crate::gpu::{Pair, ELEMENTWISE, HALF_DICT, REDUCTION};
use convexgan::backend::cuda::convex::ConvexKernel;
use convexgan::backend::prelude::*;
use convexgan::backend::Precision;

#[test]
fn convex_combine_and_dict_gather() {
    let Some(mut p) = Pair::new(18) else { return };
    check_all(&mut p);
}

/// Version 2 of the convex kernels on the same cases and at the same tolerances, plus widths that
/// take its 16-byte path for every precision (multiples of 8) and span several column tiles. The
/// device is shared by the tests of this binary, so version 1 is restored at the end (a test
/// running meanwhile sees version 2, which must pass the same checks).
#[test]
fn convex_v2_combine_and_dict_gather() {
    let Some(mut p) = Pair::new(19) else { return };
    p.g.set_convex_kernel(ConvexKernel::V2);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_all(&mut p)));
    p.g.set_convex_kernel(ConvexKernel::V1);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn check_all(p: &mut Pair) {
    for precision in [Precision::F32, Precision::Bf16, Precision::F16] {
        let tol = if precision == Precision::F32 {
            REDUCTION
        } else {
            HALF_DICT
        };
        for (b, ns, d_t, d_s) in [
            (1, 3, 5, 7),
            (37, 30, 129, 65),
            (67, 100, 257, 300),
            (64, 100, 1024, 1032),
        ] {
            let total_rows = 3 * ns + 11;
            let (gdt, cdt) = p.dict(total_rows, d_t, precision);
            let (gds, cds) = p.dict(total_rows, d_s, precision);
            let rows = rand_labels(&mut p.rng, b * ns, total_rows);
            let (gr, cr) = p.idx(&rows);
            let (glog, clog) = p.rand(b, 2 * ns, 2.0);
            let tag = format!("{} B={b} Ns={ns}", precision.name());
            let g = p.g.convex_combine_fwd(&glog, &gdt, &gds, &gr).unwrap();
            let c = p.c.convex_combine_fwd(&clog, &cdt, &cds, &cr).unwrap();
            p.close(&format!("convex fwd f_t {tag}"), &g.f_t, &c.f_t, tol);
            p.close(&format!("convex fwd f_s {tag}"), &g.f_s, &c.f_s, tol);
            p.close(&format!("convex fwd w {tag}"), &g.w, &c.w, REDUCTION);
            let (gdft, cdft) = p.rand(b, d_t, 1.0);
            let (gdfs, cdfs) = p.rand(b, d_s, 1.0);
            p.close(
                &format!("convex bwd {tag}"),
                &p.g.convex_combine_bwd(&g.w, &gdft, &gdfs, &gdt, &gds, &gr)
                    .unwrap(),
                &p.c.convex_combine_bwd(&c.w, &cdft, &cdfs, &cdt, &cds, &cr)
                    .unwrap(),
                tol,
            );
            p.close(
                &format!("dict_gather {tag}"),
                &p.g.dict_gather(&gdt, &gr).unwrap(),
                &p.c.dict_gather(&cdt, &cr).unwrap(),
                ELEMENTWISE,
            );
        }
    }
}
