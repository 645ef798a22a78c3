//! The least-squares GAN losses (METHOD.md §4, Eq. 4–5) against finite differences in f64 and a
//! hand-computed case.
use crate::common::{assert_close, fd_grad, rand_labels, rand_vec, rng};
use convexgan::backend::prelude::*;
use convexgan::backend::{cpu::CpuF32, cpu::CpuF64};

fn scalar(cpu: &CpuF64, t: &convexgan::backend::Tensor<CpuF64>) -> f64 {
    let v = cpu.download(t).unwrap();
    assert_eq!(v.len(), 1, "loss must be 1×1");
    v[0]
}

/// `L_D` gradient w.r.t. `d_out` for both targets (tolerance 1e-6 relative, h = 1e-6), and its
/// value against `mean (t − D)²` (1e-12).
#[test]
fn d_loss_grad_and_value() {
    let cpu = CpuF64::new();
    let b = 7;
    let d = rand_vec(&mut rng(1), b, 2.0);
    for target in [1.0, 0.0] {
        let f = |x: &[f64]| {
            let t = cpu.upload(x, b, 1).unwrap();
            scalar(&cpu, &cpu.lsgan_d_loss(&t, target).unwrap().0)
        };
        let (loss, grad) = cpu
            .lsgan_d_loss(&cpu.upload(&d, b, 1).unwrap(), target)
            .unwrap();
        assert_eq!(grad.shape(), (b, 1));
        let want: f64 = d.iter().map(|v| (target - v).powi(2)).sum::<f64>() / b as f64;
        assert_close("L_D value", &[scalar(&cpu, &loss)], &[want], 1e-12);
        assert_close(
            &format!("L_D grad (target {target})"),
            &cpu.download(&grad).unwrap(),
            &fd_grad(f, &d, 1e-6),
            1e-6,
        );
    }
}

#[test]
fn d_loss_shape_errors() {
    let cpu = CpuF64::new();
    assert!(cpu.lsgan_d_loss(&cpu.zeros(4, 2).unwrap(), 1.0).is_err());
    assert!(cpu.lsgan_d_loss(&cpu.zeros(0, 1).unwrap(), 1.0).is_err());
}

/// `L_G` gradients w.r.t. Q's logits and D's output (tolerance 1e-6 relative), with labels that
/// include the majority class itself. h = 1e-6, except for the logits with λ = 1000: there the
/// λ-term makes the loss ~1e3 while the logits' gradient is ~1e-3, so rounding in `f(x ± h)` would
/// dominate a 1e-6 step; h = 1e-4 keeps the truncation error (~h²) far below the tolerance.
#[test]
fn g_loss_grads() {
    let cpu = CpuF64::new();
    let (b, nc, majority) = (6, 5, 2);
    for (seed, lambda, h_q) in [(2u64, 3.0, 1e-6), (3, 1000.0, 1e-4)] {
        let mut r = rng(seed);
        let q = rand_vec(&mut r, b * nc, 3.0);
        let d = rand_vec(&mut r, b, 2.0);
        let mut labels = rand_labels(&mut r, b, nc);
        labels[0] = majority as u32;
        let lab = cpu.upload_indices(&labels).unwrap();
        let loss_of = |q: &[f64], d: &[f64]| {
            let out = cpu
                .lsgan_g_loss(
                    &cpu.upload(q, b, nc).unwrap(),
                    &cpu.upload(d, b, 1).unwrap(),
                    &lab,
                    majority,
                    lambda,
                )
                .unwrap();
            scalar(&cpu, &out.loss)
        };
        let out = cpu
            .lsgan_g_loss(
                &cpu.upload(&q, b, nc).unwrap(),
                &cpu.upload(&d, b, 1).unwrap(),
                &lab,
                majority,
                lambda,
            )
            .unwrap();
        assert_eq!(out.d_q_logits.shape(), (b, nc));
        assert_eq!(out.d_d_out.shape(), (b, 1));
        assert_close(
            &format!("L_G d_q_logits (λ {lambda})"),
            &cpu.download(&out.d_q_logits).unwrap(),
            &fd_grad(|x| loss_of(x, &d), &q, h_q),
            1e-6,
        );
        assert_close(
            &format!("L_G d_d_out (λ {lambda})"),
            &cpu.download(&out.d_d_out).unwrap(),
            &fd_grad(|x| loss_of(&q, x), &d, 1e-6),
            1e-6,
        );
    }
}

/// Three classes, majority 0, by hand:
/// - row 0: logits (0, 0, 0) → q = (1/3, 1/3, 1/3), c = 1: q_1² + (1 − q_2)² = 5/9; D = 0.5, λ = 2:
///   + 2·0.25 = 0.5.
/// - row 1: logits (0, ln 2, 0) → q = (1/4, 1/2, 1/4), c = 0 = majority: q_0² + (1 − q_1)² +
///   (1 − q_2)² = 1/16 + 4/16 + 9/16 = 7/8; D = 1: + 0.
/// - row 2: logits (ln 2, 0, 0) → q = (1/2, 1/4, 1/4), c = 2: q_2² + (1 − q_1)² = 10/16; D = −1:
///   + 2·4 = 8.
///
/// `d_d_out = −2λ(1 − D)/B`.
#[test]
fn g_loss_hand_case() {
    let cpu = CpuF64::new();
    let l2 = 2f64.ln();
    let q = [0.0, 0.0, 0.0, 0.0, l2, 0.0, l2, 0.0, 0.0];
    let d = [0.5, 1.0, -1.0];
    let lab = cpu.upload_indices(&[1, 0, 2]).unwrap();
    let out = cpu
        .lsgan_g_loss(
            &cpu.upload(&q, 3, 3).unwrap(),
            &cpu.upload(&d, 3, 1).unwrap(),
            &lab,
            0,
            2.0,
        )
        .unwrap();
    let want = (5.0 / 9.0 + 0.5 + 7.0 / 8.0 + 10.0 / 16.0 + 8.0) / 3.0;
    assert_close("L_G hand value", &[scalar(&cpu, &out.loss)], &[want], 1e-12);
    let want_dd = [-2.0 * 2.0 * 0.5 / 3.0, 0.0, -2.0 * 2.0 * 2.0 / 3.0];
    assert_close(
        "L_G d_d_out hand",
        &cpu.download(&out.d_d_out).unwrap(),
        &want_dd,
        1e-12,
    );
}

/// Logits of ±1e4 give a finite loss and finite gradients (stable softmax).
#[test]
fn g_loss_finite_for_huge_logits() {
    let cpu = CpuF64::new();
    let (b, nc) = (4, 4);
    let q: Vec<f64> = rand_vec(&mut rng(4), b * nc, 1.0)
        .into_iter()
        .map(|v| if v >= 0.0 { 1e4 } else { -1e4 })
        .collect();
    let lab = cpu.upload_indices(&[0, 1, 2, 3]).unwrap();
    let out = cpu
        .lsgan_g_loss(
            &cpu.upload(&q, b, nc).unwrap(),
            &cpu.upload(&[0.1, 0.2, 0.3, 0.4], b, 1).unwrap(),
            &lab,
            3,
            1000.0,
        )
        .unwrap();
    let loss = scalar(&cpu, &out.loss);
    assert!(loss.is_finite(), "loss {loss}");
    let g = cpu.download(&out.d_q_logits).unwrap();
    assert!(g.iter().all(|v| v.is_finite()), "d_q_logits {g:?}");
}

/// The f32 backend against the f64 reference (METHOD.md §7: ≤ 1e-4 for reductions).
#[test]
fn g_loss_f32_matches_f64() {
    let (b, nc, majority) = (8, 5, 1);
    let mut r = rng(5);
    let q = rand_vec(&mut r, b * nc, 3.0);
    let d = rand_vec(&mut r, b, 2.0);
    let labels = rand_labels(&mut r, b, nc);
    let c64 = CpuF64::new();
    let o64 = c64
        .lsgan_g_loss(
            &c64.upload(&q, b, nc).unwrap(),
            &c64.upload(&d, b, 1).unwrap(),
            &c64.upload_indices(&labels).unwrap(),
            majority,
            1000.0,
        )
        .unwrap();
    let c32 = CpuF32::new();
    let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    let o32 = c32
        .lsgan_g_loss(
            &c32.upload(&f(&q), b, nc).unwrap(),
            &c32.upload(&f(&d), b, 1).unwrap(),
            &c32.upload_indices(&labels).unwrap(),
            majority,
            1000.0,
        )
        .unwrap();
    let d32 = |t| crate::common::to_f64(&c32.download(t).unwrap());
    let d64 = |t| c64.download(t).unwrap();
    assert_close("L_G f32", &d32(&o32.loss), &d64(&o64.loss), 1e-4);
    assert_close(
        "d_q_logits f32",
        &d32(&o32.d_q_logits),
        &d64(&o64.d_q_logits),
        1e-4,
    );
    assert_close("d_d_out f32", &d32(&o32.d_d_out), &d64(&o64.d_d_out), 1e-5);
}

#[test]
fn g_loss_errors() {
    let cpu = CpuF64::new();
    let q = cpu.zeros(3, 4).unwrap();
    let d = cpu.zeros(3, 1).unwrap();
    let ok = cpu.upload_indices(&[0, 1, 3]).unwrap();
    assert!(cpu.lsgan_g_loss(&q, &d, &ok, 3, 1.0).is_ok());
    // Label out of range.
    let bad = cpu.upload_indices(&[0, 4, 1]).unwrap();
    assert!(cpu.lsgan_g_loss(&q, &d, &bad, 0, 1.0).is_err());
    // Majority out of range.
    assert!(cpu.lsgan_g_loss(&q, &d, &ok, 4, 1.0).is_err());
    // Label count, d_out shape, batch mismatch.
    let short = cpu.upload_indices(&[0, 1]).unwrap();
    assert!(cpu.lsgan_g_loss(&q, &d, &short, 0, 1.0).is_err());
    assert!(cpu
        .lsgan_g_loss(&q, &cpu.zeros(3, 2).unwrap(), &ok, 0, 1.0)
        .is_err());
    assert!(cpu
        .lsgan_g_loss(&q, &cpu.zeros(4, 1).unwrap(), &ok, 0, 1.0)
        .is_err());
}
