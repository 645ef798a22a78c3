//! Reference for the losses family: row softmax, classifier losses (CE, MSE-on-softmax, focal,
//! LDAM) and the visibility BCE.
//!
//! Per-row work is done in f64 whatever `T` is: these ops touch `B × N_C` values, so the cost is
//! nil, and the f32 instantiation then differs from the f64 oracle only by the final rounding.

use ndarray::Array2;

use super::{tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, ClassLoss, Indices, Scalar, Tensor};
use crate::error::{Error, Result};

/// A loss as `1 × 1` and its gradient.
type LossGrad<T> = (Tensor<Cpu<T>>, Tensor<Cpu<T>>);

/// Stable softmax of `z` into `p` (same length; the maximum is subtracted first, so logits of
/// ±1e4 stay finite); returns `(max, log Σ exp(z − max))` so that callers can form the
/// log-softmax `z_j − max − lse` without taking the log of an underflowed probability. The one
/// softmax of the CPU reference (losses, lsgan and convex use it).
pub(super) fn softmax_into<T: Scalar>(z: &[T], p: &mut [T]) -> (T, T) {
    let m = z.iter().copied().fold(T::neg_infinity(), T::max);
    let mut s = T::zero();
    for (pj, &zj) in p.iter_mut().zip(z) {
        *pj = (zj - m).exp();
        s += *pj;
    }
    p.iter_mut().for_each(|pj| *pj /= s);
    (m, s.ln())
}

/// LDAM margins (Cao et al. 2019): `Δ_j ∝ n_j^{-1/4}`, scaled so that the rarest class gets
/// `max_margin` (default 0.5, METHOD.md §4).
pub fn ldam_margins(counts: &[usize], max_margin: f64) -> Result<Vec<f64>> {
    if counts.is_empty() {
        return Err(Error::invalid("LDAM class counts", "no classes"));
    }
    if let Some(j) = counts.iter().position(|&n| n == 0) {
        return Err(Error::invalid(
            "LDAM class counts",
            format!("class {j} has no training samples, so its margin n^(-1/4) is undefined"),
        ));
    }
    if !(max_margin.is_finite() && max_margin >= 0.0) {
        return Err(Error::invalid(
            "LDAM max margin",
            format!("must be finite and ≥ 0, got {max_margin}"),
        ));
    }
    let raw: Vec<f64> = counts.iter().map(|&n| (n as f64).powf(-0.25)).collect();
    let top = raw.iter().copied().fold(0.0, f64::max);
    Ok(raw.into_iter().map(|r| max_margin * r / top).collect())
}

impl<T: Scalar> LossOps for Cpu<T> {
    fn softmax_rows(&self, x: &Tensor<Cpu<T>>) -> Result<Tensor<Cpu<T>>> {
        let n = x.cols;
        let mut z = vec![0.0; n];
        let mut p = vec![0.0; n];
        let mut out = Array2::<T>::zeros((x.rows, n));
        for (xr, mut or) in x.buf.rows().into_iter().zip(out.rows_mut()) {
            z.iter_mut().zip(xr).for_each(|(d, &s)| *d = s.as_f64());
            softmax_into(&z, &mut p);
            or.iter_mut().zip(&p).for_each(|(d, &s)| *d = T::of(s));
        }
        Ok(tensor(out))
    }

    fn class_loss(
        &self,
        logits: &Tensor<Cpu<T>>,
        labels: &Indices<Cpu<T>>,
        loss: ClassLoss<'_, Cpu<T>>,
    ) -> Result<LossGrad<T>> {
        const OP: &str = "class_loss";
        let (b, n) = check::class_loss(OP, logits, labels)?;
        if let Some(&c) = labels.buf.iter().find(|&&c| c as usize >= n) {
            return Err(Error::shape(
                OP,
                format!("label {c} out of range for {n} classes"),
            ));
        }
        check::class_loss_params(OP, loss, n)?;
        let margins: Option<Vec<f64>> = match loss {
            ClassLoss::Ldam { margins, .. } => {
                Some(margins.buf.iter().map(|v| v.as_f64()).collect())
            }
            _ => None,
        };

        let inv_b = 1.0 / b as f64;
        let mut total = 0.0f64;
        let mut z = vec![0.0; n];
        let mut p = vec![0.0; n];
        let mut g = vec![0.0; n];
        let mut grad = Array2::<T>::zeros((b, n));
        for ((zr, mut gr), &c) in logits
            .buf
            .rows()
            .into_iter()
            .zip(grad.rows_mut())
            .zip(&labels.buf)
        {
            let c = c as usize;
            z.iter_mut().zip(zr).for_each(|(d, &s)| *d = s.as_f64());
            let row_loss = match loss {
                ClassLoss::Ce => {
                    let (m, lse) = softmax_into(&z, &mut p);
                    g.copy_from_slice(&p);
                    g[c] -= 1.0;
                    -(z[c] - m - lse)
                }
                ClassLoss::Mse => {
                    softmax_into(&z, &mut p);
                    // dL/dp_j = 2(p_j − y_j); through the softmax, dL/dz_k = p_k (dL/dp_k − Σ_j p_j dL/dp_j).
                    let mut l = 0.0;
                    let mut pg = 0.0;
                    for j in 0..n {
                        let d = p[j] - if j == c { 1.0 } else { 0.0 };
                        l += d * d;
                        g[j] = 2.0 * d;
                        pg += p[j] * g[j];
                    }
                    for j in 0..n {
                        g[j] = p[j] * (g[j] - pg);
                    }
                    l
                }
                ClassLoss::Focal { gamma } => {
                    let (m, lse) = softmax_into(&z, &mut p);
                    // q = 1 − p_c summed from the other classes keeps its relative precision when
                    // p_c → 1, where 1 − p_c would cancel to 0.
                    let q: f64 = (0..n).filter(|&j| j != c).map(|j| p[j]).sum();
                    // log p_c: from log1p(−q) when p_c is near 1 (accurate there), else from the
                    // log-softmax (accurate when p_c underflows).
                    let logp = if q < 0.5 {
                        (-q).ln_1p()
                    } else {
                        z[c] - m - lse
                    };
                    // r = log(p_c)/q → −1 as q → 0; finite everywhere so γ < 1 gives no ∞·0.
                    let r = if q > 0.0 { logp / q } else { -1.0 };
                    let qg = q.powf(gamma);
                    // L = −q^γ log p_c, dL/dz_k = A (δ_ck − p_k) with A = γ q^{γ−1} p_c log p_c − q^γ.
                    let a = gamma * qg * r * p[c] - qg;
                    for j in 0..n {
                        g[j] = -a * p[j];
                    }
                    g[c] = a * q;
                    -qg * logp
                }
                ClassLoss::Ldam { s, .. } => {
                    let delta = margins.as_ref().map_or(0.0, |d| d[c]);
                    z.iter_mut().for_each(|v| *v *= s);
                    z[c] -= s * delta;
                    let (m, lse) = softmax_into(&z, &mut p);
                    for j in 0..n {
                        g[j] = s * p[j];
                    }
                    g[c] -= s;
                    -(z[c] - m - lse)
                }
            };
            total += row_loss;
            gr.iter_mut()
                .zip(&g)
                .for_each(|(d, &v)| *d = T::of(v * inv_b));
        }
        let loss = Array2::from_elem((1, 1), T::of(total * inv_b));
        Ok((tensor(loss), tensor(grad)))
    }

    fn bce_logits(&self, logits: &Tensor<Cpu<T>>, targets: &Tensor<Cpu<T>>) -> Result<LossGrad<T>> {
        let (b, _) = check::bce_logits("bce_logits", logits, targets)?;
        let inv_b = 1.0 / b as f64;
        let mut total = 0.0f64;
        let grad = ndarray::Zip::from(&logits.buf)
            .and(&targets.buf)
            .map_collect(|&x, &t| {
                let (x, t) = (x.as_f64(), t.as_f64());
                total += x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
                // σ(x) without overflow of exp for large |x|.
                let sig = if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                };
                T::of((sig - t) * inv_b)
            });
        let loss = Array2::from_elem((1, 1), T::of(total * inv_b));
        Ok((tensor(loss), tensor(grad)))
    }
}
