//! Long-tail baselines that change only Q's last layer, from the Phase 1 checkpoint:
//!
//! - **τ-normalisation** (Kang et al., *Decoupling Representation and Classifier*, ICLR 2020,
//!   Sec. 4): each class's weight vector `w_c ← w_c / ‖w_c‖^τ` (the bias is kept; τ = 0 is Q itself);
//! - **post-hoc logit adjustment** (Menon et al., *Long-tail learning via logit adjustment*,
//!   ICLR 2021, Eq. 9): `logit_c − τ · log π_c` with `π` the training class priors, i.e. the bias
//!   `b_c ← b_c − τ log π_c` (τ = 1 is the Bayes-optimal balanced-error correction);
//! - **learnable weight scaling, LWS** (Kang et al. 2020, Sec. 4): `logit_c = f_c · (w_c·h + b_c)`,
//!   only `f` trained (cross-entropy, class-balanced batches, Adam), i.e. `w_c ← f_c w_c`,
//!   `b_c ← f_c b_c`.
//!
//! τ and LWS's learning rate are chosen on the validation split (ACSA), never on the test set.

use rand::Rng;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::{Layer, Mlp};

/// τ values tried on the validation split: 0, 0.1, …, 2.
pub fn tau_grid() -> Vec<f64> {
    (0..=20).map(|i| i as f64 / 10.0).collect()
}

/// Q's last Linear layer as host values: `(W, b, d_in, classes)`, `W` stored `d_in × classes`.
fn last_layer<B: Backend>(be: &B, q: &Mlp<B>) -> Result<(Vec<f32>, Vec<f32>, usize, usize)> {
    match q.layers.last() {
        Some(Layer::Linear(l)) => Ok((
            be.download_f32(&l.w.value)?,
            be.download_f32(&l.b.value)?,
            l.d_in(),
            l.d_out(),
        )),
        _ => Err(Error::invalid(
            "classifier",
            "Q's last layer is not a Linear layer",
        )),
    }
}

/// `q` with its last layer's weights and bias replaced.
fn with_last_layer<B: Backend>(be: &B, q: &Mlp<B>, w: &[f32], b: &[f32]) -> Result<Mlp<B>> {
    let mut out = q.clone();
    if let Some(Layer::Linear(l)) = out.layers.last_mut() {
        let (d_in, c) = (l.d_in(), l.d_out());
        l.w.value = be.upload_f32(w, d_in, c)?;
        l.b.value = be.upload_f32(b, 1, c)?;
    }
    Ok(out)
}

/// τ-normalised weights: column `c` of `w` (`d_in × classes`, row-major) divided by its norm to
/// the power τ. A zero column stays zero.
pub fn tau_normalise(w: &[f32], d_in: usize, classes: usize, tau: f64) -> Vec<f32> {
    let mut out = w.to_vec();
    for c in 0..classes {
        let norm = (0..d_in)
            .map(|i| (w[i * classes + c] as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            let s = norm.powf(-tau);
            for i in 0..d_in {
                out[i * classes + c] = (w[i * classes + c] as f64 * s) as f32;
            }
        }
    }
    out
}

/// The logit-adjusted bias `b_c − τ log π_c`, `π_c = counts_c / Σ counts` (one entry per class).
/// An error when `counts` and `b` differ in length or a count is 0.
pub fn adjust_bias(b: &[f32], counts: &[usize], tau: f64) -> Result<Vec<f32>> {
    let total: usize = counts.iter().sum();
    if counts.len() != b.len() || counts.contains(&0) {
        return Err(Error::invalid(
            "logit adjustment",
            format!(
                "{} classes, counts {counts:?}: every class needs training samples",
                b.len()
            ),
        ));
    }
    Ok(b.iter()
        .zip(counts)
        .map(|(&b, &n)| (b as f64 - tau * (n as f64 / total as f64).ln()) as f32)
        .collect())
}

/// A copy of `q` with its last Linear layer τ-normalised ([`tau_normalise`]; bias kept). An error
/// when Q's last layer is not Linear.
pub fn tau_normalised_q<B: Backend>(be: &B, q: &Mlp<B>, tau: f64) -> Result<Mlp<B>> {
    let (w, b, d_in, c) = last_layer(be, q)?;
    with_last_layer(be, q, &tau_normalise(&w, d_in, c, tau), &b)
}

/// A copy of `q` with logit adjustment τ for training counts `counts` (one per class), applied to
/// its last layer's bias ([`adjust_bias`]). An error when Q's last layer is not Linear, or as
/// [`adjust_bias`].
pub fn logit_adjusted_q<B: Backend>(
    be: &B,
    q: &Mlp<B>,
    counts: &[usize],
    tau: f64,
) -> Result<Mlp<B>> {
    let (w, b, _, _) = last_layer(be, q)?;
    with_last_layer(be, q, &w, &adjust_bias(&b, counts, tau)?)
}

/// A copy of `q` with each class's logit scaled by `f_c` (LWS): column `c` and bias `c` of its last
/// Linear layer times `f_c`. An error when `f` does not have one scale per class or the last layer
/// is not Linear.
pub fn scaled_q<B: Backend>(be: &B, q: &Mlp<B>, f: &[f64]) -> Result<Mlp<B>> {
    let (mut w, mut b, d_in, c) = last_layer(be, q)?;
    if f.len() != c {
        return Err(Error::shape(
            "lws",
            format!("{} scales for {c} classes", f.len()),
        ));
    }
    for i in 0..d_in {
        for (j, &s) in f.iter().enumerate() {
            w[i * c + j] = (w[i * c + j] as f64 * s) as f32;
        }
    }
    for (bj, &s) in b.iter_mut().zip(f) {
        *bj = (*bj as f64 * s) as f32;
    }
    with_last_layer(be, q, &w, &b)
}

/// Mean cross-entropy of `logits_c · f_c` (rows of `z`, `classes = f.len()` wide, one row per
/// label in `y`) against `y`, and its gradient with respect to `f` (`classes` values).
pub fn lws_loss(z: &[f64], y: &[u32], f: &[f64]) -> (f64, Vec<f64>) {
    let c = f.len();
    let n = y.len();
    let mut grad = vec![0.0; c];
    let mut loss = 0.0;
    for (row, &label) in z.chunks(c).zip(y) {
        let s: Vec<f64> = row.iter().zip(f).map(|(&z, &f)| z * f).collect();
        let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|&v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        loss += m + sum.ln() - s[label as usize];
        for j in 0..c {
            let p = e[j] / sum - if j == label as usize { 1.0 } else { 0.0 };
            grad[j] += p * row[j];
        }
    }
    let inv = 1.0 / n.max(1) as f64;
    (loss * inv, grad.into_iter().map(|g| g * inv).collect())
}

/// LWS scales learnt from Q's training logits `z` (`N × classes`, row-major, Q frozen) with labels
/// `y`: `updates` Adam steps at `lr` on class-balanced batches of `batch` (a class uniformly, then
/// one of its rows), starting from `f = 1`. Returns `classes` scales for [`scaled_q`]. An error on
/// a label not below `classes`, a class with no row, or a non-finite scale.
pub fn learn_scales(
    z: &[f64],
    y: &[u32],
    classes: usize,
    batch: usize,
    updates: usize,
    lr: f64,
    rng: &mut impl Rng,
) -> Result<Vec<f64>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        by_class
            .get_mut(c as usize)
            .ok_or_else(|| Error::invalid("label", format!("{c} ≥ {classes} classes")))?
            .push(i);
    }
    if let Some(c) = by_class.iter().position(Vec::is_empty) {
        return Err(Error::invalid(
            "lws",
            format!("class {c} has no training samples"),
        ));
    }
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut f = vec![1.0; classes];
    let (mut m, mut v) = (vec![0.0; classes], vec![0.0; classes]);
    let (mut zb, mut yb) = (
        Vec::with_capacity(batch * classes),
        Vec::with_capacity(batch),
    );
    for t in 1..=updates {
        zb.clear();
        yb.clear();
        for _ in 0..batch {
            let c = rng.gen_range(0..classes);
            let i = by_class[c][rng.gen_range(0..by_class[c].len())];
            zb.extend_from_slice(&z[i * classes..(i + 1) * classes]);
            yb.push(c as u32);
        }
        let (_, g) = lws_loss(&zb, &yb, &f);
        for j in 0..classes {
            m[j] = b1 * m[j] + (1.0 - b1) * g[j];
            v[j] = b2 * v[j] + (1.0 - b2) * g[j] * g[j];
            let mh = m[j] / (1.0 - b1.powi(t as i32));
            let vh = v[j] / (1.0 - b2.powi(t as i32));
            f[j] -= lr * mh / (vh.sqrt() + eps);
        }
    }
    if f.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("LWS scales {f:?}")));
    }
    Ok(f)
}

/// Learning rates LWS tries on the validation split.
pub const LWS_LRS: [f64; 3] = [1e-3, 1e-2, 1e-1];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tau_zero_is_the_identity_and_tau_one_gives_unit_columns() {
        // d_in = 2, classes = 2: columns (3, 4) and (0, 2).
        let w = [3.0, 0.0, 4.0, 2.0];
        assert_eq!(tau_normalise(&w, 2, 2, 0.0), w.to_vec());
        assert_eq!(tau_normalise(&w, 2, 2, 1.0), vec![0.6, 0.0, 0.8, 1.0]);
        // τ = 0.5: column norms 5 and 2 divided by √5 and √2.
        let h = tau_normalise(&w, 2, 2, 0.5);
        let want = [3.0 / 5f32.sqrt(), 0.0, 4.0 / 5f32.sqrt(), 2.0 / 2f32.sqrt()];
        for (a, b) in h.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{h:?}");
        }
    }

    #[test]
    fn logit_adjustment_subtracts_tau_log_prior() {
        // Priors 3/4 and 1/4.
        let b = adjust_bias(&[0.0, 0.0], &[30, 10], 1.0).unwrap();
        assert!((b[0] - -(0.75f64.ln()) as f32).abs() < 1e-6);
        assert!((b[1] - -(0.25f64.ln()) as f32).abs() < 1e-6);
        // The rare class gains log 3 over the common one.
        assert!(((b[1] - b[0]) as f64 - 3f64.ln()).abs() < 1e-6);
        assert_eq!(
            adjust_bias(&[1.0, 2.0], &[30, 10], 0.0).unwrap(),
            vec![1.0, 2.0]
        );
        assert!(adjust_bias(&[0.0, 0.0], &[30, 0], 1.0).is_err());
    }

    #[test]
    fn lws_gradient_matches_finite_differences() {
        let z = [1.0, -2.0, 0.5, 0.3, 0.7, -1.1, 2.0, 0.1, -0.4];
        let y = [0, 2, 1];
        let f = [1.2, 0.8, 1.5];
        let (_, g) = lws_loss(&z, &y, &f);
        let h = 1e-6;
        for j in 0..3 {
            let mut fp = f;
            fp[j] += h;
            let mut fm = f;
            fm[j] -= h;
            let fd = (lws_loss(&z, &y, &fp).0 - lws_loss(&z, &y, &fm).0) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-8, "f_{j}: {fd} vs {}", g[j]);
        }
    }

    #[test]
    fn lws_raises_the_scale_of_a_class_the_classifier_under_scores() {
        // Class 1's logit is right in sign but small: balanced training scales it up.
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let c = (i % 2) as u32;
            if c == 0 {
                z.extend([2.0, -0.1]);
            } else {
                z.extend([-0.1, 0.1]);
            }
            y.push(c);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        use rand::SeedableRng;
        let f = learn_scales(&z, &y, 2, 16, 300, 1e-1, &mut rng).unwrap();
        assert!(f[1] > 3.0, "{f:?}");
    }
}
