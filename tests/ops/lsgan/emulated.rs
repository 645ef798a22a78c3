//! The LSGAN kernels (`kernels/lsgan.cu`: `L_D` and `L_G` with their gradients) run on the host
//! emulation against the f64 CPU reference.

use crate::common::{assert_close, rand_labels, rng};
use crate::emulation::{
    check, dim, down, flat_configs, kernel, launch, loss_of, nan, rand_f32, up, Ref, ROW_BLOCKS,
    TOL_ELEMENTWISE, TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::emu;
use convexgan::backend::prelude::*;

#[test]
fn lsgan_d() {
    let mut r = rng(12);
    let f: emu::lsgan_d_f32 = kernel("lsgan_d_f32");
    for n in [1usize, 77, 600] {
        let d = rand_f32(&mut r, n, 2.0);
        for target in [0.0f32, 1.0] {
            let (ref_loss, ref_grad) = Ref::new()
                .lsgan_d_loss(&up(&d, n, 1), target as f64)
                .unwrap();
            for (g, b) in flat_configs(n) {
                let (mut lr, mut grad) = (nan(n), nan(n));
                launch(|| unsafe {
                    f(
                        g,
                        b,
                        0,
                        lr.as_mut_ptr(),
                        grad.as_mut_ptr(),
                        d.as_ptr(),
                        target,
                        n as i32,
                    )
                });
                let got = loss_of(&lr, 1.0 / n as f64);
                assert_close("lsgan_d_f32 loss", &[got], &down(&ref_loss), TOL_REDUCTION);
                check("lsgan_d_f32 grad", &grad, &down(&ref_grad), TOL_ELEMENTWISE);
            }
        }
    }
}

#[test]
fn lsgan_g() {
    let mut r = rng(13);
    let f: emu::lsgan_g_f32 = kernel("lsgan_g_f32");
    for (rows, classes) in [(1usize, 2usize), (9, 10), (4, 50), (3, 300)] {
        let z = rand_f32(&mut r, rows * classes, 3.0);
        let d = rand_f32(&mut r, rows, 1.5);
        let mut labels = rand_labels(&mut r, rows, classes);
        let majority = classes - 1;
        // One sample labelled with the majority class: the sum then skips just that class.
        labels[0] = majority as u32;
        let ref_labels = Ref::new().upload_indices(&labels).unwrap();
        let lambda = 1000.0f32;
        let want = Ref::new()
            .lsgan_g_loss(
                &up(&z, rows, classes),
                &up(&d, rows, 1),
                &ref_labels,
                majority,
                lambda as f64,
            )
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut dq, mut dd) = (nan(rows), nan(rows * classes), nan(rows));
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    dq.as_mut_ptr(),
                    dd.as_mut_ptr(),
                    z.as_ptr(),
                    d.as_ptr(),
                    labels.as_ptr(),
                    rows as i32,
                    classes as i32,
                    majority as i32,
                    lambda,
                )
            });
            let tag = format!("lsgan_g_f32 {rows}×{classes} block {block}");
            let got = loss_of(&lr, 1.0 / rows as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&want.loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} d_q_logits"),
                &dq,
                &down(&want.d_q_logits),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} d_d_out"),
                &dd,
                &down(&want.d_d_out),
                TOL_ELEMENTWISE,
            );
        }
    }
}
