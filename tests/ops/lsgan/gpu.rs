//! The LSGAN losses (`LsganOps`) on `CudaBackend` against the f64 CPU reference.

use crate::common::rand_labels;
use crate::gpu::{Pair, REDUCTION};
use convexgan::backend::prelude::*;

#[test]
fn lsgan_losses() {
    let Some(mut p) = Pair::new(17) else { return };
    for (b, classes) in [(1, 2), (37, 10), (259, 70)] {
        let (gd, cd) = p.rand(b, 1, 2.0);
        for target in [0.0, 1.0] {
            let (gl, gg) = p.g.lsgan_d_loss(&gd, target).unwrap();
            let (cl, cg) = p.c.lsgan_d_loss(&cd, target).unwrap();
            p.close(
                &format!("lsgan_d loss t={target} B={b}"),
                &gl,
                &cl,
                REDUCTION,
            );
            p.close(
                &format!("lsgan_d grad t={target} B={b}"),
                &gg,
                &cg,
                REDUCTION,
            );
        }
        let (gq, cq) = p.rand(b, classes, 3.0);
        let labels = rand_labels(&mut p.rng, b, classes);
        let (gl, cl) = p.idx(&labels);
        let majority = classes / 2;
        let g = p.g.lsgan_g_loss(&gq, &gd, &gl, majority, 1000.0).unwrap();
        let c = p.c.lsgan_g_loss(&cq, &cd, &cl, majority, 1000.0).unwrap();
        p.close(&format!("lsgan_g loss B={b}"), &g.loss, &c.loss, REDUCTION);
        p.close(
            &format!("lsgan_g d_q_logits B={b}"),
            &g.d_q_logits,
            &c.d_q_logits,
            REDUCTION,
        );
        p.close(
            &format!("lsgan_g d_d_out B={b}"),
            &g.d_d_out,
            &c.d_d_out,
            REDUCTION,
        );
    }
}
