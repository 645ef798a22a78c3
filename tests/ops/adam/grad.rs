//! The Adam op (one bias-corrected update, in place) through the `Backend` trait on `Cpu<f64>`,
//! against a two-step sequence worked out by hand. The learning-rate schedule is the trainer's
//! business and is not tested here.
//!
//! Tolerance: relative error ≤ 1e-14: the expected values are the same arithmetic done separately,
//! so only rounding separates them.
use crate::common::assert_close;
use convexgan::backend::prelude::*;
use convexgan::backend::{cpu::CpuF64, AdamHyper, Tensor};
use convexgan::Error;

const TOL: f64 = 1e-14;

type T = Tensor<CpuF64>;

fn up(v: &[f64]) -> T {
    CpuF64::new().upload(v, 2, 2).unwrap()
}

fn down(t: &T) -> Vec<f64> {
    CpuF64::new().download(t).unwrap()
}

fn hyper(step: u64) -> AdamHyper {
    AdamHyper {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step,
    }
}

#[test]
fn two_steps_match_hand_computation() {
    let be = CpuF64::new();
    let mut p = up(&[1.0, -2.0, 0.5, 3.0]);
    let mut m = up(&[0.0; 4]);
    let mut v = up(&[0.0; 4]);

    // Step 1: m = 0.1·g, v = 0.001·g², and bias correction undoes both factors, so
    // p ← p − lr·g/(|g| + ε). A zero gradient leaves its parameter alone (0/(0 + ε)); a gradient
    // of 1e-3 shows ε: 3 − 0.1·1e-3/(1e-3 + 1e-8) = 2.90000099999.
    let g1 = up(&[0.5, -1.0, 0.0, 1e-3]);
    be.adam_step(&mut p, &g1, &mut m, &mut v, &hyper(1))
        .unwrap();
    assert_close(
        "step 1 param",
        &down(&p),
        &[
            1.0 - 0.1 * 0.5 / (0.5 + 1e-8),
            -2.0 + 0.1 * 1.0 / (1.0 + 1e-8),
            0.5,
            2.90000099999,
        ],
        TOL,
    );
    assert_close("step 1 m", &down(&m), &[0.05, -0.1, 0.0, 1e-4], TOL);
    assert_close("step 1 v", &down(&v), &[2.5e-4, 1e-3, 0.0, 1e-9], TOL);

    // Step 2: m = 0.9·m + 0.1·g, v = 0.999·v + 0.001·g², m̂ = m/(1 − 0.9²) = m/0.19,
    // v̂ = v/(1 − 0.999²) = v/0.001999. Element 0: m = 0.045 − 0.025 = 0.02,
    // v = 0.999·2.5e-4 + 0.001·0.0625 = 3.1225e-4, so
    // p = 0.900000002 − 0.1·(0.02/0.19)/(sqrt(3.1225e-4/0.001999) + 1e-8) = 0.8733662987078463.
    let g2 = up(&[-0.25, 2.0, 1e-3, 1e-3]);
    be.adam_step(&mut p, &g2, &mut m, &mut v, &hyper(2))
        .unwrap();
    assert_close("step 2 m", &down(&m), &[0.02, 0.11, 1e-4, 1.9e-4], TOL);
    assert_close(
        "step 2 v",
        &down(&v),
        &[3.1225e-4, 4.999e-3, 1e-9, 1.999e-9],
        TOL,
    );
    assert_close(
        "step 2 param",
        &down(&p),
        &[
            0.8733662987078463,
            -1.9366103534720749,
            0.4255873697336899,
            2.800001999980001,
        ],
        TOL,
    );
}

#[test]
fn bad_arguments_are_err() {
    let be = CpuF64::new();
    let mut p = up(&[0.0; 4]);
    let mut m = up(&[0.0; 4]);
    let mut v = up(&[0.0; 4]);
    let g = up(&[1.0; 4]);
    // The step is 1-based: step 0 would divide by 1 − β⁰ = 0.
    assert!(matches!(
        be.adam_step(&mut p, &g, &mut m, &mut v, &hyper(0)),
        Err(Error::Invalid { .. })
    ));
    let g_wrong = be.upload(&[1.0; 3], 1, 3).unwrap();
    assert!(matches!(
        be.adam_step(&mut p, &g_wrong, &mut m, &mut v, &hyper(1)),
        Err(Error::Shape { .. })
    ));
    let mut v_wrong = be.upload(&[0.0; 4], 4, 1).unwrap();
    assert!(matches!(
        be.adam_step(&mut p, &g, &mut m, &mut v_wrong, &hyper(1)),
        Err(Error::Shape { .. })
    ));
    // Nothing moved on a refused step.
    assert_eq!(down(&p), vec![0.0; 4]);
    assert_eq!(down(&m), vec![0.0; 4]);
}
