//! The heatmap ops (`HeatmapOps`: Gaussian targets, the visibility-masked loss) on `CudaBackend`
//! against the f64 CPU reference.

use crate::gpu::{Pair, ELEMENTWISE, REDUCTION};
use convexgan::backend::prelude::*;
use rand::Rng;

#[test]
fn heatmap_targets_and_loss() {
    let Some(mut p) = Pair::new(19) else { return };
    let grid = 28;
    for (b, k) in [(1, 1), (13, 8), (37, 3)] {
        let (gc, cc) = p.rand_in(b, 2 * k, 0.0, grid as f64);
        let vis: Vec<f64> = (0..b * k)
            .map(|_| f64::from(p.rng.gen_bool(0.7) as u8))
            .collect();
        let (gv, cv) = p.put(&vis, b, k);
        let gt = p.g.heatmap_targets(&gc, &gv, grid, 1.0).unwrap();
        let ct = p.c.heatmap_targets(&cc, &cv, grid, 1.0).unwrap();
        p.close(
            &format!("heatmap_targets B={b} K={k}"),
            &gt,
            &ct,
            ELEMENTWISE,
        );
        let (gp, cp) = p.rand(b, k * grid * grid, 1.0);
        let (gl, gg) = p.g.heatmap_loss(&gp, &gt, &gv).unwrap();
        let (cl, cg) = p.c.heatmap_loss(&cp, &ct, &cv).unwrap();
        p.close(&format!("heatmap loss B={b} K={k}"), &gl, &cl, REDUCTION);
        p.close(&format!("heatmap grad B={b} K={k}"), &gg, &cg, REDUCTION);
    }
}
