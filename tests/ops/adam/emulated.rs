//! The Adam kernel (`kernels/adam.cu`) run on the host emulation against the f64 CPU reference.

use crate::common::rng;
use crate::emulation::{
    check, down, flat_configs, kernel, launch, rand_f32, up, Ref, TOL_ELEMENTWISE, TOL_REDUCTION,
};
use convexgan::backend::kernel_abi::emu;
use convexgan::backend::prelude::*;
use convexgan::backend::AdamHyper;

#[test]
fn adam_step() {
    let mut r = rng(8);
    let f: emu::adam_step_f32 = kernel("adam_step_f32");
    let n = 1001;
    let h = AdamHyper {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 7,
    };
    let c1 = 1.0 - h.beta1.powi(h.step as i32);
    let c2 = 1.0 - h.beta2.powi(h.step as i32);
    for (g, b) in flat_configs(n) {
        let p0 = rand_f32(&mut r, n, 1.0);
        let grad = rand_f32(&mut r, n, 1.0);
        let m0 = rand_f32(&mut r, n, 0.1);
        let v0: Vec<f32> = rand_f32(&mut r, n, 0.01).iter().map(|v| v.abs()).collect();
        let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
        launch(|| unsafe {
            f(
                g,
                b,
                0,
                p.as_mut_ptr(),
                grad.as_ptr(),
                m.as_mut_ptr(),
                v.as_mut_ptr(),
                n as i32,
                h.lr as f32,
                h.beta1 as f32,
                h.beta2 as f32,
                h.eps as f32,
                c1 as f32,
                c2 as f32,
            )
        });
        let (mut rp, mut rm, mut rv) = (up(&p0, 1, n), up(&m0, 1, n), up(&v0, 1, n));
        Ref::new()
            .adam_step(&mut rp, &up(&grad, 1, n), &mut rm, &mut rv, &h)
            .unwrap();
        check("adam_step_f32 param", &p, &down(&rp), TOL_ELEMENTWISE);
        check("adam_step_f32 m", &m, &down(&rm), TOL_ELEMENTWISE);
        check("adam_step_f32 v", &v, &down(&rv), TOL_ELEMENTWISE);
        // The step itself (p − p0) is what the update computes; compare it at the reduction
        // tolerance so the f32 cancellation against p0 is not hidden by p's magnitude.
        let dp: Vec<f32> = p.iter().zip(&p0).map(|(a, b)| a - b).collect();
        let want_dp: Vec<f64> = down(&rp)
            .iter()
            .zip(&p0)
            .map(|(a, &b)| a - b as f64)
            .collect();
        check("adam_step_f32 step", &dp, &want_dp, TOL_REDUCTION);
    }
}
