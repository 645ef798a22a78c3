//! The layers ops (`LayerOps`: bias + activation, its backward, column sums, BatchNorm1d) on
//! `CudaBackend` against the f64 CPU reference.

use crate::gpu::{Pair, ELEMENTWISE, REDUCTION, SHAPES};
use convexgan::backend::prelude::*;
use convexgan::backend::Activation;

const ACTS: [Activation; 3] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu(0.2),
];

#[test]
fn bias_act_fwd_and_act_bwd() {
    let Some(mut p) = Pair::new(9) else { return };
    for (r, c) in SHAPES {
        let (gx, cx) = p.rand(r, c, 1.0);
        let (gb, cb) = p.rand(1, c, 0.5);
        let (gdy, cdy) = p.rand(r, c, 1.0);
        for act in ACTS {
            for with_bias in [false, true] {
                let what = format!("bias_act_fwd {act:?} bias={with_bias} {r}×{c}");
                let gy =
                    p.g.bias_act_fwd(&gx, with_bias.then_some(&gb), act)
                        .unwrap();
                let cy =
                    p.c.bias_act_fwd(&cx, with_bias.then_some(&cb), act)
                        .unwrap();
                p.close(&what, &gy, &cy, ELEMENTWISE);
                p.close(
                    &format!("act_bwd {act:?} {r}×{c}"),
                    &p.g.act_bwd(&gy, &gdy, act).unwrap(),
                    &p.c.act_bwd(&cy, &cdy, act).unwrap(),
                    ELEMENTWISE,
                );
            }
        }
    }
}

#[test]
fn col_sum() {
    let Some(mut p) = Pair::new(10) else { return };
    for (r, c) in SHAPES {
        let (gx, cx) = p.rand(r, c, 1.0);
        p.close(
            &format!("col_sum {r}×{c}"),
            &p.g.col_sum(&gx).unwrap(),
            &p.c.col_sum(&cx).unwrap(),
            REDUCTION,
        );
    }
}

#[test]
fn batchnorm_train_infer_and_backward() {
    let Some(mut p) = Pair::new(11) else { return };
    for (r, c) in [(2, 5), (37, 53), (301, 259)] {
        // An offset mean checks the two-pass variance.
        let (gx, cx) = p.rand_in(r, c, 2.0, 4.0);
        let (gg, cg) = p.rand_in(1, c, 0.5, 1.5);
        let (gb, cb) = p.rand(1, c, 0.5);
        let (mut grm, mut crm) = p.rand(1, c, 0.1);
        let (mut grv, mut crv) = p.rand_in(1, c, 0.5, 1.5);
        let (gy, gcache) =
            p.g.batchnorm_fwd_train(&gx, &gg, &gb, &mut grm, &mut grv, 0.1, 1e-5)
                .unwrap();
        let (cy, ccache) =
            p.c.batchnorm_fwd_train(&cx, &cg, &cb, &mut crm, &mut crv, 0.1, 1e-5)
                .unwrap();
        let tag = format!("{r}×{c}");
        p.close(&format!("bn train y {tag}"), &gy, &cy, REDUCTION);
        p.close(
            &format!("bn train xhat {tag}"),
            &gcache.xhat,
            &ccache.xhat,
            REDUCTION,
        );
        p.close(
            &format!("bn train inv_std {tag}"),
            &gcache.inv_std,
            &ccache.inv_std,
            REDUCTION,
        );
        p.close(&format!("bn running_mean {tag}"), &grm, &crm, REDUCTION);
        p.close(&format!("bn running_var {tag}"), &grv, &crv, REDUCTION);
        p.close(
            &format!("bn infer {tag}"),
            &p.g.batchnorm_fwd_infer(&gx, &gg, &gb, &grm, &grv, 1e-5)
                .unwrap(),
            &p.c.batchnorm_fwd_infer(&cx, &cg, &cb, &crm, &crv, 1e-5)
                .unwrap(),
            ELEMENTWISE,
        );
        let (gdy, cdy) = p.rand(r, c, 1.0);
        let (gdx, gdg, gdb) = p.g.batchnorm_bwd(&gdy, &gcache, &gg).unwrap();
        let (cdx, cdg, cdb) = p.c.batchnorm_bwd(&cdy, &ccache, &cg).unwrap();
        p.close(&format!("bn bwd dx {tag}"), &gdx, &cdx, REDUCTION);
        p.close(&format!("bn bwd dgamma {tag}"), &gdg, &cdg, REDUCTION);
        p.close(&format!("bn bwd dbeta {tag}"), &gdb, &cdb, REDUCTION);
    }
}
