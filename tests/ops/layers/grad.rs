//! The layers family (bias + activation, column sums, BatchNorm1d) through `LayerOps` on
//! `Cpu<f64>`: hand-written backwards against central finite differences, forwards against direct
//! formulas, and shape errors (of these ops, the matrix product and the elementwise helpers) as
//! `Err`.
//!
//! Tolerance for every finite-difference check: h = 1e-6, relative error ≤ 1e-6. In f64 the central
//! difference's truncation error is O(h²·f''') ≈ 1e-12 and its rounding error ≈ 1e-16·|f|/h ≈ 1e-9
//! for the O(1..10) scalars used here, so 1e-6 leaves margin without hiding a wrong term (a missing
//! term in a backward gives an O(1) relative error).
use crate::common::{assert_close, dot, fd_grad, rand_vec, rng};
use crate::reference::{be, down, is_shape_err, up};
use convexgan::backend::prelude::*;
use convexgan::backend::Activation;
use convexgan::Error;
use rand::Rng;

const H: f64 = 1e-6;
const TOL: f64 = 1e-6;
/// Forwards compared with a direct formula differ only by rounding.
const EXACT: f64 = 1e-12;

// ---- bias + activation ---------------------------------------------------------------------------

fn check_bias_act(act: Activation, with_bias: bool, seed: u64) {
    let (b, c) = (5, 7);
    let mut g = rng(seed);
    let bias = rand_vec(&mut g, c, 0.5);
    // Keep every pre-activation at least 0.1 away from the kink at 0 so that x ± h never crosses it.
    let x: Vec<f64> = (0..b * c)
        .map(|i| {
            let sign = if g.gen_bool(0.5) { 1.0 } else { -1.0 };
            let pre = sign * (0.1 + g.gen_range(0.0..1.0));
            pre - if with_bias { bias[i % c] } else { 0.0 }
        })
        .collect();
    let r = rand_vec(&mut g, b * c, 1.0);

    let fwd = |x: &[f64], bias: &[f64]| -> Vec<f64> {
        let bt = up(bias, 1, c);
        let y = be()
            .bias_act_fwd(&up(x, b, c), with_bias.then_some(&bt), act)
            .unwrap();
        down(&y)
    };

    // Forward against the definition.
    let want: Vec<f64> = (0..b * c)
        .map(|i| {
            let v = x[i] + if with_bias { bias[i % c] } else { 0.0 };
            match act {
                Activation::Identity => v,
                Activation::Relu => v.max(0.0),
                Activation::LeakyRelu(a) => {
                    if v > 0.0 {
                        v
                    } else {
                        a * v
                    }
                }
            }
        })
        .collect();
    let y = fwd(&x, &bias);
    assert_close(
        &format!("bias_act_fwd {act:?} bias={with_bias}"),
        &y,
        &want,
        EXACT,
    );

    // Backward: dx from act_bwd on the output, dbias = col_sum(dx).
    let dx_t = be().act_bwd(&up(&y, b, c), &up(&r, b, c), act).unwrap();
    let dx = down(&dx_t);
    let fd_x = fd_grad(|xv| dot(&r, &fwd(xv, &bias)), &x, H);
    assert_close(
        &format!("act_bwd dx {act:?} bias={with_bias}"),
        &dx,
        &fd_x,
        TOL,
    );
    if with_bias {
        let db = down(&be().col_sum(&dx_t).unwrap());
        let fd_b = fd_grad(|bv| dot(&r, &fwd(&x, bv)), &bias, H);
        assert_close(&format!("dbias {act:?}"), &db, &fd_b, TOL);
    }
}

#[test]
fn bias_act_identity() {
    check_bias_act(Activation::Identity, true, 1);
    check_bias_act(Activation::Identity, false, 2);
}

#[test]
fn bias_act_relu() {
    check_bias_act(Activation::Relu, true, 3);
    check_bias_act(Activation::Relu, false, 4);
}

#[test]
fn bias_act_leaky_relu() {
    check_bias_act(Activation::LeakyRelu(0.2), true, 5);
    check_bias_act(Activation::LeakyRelu(0.2), false, 6);
    check_bias_act(Activation::LeakyRelu(0.01), true, 7);
}

#[test]
fn col_sum_matches_fd_and_direct_sum() {
    let (b, c) = (6, 4);
    let mut g = rng(10);
    let x = rand_vec(&mut g, b * c, 2.0);
    let r = rand_vec(&mut g, c, 1.0);
    let s = down(&be().col_sum(&up(&x, b, c)).unwrap());
    let want: Vec<f64> = (0..c).map(|j| (0..b).map(|i| x[i * c + j]).sum()).collect();
    assert_close("col_sum forward", &s, &want, EXACT);
    // d/dx Σ_j r_j Σ_i x_ij = r_j for every row: the backward of col_sum is a row broadcast.
    let fd = fd_grad(
        |xv| dot(&r, &down(&be().col_sum(&up(xv, b, c)).unwrap())),
        &x,
        H,
    );
    let want_grad: Vec<f64> = (0..b * c).map(|i| r[i % c]).collect();
    assert_close("col_sum gradient", &want_grad, &fd, TOL);
}

// ---- BatchNorm1d ---------------------------------------------------------------------------------

const EPS: f64 = 1e-5;

/// Column statistics: mean, biased variance, unbiased variance.
fn col_stats(x: &[f64], b: usize, c: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mean: Vec<f64> = (0..c)
        .map(|j| (0..b).map(|i| x[i * c + j]).sum::<f64>() / b as f64)
        .collect();
    let ss: Vec<f64> = (0..c)
        .map(|j| {
            (0..b)
                .map(|i| (x[i * c + j] - mean[j]).powi(2))
                .sum::<f64>()
        })
        .collect();
    let biased = ss.iter().map(|s| s / b as f64).collect();
    let unbiased = ss.iter().map(|s| s / (b as f64 - 1.0)).collect();
    (mean, biased, unbiased)
}

fn bn_inputs(seed: u64, b: usize, c: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut g = rng(seed);
    // Columns with different offsets and scales, so that a mean or variance taken over the wrong
    // axis shows.
    let x: Vec<f64> = (0..b * c)
        .map(|i| {
            let j = (i % c) as f64;
            (j - 1.5) * 2.0 + (0.5 + j) * g.gen_range(-1.0..1.0)
        })
        .collect();
    let gamma: Vec<f64> = (0..c).map(|_| g.gen_range(0.5..1.5)).collect();
    let beta = rand_vec(&mut g, c, 0.5);
    (x, gamma, beta)
}

#[test]
fn batchnorm_train_forward_and_cache() {
    let (b, c) = (6, 4);
    let (x, gamma, beta) = bn_inputs(30, b, c);
    let mut rm = up(&vec![0.0; c], 1, c);
    let mut rv = up(&vec![1.0; c], 1, c);
    let (y, cache) = be()
        .batchnorm_fwd_train(
            &up(&x, b, c),
            &up(&gamma, 1, c),
            &up(&beta, 1, c),
            &mut rm,
            &mut rv,
            0.1,
            EPS,
        )
        .unwrap();
    let (mean, var, _) = col_stats(&x, b, c);
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
    let xhat: Vec<f64> = (0..b * c)
        .map(|i| (x[i] - mean[i % c]) * inv_std[i % c])
        .collect();
    let want: Vec<f64> = (0..b * c)
        .map(|i| gamma[i % c] * xhat[i] + beta[i % c])
        .collect();
    assert_close("bn train y", &down(&y), &want, EXACT);
    assert_close("bn cache xhat", &down(&cache.xhat), &xhat, EXACT);
    assert_close("bn cache inv_std", &down(&cache.inv_std), &inv_std, EXACT);
}

#[test]
fn batchnorm_train_backward_matches_fd() {
    let (b, c) = (6, 4);
    let (x, gamma, beta) = bn_inputs(31, b, c);
    let r = rand_vec(&mut rng(32), b * c, 1.0);
    // Running statistics are side effects; every evaluation gets fresh ones.
    let fwd = |x: &[f64], gamma: &[f64], beta: &[f64]| {
        let mut rm = up(&vec![0.0; c], 1, c);
        let mut rv = up(&vec![1.0; c], 1, c);
        be().batchnorm_fwd_train(
            &up(x, b, c),
            &up(gamma, 1, c),
            &up(beta, 1, c),
            &mut rm,
            &mut rv,
            0.1,
            EPS,
        )
        .unwrap()
    };
    let (_, cache) = fwd(&x, &gamma, &beta);
    let (dx, dgamma, dbeta) = be()
        .batchnorm_bwd(&up(&r, b, c), &cache, &up(&gamma, 1, c))
        .unwrap();
    assert_eq!(dgamma.shape(), (1, c));
    assert_eq!(dbeta.shape(), (1, c));
    let f = |x: &[f64], gm: &[f64], bt: &[f64]| dot(&r, &down(&fwd(x, gm, bt).0));
    let fd_x = fd_grad(|v| f(v, &gamma, &beta), &x, H);
    let fd_g = fd_grad(|v| f(&x, v, &beta), &gamma, H);
    let fd_b = fd_grad(|v| f(&x, &gamma, v), &beta, H);
    assert_close("bn dx", &down(&dx), &fd_x, TOL);
    assert_close("bn dgamma", &down(&dgamma), &fd_g, TOL);
    assert_close("bn dbeta", &down(&dbeta), &fd_b, TOL);
}

#[test]
fn batchnorm_running_stats_and_inference() {
    let (b, c) = (5, 3);
    let momentum = 0.1;
    let mut rm_want = vec![0.3, -0.2, 1.0];
    let mut rv_want = vec![0.5, 2.0, 1.0];
    let mut rm = up(&rm_want, 1, c);
    let mut rv = up(&rv_want, 1, c);
    // Two steps, so that a blend that ignores the previous running value would fail.
    for seed in [40, 41] {
        let (x, gamma, beta) = bn_inputs(seed, b, c);
        be().batchnorm_fwd_train(
            &up(&x, b, c),
            &up(&gamma, 1, c),
            &up(&beta, 1, c),
            &mut rm,
            &mut rv,
            momentum,
            EPS,
        )
        .unwrap();
        let (mean, _, unbiased) = col_stats(&x, b, c);
        for j in 0..c {
            rm_want[j] = (1.0 - momentum) * rm_want[j] + momentum * mean[j];
            rv_want[j] = (1.0 - momentum) * rv_want[j] + momentum * unbiased[j];
        }
        assert_close("running_mean", &down(&rm), &rm_want, EXACT);
        assert_close("running_var (unbiased)", &down(&rv), &rv_want, EXACT);
    }

    let (x, gamma, beta) = bn_inputs(42, b, c);
    let y = be()
        .batchnorm_fwd_infer(
            &up(&x, b, c),
            &up(&gamma, 1, c),
            &up(&beta, 1, c),
            &rm,
            &rv,
            EPS,
        )
        .unwrap();
    let want: Vec<f64> = (0..b * c)
        .map(|i| {
            let j = i % c;
            gamma[j] * (x[i] - rm_want[j]) / (rv_want[j] + EPS).sqrt() + beta[j]
        })
        .collect();
    assert_close("bn infer y", &down(&y), &want, EXACT);
}

// ---- errors, not panics --------------------------------------------------------------------------

#[test]
fn shape_errors_are_err() {
    let be = be();
    let x = up(&[0.0; 6], 2, 3);
    let wrong = up(&[0.0; 4], 2, 2);
    let row2 = up(&[1.0; 2], 1, 2);
    let row3 = up(&[1.0; 3], 1, 3);

    assert!(is_shape_err(be.upload(&[0.0; 5], 2, 3)));
    assert!(is_shape_err(be.bias_act_fwd(
        &x,
        Some(&row2),
        Activation::Relu
    )));
    assert!(is_shape_err(be.bias_act_fwd(
        &x,
        Some(&x),
        Activation::Relu
    )));
    assert!(is_shape_err(be.act_bwd(&x, &wrong, Activation::Relu)));
    assert!(is_shape_err(be.matmul(&x, false, &x, false)));
    assert!(is_shape_err(be.matmul(&x, true, &row3, false)));
    assert!(be.matmul(&x, false, &x, true).is_ok());

    let mut rm = row3.clone();
    let mut rv = row3.clone();
    let mut rm2 = row2.clone();
    assert!(is_shape_err(be.batchnorm_fwd_train(
        &x, &row2, &row3, &mut rm, &mut rv, 0.1, EPS
    )));
    assert!(is_shape_err(be.batchnorm_fwd_train(
        &x, &row3, &row3, &mut rm2, &mut rv, 0.1, EPS
    )));
    // One row has no unbiased variance.
    assert!(is_shape_err(be.batchnorm_fwd_train(
        &row3, &row3, &row3, &mut rm, &mut rv, 0.1, EPS
    )));
    assert!(is_shape_err(
        be.batchnorm_fwd_infer(&x, &row3, &row3, &row2, &row3, EPS)
    ));
    let (_, cache) = be
        .batchnorm_fwd_train(&x, &row3, &row3, &mut rm, &mut rv, 0.1, EPS)
        .unwrap();
    assert!(is_shape_err(be.batchnorm_bwd(&wrong, &cache, &row3)));
    assert!(is_shape_err(be.batchnorm_bwd(&x, &cache, &row2)));

    assert!(is_shape_err(be.axpy(&mut x.clone(), 1.0, &wrong)));
    assert!(is_shape_err(be.concat_cols(&[&x, &row3])));
    assert!(is_shape_err(be.concat_cols(&[])));
    assert!(is_shape_err(be.split_cols(&x, &[1, 1])));
    let bad_idx = be.upload_indices(&[0, 2]).unwrap();
    assert!(is_shape_err(be.gather_rows(&x, &bad_idx)));
    assert!(is_shape_err(be.onehot(&bad_idx, 2)));

    // A LeakyReLU slope the backward cannot invert is an argument error.
    assert!(matches!(
        be.act_bwd(&x, &x, Activation::LeakyRelu(0.0)),
        Err(Error::Invalid { .. })
    ));
}
