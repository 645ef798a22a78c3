//! The losses family (row softmax, CE / MSE-on-softmax / focal / LDAM classifier losses, visibility
//! BCE) through the `Backend` trait on `Cpu<f64>`: gradients against central finite differences,
//! values against direct formulas, finiteness for logits of ±1e4, and label errors as `Err`.
//!
//! Finite-difference tolerance: h = 1e-6, relative error ≤ 1e-6 (truncation O(h²·f''') and rounding
//! ≈ 1e-16·|f|/h are both far below it for the O(1) losses here; LDAM's s = 30 multiplies f''' by
//! s³ ≈ 3e4, still ≈ 1e-8). Values that are the same formula evaluated another way: ≤ 1e-12.
use crate::common::{assert_close, dot, fd_grad, rand_labels, rand_vec, rng};
use crate::reference::{be, down, up};
use convexgan::backend::prelude::*;
use convexgan::backend::{cpu::losses::ldam_margins, cpu::CpuF64, ClassLoss};
use convexgan::Error;

const H: f64 = 1e-6;
const TOL: f64 = 1e-6;
const EXACT: f64 = 1e-12;

/// `(loss, dlogits)` as host vectors.
fn class_loss(z: &[f64], labels: &[u32], n: usize, loss: ClassLoss<'_, CpuF64>) -> (f64, Vec<f64>) {
    let b = labels.len();
    let idx = be().upload_indices(labels).unwrap();
    let (l, g) = be().class_loss(&up(z, b, n), &idx, loss).unwrap();
    let l = down(&l);
    assert_eq!(l.len(), 1, "loss must be 1×1");
    assert_eq!(g.shape(), (b, n), "gradient shape");
    (l[0], down(&g))
}

/// Softmax of one row by the textbook formula (only for moderate logits).
fn naive_softmax(z: &[f64]) -> Vec<f64> {
    let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// FD check of a class loss at random moderate logits; returns the op's (loss, grad) for reuse.
fn check_class_loss(
    what: &str,
    loss: ClassLoss<'_, CpuF64>,
    scale: f64,
    seed: u64,
) -> (f64, Vec<f64>) {
    let (b, n) = (5, 4);
    let mut g = rng(seed);
    let z = rand_vec(&mut g, b * n, scale);
    let labels = rand_labels(&mut g, b, n);
    let (l, grad) = class_loss(&z, &labels, n, loss);
    assert!(l.is_finite(), "{what}: loss {l}");
    let fd = fd_grad(|zv| class_loss(zv, &labels, n, loss).0, &z, H);
    assert_close(&format!("{what} dlogits"), &grad, &fd, TOL);
    (l, grad)
}

fn random_case(seed: u64, scale: f64) -> (Vec<f64>, Vec<u32>) {
    let mut g = rng(seed);
    let z = rand_vec(&mut g, 5 * 4, scale);
    (z, rand_labels(&mut g, 5, 4))
}

// ---- softmax -------------------------------------------------------------------------------------

#[test]
fn softmax_forward_and_gradient_via_projection() {
    let (b, n) = (4, 6);
    let mut g = rng(1);
    let z = rand_vec(&mut g, b * n, 3.0);
    let r = rand_vec(&mut g, b * n, 1.0);
    let sm = |zv: &[f64]| down(&be().softmax_rows(&up(zv, b, n)).unwrap());
    let p = sm(&z);
    let want: Vec<f64> = z.chunks(n).flat_map(naive_softmax).collect();
    assert_close("softmax forward", &p, &want, EXACT);
    // Jacobian-vector product of softmax: ∂(r·p)/∂z_k = p_k (r_k − Σ_j r_j p_j), per row.
    let analytic: Vec<f64> = (0..b)
        .flat_map(|i| {
            let (pr, rr) = (&p[i * n..(i + 1) * n], &r[i * n..(i + 1) * n]);
            let rp = dot(pr, rr);
            (0..n)
                .map(move |k| pr[k] * (rr[k] - rp))
                .collect::<Vec<_>>()
        })
        .collect();
    let fd = fd_grad(|zv| dot(&r, &sm(zv)), &z, H);
    assert_close("softmax projection gradient", &analytic, &fd, TOL);
}

// ---- classifier losses ---------------------------------------------------------------------------

#[test]
fn ce_gradient_and_value() {
    let (l, _) = check_class_loss("ce", ClassLoss::Ce, 3.0, 10);
    let (z, labels) = random_case(10, 3.0);
    let want: f64 = z
        .chunks(4)
        .zip(&labels)
        .map(|(row, &c)| -naive_softmax(row)[c as usize].ln())
        .sum::<f64>()
        / 5.0;
    assert_close("ce value", &[l], &[want], EXACT);
}

#[test]
fn mse_gradient_and_value() {
    let (l, _) = check_class_loss("mse", ClassLoss::Mse, 3.0, 11);
    let (z, labels) = random_case(11, 3.0);
    let want: f64 = z
        .chunks(4)
        .zip(&labels)
        .map(|(row, &c)| {
            naive_softmax(row)
                .iter()
                .enumerate()
                .map(|(j, p)| (p - if j == c as usize { 1.0 } else { 0.0 }).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / 5.0;
    assert_close("mse value", &[l], &[want], EXACT);
}

#[test]
fn focal_gradient_and_value() {
    for (seed, gamma) in [(12, 2.0), (13, 0.5), (14, 1.0)] {
        let (l, _) = check_class_loss(
            &format!("focal γ={gamma}"),
            ClassLoss::Focal { gamma },
            3.0,
            seed,
        );
        let (z, labels) = random_case(seed, 3.0);
        let want: f64 = z
            .chunks(4)
            .zip(&labels)
            .map(|(row, &c)| {
                let pc = naive_softmax(row)[c as usize];
                -(1.0 - pc).powf(gamma) * pc.ln()
            })
            .sum::<f64>()
            / 5.0;
        assert_close(&format!("focal γ={gamma} value"), &[l], &[want], EXACT);
    }
}

#[test]
fn focal_with_gamma_zero_is_ce() {
    let (z, labels) = random_case(15, 3.0);
    let (lf, gf) = class_loss(&z, &labels, 4, ClassLoss::Focal { gamma: 0.0 });
    let (lc, gc) = class_loss(&z, &labels, 4, ClassLoss::Ce);
    assert_close("focal γ=0 loss vs ce", &[lf], &[lc], EXACT);
    assert_close("focal γ=0 grad vs ce", &gf, &gc, EXACT);
}

#[test]
fn ldam_margins_follow_quarter_power() {
    let m = ldam_margins(&[1000, 300, 50, 10], 0.5).unwrap();
    let want: Vec<f64> = [1000.0f64, 300.0, 50.0, 10.0]
        .iter()
        .map(|n| 0.5 * (10.0 / n).powf(0.25))
        .collect();
    assert_close("ldam margins", &m, &want, EXACT);
    assert_eq!(m[3], 0.5, "the rarest class gets max_margin");
    assert!(matches!(
        ldam_margins(&[10, 0, 5], 0.5),
        Err(Error::Invalid { .. })
    ));
    assert!(ldam_margins(&[], 0.5).is_err());
}

#[test]
fn ldam_gradient_and_value() {
    let margins = ldam_margins(&[1000, 300, 50, 10], 0.5).unwrap();
    let mt = up(&margins, 1, 4);
    let s = 30.0;
    let loss = ClassLoss::Ldam { margins: &mt, s };
    // Logits of a normalised classifier are O(1); s = 30 then makes the softmax sharp.
    let (l, grad) = check_class_loss("ldam s=30", loss, 0.3, 16);
    // Same value and chain-ruled gradient as CE on the shifted, scaled logits.
    let (z, labels) = random_case(16, 0.3);
    let shifted: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = labels[i / 4] as usize;
            s * (v - if i % 4 == c { margins[c] } else { 0.0 })
        })
        .collect();
    let (lc, gc) = class_loss(&shifted, &labels, 4, ClassLoss::Ce);
    assert_close("ldam value vs ce of s(z − Δ)", &[l], &[lc], EXACT);
    let gc: Vec<f64> = gc.iter().map(|g| s * g).collect();
    assert_close("ldam grad vs s·ce grad", &grad, &gc, EXACT);
    // Margins of zero and s = 1 reduce LDAM to CE.
    let zero = up(&[0.0; 4], 1, 4);
    let (l0, g0) = class_loss(
        &z,
        &labels,
        4,
        ClassLoss::Ldam {
            margins: &zero,
            s: 1.0,
        },
    );
    let (lc, gc) = class_loss(&z, &labels, 4, ClassLoss::Ce);
    assert_close("ldam Δ=0 s=1 loss", &[l0], &[lc], EXACT);
    assert_close("ldam Δ=0 s=1 grad", &g0, &gc, EXACT);
}

// ---- visibility BCE ------------------------------------------------------------------------------

#[test]
fn bce_logits_gradient_and_value() {
    let (b, k) = (4, 5);
    let mut g = rng(20);
    let x = rand_vec(&mut g, b * k, 4.0);
    let t: Vec<f64> = rand_labels(&mut g, b * k, 2)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let tt = up(&t, b, k);
    let f = |xv: &[f64]| {
        let (l, gr) = be().bce_logits(&up(xv, b, k), &tt).unwrap();
        (down(&l)[0], down(&gr))
    };
    let (l, grad) = f(&x);
    let want: f64 = x
        .iter()
        .zip(&t)
        .map(|(&x, &t)| {
            let s = 1.0 / (1.0 + (-x).exp());
            -(t * s.ln() + (1.0 - t) * (1.0 - s).ln())
        })
        .sum::<f64>()
        / b as f64;
    // The textbook form loses ~1e-16/σ in log(1 − σ); 1e-10 still catches a wrong normalisation.
    assert_close("bce value", &[l], &[want], 1e-10);
    let fd = fd_grad(|xv| f(xv).0, &x, H);
    assert_close("bce dlogits", &grad, &fd, TOL);
}

// ---- extreme logits ------------------------------------------------------------------------------

#[test]
fn extreme_logits_stay_finite_and_exact() {
    let big = 1e4;
    let n = 3;
    // Row 0: label is the winner by 2e4; row 1: label loses by 2e4; row 2: a tie at +1e4.
    let z = vec![big, -big, 0.0, big, -big, 0.0, big, big, -big];
    let labels = [0u32, 1, 0];
    let b = labels.len() as f64;

    let p = down(&be().softmax_rows(&up(&z, 3, n)).unwrap());
    assert_close(
        "softmax ±1e4",
        &p,
        &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.0],
        EXACT,
    );

    let margins = ldam_margins(&[100, 10, 1], 0.5).unwrap();
    let mt = up(&margins, 1, n);
    let ln2 = 2f64.ln();
    let s = 30.0;
    // Values known in closed form: exp(−2e4) and exp(−1e4) vanish in f64.
    let cases: Vec<(&str, ClassLoss<'_, CpuF64>, f64)> = vec![
        ("ce", ClassLoss::Ce, (0.0 + 2.0 * big + ln2) / b),
        ("mse", ClassLoss::Mse, (0.0 + 2.0 + 0.5) / b),
        (
            "focal γ=2",
            ClassLoss::Focal { gamma: 2.0 },
            (0.0 + 2.0 * big + 0.25 * ln2) / b,
        ),
        (
            "focal γ=0.5",
            ClassLoss::Focal { gamma: 0.5 },
            (0.0 + 2.0 * big + 0.5f64.sqrt() * ln2) / b,
        ),
        (
            "ldam s=30",
            ClassLoss::Ldam { margins: &mt, s },
            // Row 0 wins by s(2e4 − Δ_0): loss 0; row 1 loses by s(2e4 + Δ_1); row 2's tie is
            // broken against the label by sΔ_0: log(1 + exp(sΔ_0)).
            (0.0 + s * (2.0 * big + margins[1]) + (s * margins[0]).exp().ln_1p()) / b,
        ),
    ];
    for (what, loss, want) in cases {
        let (l, g) = class_loss(&z, &labels, n, loss);
        assert!(
            g.iter().all(|v| v.is_finite()),
            "{what}: non-finite gradient {g:?}"
        );
        assert_close(&format!("{what} value at ±1e4"), &[l], &[want], EXACT);
    }
    // CE's gradient is (p − onehot)/B, known exactly here.
    let (_, g) = class_loss(&z, &labels, n, ClassLoss::Ce);
    let want = [0.0, 0.0, 0.0, 1.0, -1.0, 0.0, -0.5, 0.5, 0.0].map(|v| v / b);
    assert_close("ce grad at ±1e4", &g, &want, EXACT);

    // A confident correct prediction with γ < 1: (1 − p_c)^{γ−1} is huge there, but the gradient
    // −γ q^γ p_c·log(p_c)/q − q^γ → 0 must stay finite.
    let (l, g) = class_loss(&[60.0, 0.0, 0.0], &[0], n, ClassLoss::Focal { gamma: 0.5 });
    assert!((0.0..1e-12).contains(&l), "focal γ=0.5 loss {l}");
    assert!(
        g.iter().all(|v| v.is_finite() && v.abs() < 1e-12),
        "focal γ=0.5 grad {g:?}"
    );

    let x = [big, -big, big, -big];
    let t = [1.0, 1.0, 0.0, 0.0];
    let (l, g) = be().bce_logits(&up(&x, 2, 2), &up(&t, 2, 2)).unwrap();
    assert_close("bce value at ±1e4", &down(&l), &[(2.0 * big) / 2.0], EXACT);
    assert_close("bce grad at ±1e4", &down(&g), &[0.0, -0.5, 0.5, 0.0], EXACT);
}

// ---- errors --------------------------------------------------------------------------------------

#[test]
fn bad_labels_and_shapes_are_err() {
    let be = be();
    let z = up(&[0.0; 6], 2, 3);
    let out_of_range = be.upload_indices(&[0, 3]).unwrap();
    let too_few = be.upload_indices(&[0]).unwrap();
    let ok = be.upload_indices(&[0, 2]).unwrap();
    let m3 = up(&[0.1; 3], 1, 3);
    let m2 = up(&[0.1; 2], 1, 2);
    let losses = [
        ClassLoss::Ce,
        ClassLoss::Mse,
        ClassLoss::Focal { gamma: 2.0 },
        ClassLoss::Ldam {
            margins: &m3,
            s: 30.0,
        },
    ];
    for loss in losses {
        // `ClassLoss<Cpu<f64>>` is not `Copy`: the derive bounds it on the backend being `Copy`.
        assert!(
            matches!(
                be.class_loss(&z, &out_of_range, loss),
                Err(Error::Shape { .. })
            ),
            "{loss:?}: label out of range"
        );
        assert!(
            matches!(be.class_loss(&z, &too_few, loss), Err(Error::Shape { .. })),
            "{loss:?}: label count"
        );
        assert!(be.class_loss(&z, &ok, loss).is_ok(), "{loss:?}: valid call");
    }
    assert!(matches!(
        be.class_loss(
            &z,
            &ok,
            ClassLoss::Ldam {
                margins: &m2,
                s: 30.0
            }
        ),
        Err(Error::Shape { .. })
    ));
    assert!(be
        .class_loss(&z, &ok, ClassLoss::Focal { gamma: -1.0 })
        .is_err());
    assert!(matches!(
        be.bce_logits(&z, &up(&[0.0; 4], 2, 2)),
        Err(Error::Shape { .. })
    ));
}
