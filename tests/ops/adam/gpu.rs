//! The Adam step (`AdamOps`) on `CudaBackend` against the f64 CPU reference.

use crate::gpu::{Pair, ELEMENTWISE};
use convexgan::backend::prelude::*;
use convexgan::backend::AdamHyper;

#[test]
fn adam_three_steps() {
    let Some(mut p) = Pair::new(12) else { return };
    let (r, c) = (67, 45);
    let (mut gp, mut cp) = p.rand(r, c, 1.0);
    let (mut gm, mut cm) = (p.g.zeros(r, c).unwrap(), p.c.zeros(r, c).unwrap());
    let (mut gv, mut cv) = (p.g.zeros(r, c).unwrap(), p.c.zeros(r, c).unwrap());
    for step in 1..=3 {
        let (gg, cg) = p.rand(r, c, 1.0);
        let h = AdamHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step,
        };
        p.g.adam_step(&mut gp, &gg, &mut gm, &mut gv, &h).unwrap();
        p.c.adam_step(&mut cp, &cg, &mut cm, &mut cv, &h).unwrap();
    }
    p.close("adam param", &gp, &cp, ELEMENTWISE);
    p.close("adam m", &gm, &cm, ELEMENTWISE);
    p.close("adam v", &gv, &cv, ELEMENTWISE);
}
