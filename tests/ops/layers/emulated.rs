//! The layers kernels (`kernels/layers.cu`: bias + activation and its backward, column sums,
//! BatchNorm1d train/infer/backward) run on the host emulation against the f64 CPU reference.

use crate::common::rng;
use crate::emulation::{
    check, dim, dim2, down, flat_configs, kernel, launch, nan, rand_f32, up, Ref, TOL_ELEMENTWISE,
    TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::{emu, Dim3};
use convexgan::backend::prelude::*;
use convexgan::backend::{Activation, BnCache};
use rand::Rng;

fn act_code(a: Activation) -> (i32, f32) {
    match a {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(al) => (2, al as f32),
    }
}

#[test]
fn bias_act_and_act_bwd() {
    let mut r = rng(5);
    let fwd: emu::bias_act_fwd_f32 = kernel("bias_act_fwd_f32");
    let bwd: emu::act_bwd_f32 = kernel("act_bwd_f32");
    let (rows, cols) = (19usize, 70usize);
    let n = rows * cols;
    let x = rand_f32(&mut r, n, 2.0);
    let bias = rand_f32(&mut r, cols, 1.0);
    let dy = rand_f32(&mut r, n, 1.0);
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
    ] {
        let (code, alpha) = act_code(act);
        for with_bias in [true, false] {
            let rb = up(&bias, 1, cols);
            let want = Ref::new()
                .bias_act_fwd(&up(&x, rows, cols), with_bias.then_some(&rb), act)
                .unwrap();
            let want_y = down(&want);
            let bptr = if with_bias {
                bias.as_ptr()
            } else {
                std::ptr::null()
            };
            for (g, b) in flat_configs(n) {
                let mut y = nan(n);
                launch(|| unsafe {
                    fwd(
                        g,
                        b,
                        0,
                        y.as_mut_ptr(),
                        x.as_ptr(),
                        bptr,
                        rows as i32,
                        cols as i32,
                        code,
                        alpha,
                    )
                });
                check(
                    &format!("bias_act_fwd_f32 {act:?} bias={with_bias}"),
                    &y,
                    &want_y,
                    TOL_ELEMENTWISE,
                );

                // The backward reads the forward's output, as the trainer does.
                let want_dx = down(
                    &Ref::new()
                        .act_bwd(&up(&y, rows, cols), &up(&dy, rows, cols), act)
                        .unwrap(),
                );
                let mut dx = nan(n);
                launch(|| unsafe {
                    bwd(
                        g,
                        b,
                        0,
                        dx.as_mut_ptr(),
                        y.as_ptr(),
                        dy.as_ptr(),
                        n as i32,
                        code,
                        alpha,
                    )
                });
                check(
                    &format!("act_bwd_f32 {act:?}"),
                    &dx,
                    &want_dx,
                    TOL_ELEMENTWISE,
                );
            }
        }
    }
}

/// The *col* shape: `gridDim.x = ceil(cols / 32)`, `blockDim = (32, 8)`.
fn col_config(cols: usize) -> (Dim3, Dim3) {
    (dim((cols as u32).div_ceil(32)), dim2(32, 8))
}

#[test]
fn col_sum() {
    let mut r = rng(6);
    let f: emu::col_sum_f32 = kernel("col_sum_f32");
    for (rows, cols) in [(1usize, 1usize), (37, 70), (300, 33)] {
        let x = rand_f32(&mut r, rows * cols, 1.0);
        let want = down(&Ref::new().col_sum(&up(&x, rows, cols)).unwrap());
        let (g, b) = col_config(cols);
        let mut out = nan(cols);
        launch(|| unsafe {
            f(
                g,
                b,
                0,
                out.as_mut_ptr(),
                x.as_ptr(),
                rows as i32,
                cols as i32,
            )
        });
        check(
            &format!("col_sum_f32 {rows}×{cols}"),
            &out,
            &want,
            TOL_REDUCTION,
        );
    }
}

#[test]
fn batchnorm_train_infer_bwd() {
    let mut r = rng(7);
    let train: emu::bn_fwd_train_f32 = kernel("bn_fwd_train_f32");
    let infer: emu::bn_fwd_infer_f32 = kernel("bn_fwd_infer_f32");
    let bwd: emu::bn_bwd_f32 = kernel("bn_bwd_f32");
    let (momentum, eps) = (0.1f32, 1e-5f32);
    // At least 3 rows: with 2, xhat = ±1 and dx vanishes exactly, leaving only rounding noise.
    for (rows, cols) in [(3usize, 5usize), (37, 70), (300, 33)] {
        let n = rows * cols;
        // An offset and a spread per column, so the statistics are not all the same.
        let x: Vec<f32> = (0..n)
            .map(|i| {
                (1.0 + (i % cols) as f64 * 0.1) as f32 * r.gen_range(-2.0f32..2.0)
                    + (i % cols) as f32 * 0.05
            })
            .collect();
        let gamma = rand_f32(&mut r, cols, 1.5);
        let beta = rand_f32(&mut r, cols, 1.0);
        let rm0 = rand_f32(&mut r, cols, 0.5);
        let rv0: Vec<f32> = rand_f32(&mut r, cols, 0.5)
            .iter()
            .map(|v| 1.0 + v)
            .collect();

        let mut ref_rm = up(&rm0, 1, cols);
        let mut ref_rv = up(&rv0, 1, cols);
        let (ref_y, ref_cache) = Ref::new()
            .batchnorm_fwd_train(
                &up(&x, rows, cols),
                &up(&gamma, 1, cols),
                &up(&beta, 1, cols),
                &mut ref_rm,
                &mut ref_rv,
                momentum as f64,
                eps as f64,
            )
            .unwrap();

        let (g, b) = col_config(cols);
        let (mut y, mut xhat, mut inv_std) = (nan(n), nan(n), nan(cols));
        let (mut rm, mut rv) = (rm0.clone(), rv0.clone());
        launch(|| unsafe {
            train(
                g,
                b,
                0,
                y.as_mut_ptr(),
                xhat.as_mut_ptr(),
                inv_std.as_mut_ptr(),
                rm.as_mut_ptr(),
                rv.as_mut_ptr(),
                x.as_ptr(),
                gamma.as_ptr(),
                beta.as_ptr(),
                rows as i32,
                cols as i32,
                momentum,
                eps,
            )
        });
        let tag = format!("{rows}×{cols}");
        check(
            &format!("bn_fwd_train_f32 y {tag}"),
            &y,
            &down(&ref_y),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 xhat {tag}"),
            &xhat,
            &down(&ref_cache.xhat),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 inv_std {tag}"),
            &inv_std,
            &down(&ref_cache.inv_std),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 running_mean {tag}"),
            &rm,
            &down(&ref_rm),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 running_var {tag}"),
            &rv,
            &down(&ref_rv),
            TOL_REDUCTION,
        );

        let want = Ref::new()
            .batchnorm_fwd_infer(
                &up(&x, rows, cols),
                &up(&gamma, 1, cols),
                &up(&beta, 1, cols),
                &up(&rm0, 1, cols),
                &up(&rv0, 1, cols),
                eps as f64,
            )
            .unwrap();
        for (g, b) in flat_configs(n) {
            let mut y = nan(n);
            launch(|| unsafe {
                infer(
                    g,
                    b,
                    0,
                    y.as_mut_ptr(),
                    x.as_ptr(),
                    gamma.as_ptr(),
                    beta.as_ptr(),
                    rm0.as_ptr(),
                    rv0.as_ptr(),
                    rows as i32,
                    cols as i32,
                    eps,
                )
            });
            check(
                &format!("bn_fwd_infer_f32 {tag}"),
                &y,
                &down(&want),
                TOL_ELEMENTWISE,
            );
        }

        // Backward from the emulated forward's cache; the reference gets the same f32 values.
        let dy = rand_f32(&mut r, n, 1.0);
        let cache = BnCache {
            xhat: up(&xhat, rows, cols),
            inv_std: up(&inv_std, 1, cols),
        };
        let (ref_dx, ref_dg, ref_db) = Ref::new()
            .batchnorm_bwd(&up(&dy, rows, cols), &cache, &up(&gamma, 1, cols))
            .unwrap();
        let (mut dx, mut dg, mut db) = (nan(n), nan(cols), nan(cols));
        launch(|| unsafe {
            bwd(
                g,
                b,
                0,
                dx.as_mut_ptr(),
                dg.as_mut_ptr(),
                db.as_mut_ptr(),
                dy.as_ptr(),
                xhat.as_ptr(),
                inv_std.as_ptr(),
                gamma.as_ptr(),
                rows as i32,
                cols as i32,
            )
        });
        check(
            &format!("bn_bwd_f32 dx {tag}"),
            &dx,
            &down(&ref_dx),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_bwd_f32 dgamma {tag}"),
            &dg,
            &down(&ref_dg),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_bwd_f32 dbeta {tag}"),
            &db,
            &down(&ref_db),
            TOL_REDUCTION,
        );
    }
}
