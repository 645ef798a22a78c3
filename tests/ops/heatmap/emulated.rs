//! The heatmap kernels (`kernels/heatmap.cu`: Gaussian targets, the visibility-masked loss) run
//! on the host emulation against the f64 CPU reference.

use crate::common::{assert_close, rng};
use crate::emulation::{
    check, dim, down, flat_configs, kernel, launch, loss_of, nan, rand_f32, up, Ref, ROW_BLOCKS,
    TOL_ELEMENTWISE, TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::emu;
use convexgan::backend::prelude::*;
use rand::Rng;

#[test]
fn heatmap_targets_and_loss() {
    let mut r = rng(14);
    let targets: emu::heatmap_targets_f32 = kernel("heatmap_targets_f32");
    let loss: emu::heatmap_loss_f32 = kernel("heatmap_loss_f32");
    for (batch, k, grid, sigma) in [
        (1usize, 1usize, 5usize, 1.0f32),
        (3, 8, 28, 1.0),
        (2, 3, 13, 1.7),
    ] {
        let g2 = grid * grid;
        let coords: Vec<f32> = (0..batch * 2 * k)
            .map(|_| r.gen_range(-1.0f32..grid as f32))
            .collect();
        let mut vis: Vec<f32> = (0..batch * k).map(|_| r.gen_range(0..2) as f32).collect();
        vis[0] = 1.0;
        let want = down(
            &Ref::new()
                .heatmap_targets(
                    &up(&coords, batch, 2 * k),
                    &up(&vis, batch, k),
                    grid,
                    sigma as f64,
                )
                .unwrap(),
        );
        let n = batch * k * g2;
        for (g, b) in flat_configs(n) {
            let mut out = nan(n);
            launch(|| unsafe {
                targets(
                    g,
                    b,
                    0,
                    out.as_mut_ptr(),
                    coords.as_ptr(),
                    vis.as_ptr(),
                    batch as i32,
                    k as i32,
                    grid as i32,
                    sigma,
                )
            });
            check(
                &format!("heatmap_targets_f32 {batch}×{k}×{grid}²"),
                &out,
                &want,
                TOL_ELEMENTWISE,
            );
        }

        let target: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        let pred = rand_f32(&mut r, n, 1.0);
        let (ref_loss, ref_grad) = Ref::new()
            .heatmap_loss(
                &up(&pred, batch, k * g2),
                &up(&target, batch, k * g2),
                &up(&vis, batch, k),
            )
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut grad) = (nan(batch), nan(n));
            launch(|| unsafe {
                loss(
                    dim(batch as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    grad.as_mut_ptr(),
                    pred.as_ptr(),
                    target.as_ptr(),
                    vis.as_ptr(),
                    batch as i32,
                    k as i32,
                    g2 as i32,
                )
            });
            let tag = format!("heatmap_loss_f32 {batch}×{k}×{grid}² block {block}");
            let got = loss_of(&lr, 1.0 / batch as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&ref_loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} grad"),
                &grad,
                &down(&ref_grad),
                TOL_ELEMENTWISE,
            );
        }
    }
}
