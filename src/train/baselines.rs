//! Baselines trained from the same Phase 1 checkpoint as Convex-GAN (issue: fair comparison):
//! Q fine-tuned on real features only, with a re-weighting loss (focal, LDAM), with class-balanced
//! resampling (cRT), with deferred re-weighting (DRW), or on a SMOTE-balanced feature set
//! (METHOD.md §8, §10). They use Phase 2's optimizer, learning rate and number of Q updates, so
//! the comparison isolates the generated samples. [`finetune_q`] is the one training loop; the
//! other over-samplers are in [`oversample`](super::oversample), the post-hoc corrections in
//! [`posthoc`](super::posthoc).

use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;

use super::EpochLog;
use crate::backend::{Backend, Tensor};
use crate::config::{Phase2Config, QLoss};
use crate::error::{Error, Result};
use crate::internal::progress;
use crate::nn::{Adam, Mlp, Mode};

/// How fine-tuning batches are drawn from the real features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// Uniform over samples: the training set's own (imbalanced) class frequencies.
    Natural,
    /// A class uniformly, then one of its samples.
    ClassBalanced,
    /// Natural batches; from the second half of the epochs on, each sample's loss weighted by its
    /// class's effective-number weight with β = [`DRW_BETA`] (deferred re-weighting, DRW: Cao et
    /// al. 2019's schedule with Cui et al. 2019's weights, [`effective_number_weights`]).
    DeferredReweight,
}

/// β of DRW's effective-number weights (Cao et al. 2019 use Cui et al.'s 0.9999).
pub const DRW_BETA: f64 = 0.9999;

/// Class-balanced weights from the effective number of samples (Cui, Jia, Lin, Song, Belongie,
/// *Class-Balanced Loss Based on Effective Number of Samples*, CVPR 2019, Eq. 2 and Sec. 4):
/// `w_c ∝ (1 − β) / (1 − β^{n_c})`, normalised so that they sum to the number of classes. One
/// weight per entry of `counts`; an error when β is outside `[0, 1)`, `counts` is empty or a
/// count is 0.
pub fn effective_number_weights(counts: &[usize], beta: f64) -> Result<Vec<f64>> {
    if !(0.0..1.0).contains(&beta) || counts.contains(&0) || counts.is_empty() {
        return Err(Error::invalid(
            "effective-number weights",
            format!("β = {beta} (must be in [0, 1)), counts {counts:?} (each at least 1)"),
        ));
    }
    let raw: Vec<f64> = counts
        .iter()
        .map(|&n| (1.0 - beta) / (1.0 - beta.powi(n.min(i32::MAX as usize) as i32)))
        .collect();
    let total: f64 = raw.iter().sum();
    Ok(raw
        .iter()
        .map(|w| w * counts.len() as f64 / total)
        .collect())
}

/// Fine-tunes `q` on `feats` (`N × d`, on the backend) with labels `labels` for `updates_per_epoch`
/// updates in each of `cfg.epochs` epochs.
///
/// `counts` (one per class, `N_C` entries) gives the class count for the LDAM margins and DRW's
/// weights; `q_loss` is the class loss and `sampling` how each batch of `cfg.batch` rows is drawn
/// from `rng`. Adam at `cfg.lr`'s rate for the epoch, from a fresh state. Returns one `finetune`
/// log per epoch with the mean loss under `q_loss`'s name.
///
/// # Errors
///
/// No rows, `feats` and `labels` of different lengths, a label not below `counts.len()`, an empty
/// class under [`Sampling::ClassBalanced`], a count of 0 for LDAM or DRW, or a non-finite loss.
#[allow(clippy::too_many_arguments)]
pub fn finetune_q<B: Backend>(
    be: &B,
    q: &mut Mlp<B>,
    feats: &Tensor<B>,
    labels: &[u32],
    counts: &[usize],
    q_loss: QLoss,
    sampling: Sampling,
    cfg: &Phase2Config,
    updates_per_epoch: usize,
    rng: &mut impl Rng,
    show_progress: bool,
) -> Result<Vec<EpochLog>> {
    let n = labels.len();
    if feats.rows() != n || n == 0 {
        return Err(Error::shape(
            "finetune_q",
            format!("{} feature rows, {n} labels", feats.rows()),
        ));
    }
    let classes = counts.len();
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (i, &c) in labels.iter().enumerate() {
        let c = c as usize;
        if c >= classes {
            return Err(Error::invalid("label", format!("{c} ≥ {classes} classes")));
        }
        by_class[c].push(i as u32);
    }
    if sampling == Sampling::ClassBalanced {
        if let Some(c) = by_class.iter().position(Vec::is_empty) {
            return Err(Error::invalid(
                "training set",
                format!("class {c} has no samples"),
            ));
        }
    }
    let margins = super::phase2::class_loss_margins(
        be,
        &Phase2Config {
            q_loss,
            ..cfg.clone()
        },
        counts,
    )?;
    let loss = super::phase2::class_loss_of(q_loss, cfg, margins.as_ref())?;
    let drw = match sampling {
        Sampling::DeferredReweight => Some(effective_number_weights(counts, DRW_BETA)?),
        _ => None,
    };
    // DRW's second stage starts halfway (Cao et al. 2019 defer to the last learning-rate stage).
    let drw_from = cfg.epochs / 2;
    let mut adam = Adam::default();
    let batch = cfg.batch;
    let pb = progress::bar(
        (cfg.epochs * updates_per_epoch) as u64,
        "fine-tune",
        show_progress,
    );
    let mut logs = Vec::new();
    for epoch in 0..cfg.epochs {
        let lr = cfg.lr.at(epoch);
        let mut losses = Vec::with_capacity(updates_per_epoch);
        for _ in 0..updates_per_epoch {
            let idx: Vec<u32> = (0..batch)
                .map(|_| match sampling {
                    Sampling::Natural | Sampling::DeferredReweight => rng.gen_range(0..n as u32),
                    Sampling::ClassBalanced => {
                        let members = &by_class[rng.gen_range(0..classes)];
                        members[rng.gen_range(0..members.len())]
                    }
                })
                .collect();
            let y: Vec<u32> = idx.iter().map(|&i| labels[i as usize]).collect();
            let xb = be.gather_rows(feats, &be.upload_indices(&idx)?)?;
            let yb = be.upload_indices(&y)?;
            let logits = q.forward(be, &xb, Mode::Train)?;
            let (l, mut dl) = be.class_loss(&logits, &yb, loss)?;
            if let (Some(w), true) = (&drw, epoch >= drw_from) {
                // The weighted mean Σ w_b ℓ_b / Σ w_b: row b of the mean's gradient times
                // B·w_b / Σ w, through one product with a diagonal matrix.
                let wb: Vec<f64> = y.iter().map(|&c| w[c as usize]).collect();
                let sum: f64 = wb.iter().sum();
                let mut diag = vec![0f32; batch * batch];
                for (b, &v) in wb.iter().enumerate() {
                    diag[b * batch + b] = (v * batch as f64 / sum) as f32;
                }
                dl = be.matmul(&be.upload_f32(&diag, batch, batch)?, false, &dl, false)?;
            }
            q.backward(be, &dl, false)?;
            adam.step(be, lr, q.params_mut())?;
            losses.push(l);
            pb.inc(1);
        }
        let mut log = EpochLog::new("finetune", epoch);
        log.add_mean(be, q_loss.name(), &losses)?;
        log.check_finite()?;
        logs.push(log);
    }
    pb.finish_and_clear();
    Ok(logs)
}

/// Feature-space SMOTE (imbalanced-learn's definition): every class is raised to the majority
/// count with points `x_i + u·(x_nn − x_i)`, `x_i` a uniformly drawn member, `x_nn` one of its
/// `k` nearest neighbours within the class (Euclidean), `u ~ U[0, 1)`. Returns the original samples
/// followed by the synthetic ones.
///
/// `feats` is `labels.len() × dim`, row-major; the output rows are as wide, class after class
/// after the originals. `k` is lowered to a class's size − 1. An error on `feats` of the wrong
/// length, `k = 0`, a label not below `classes`, or a class below the majority with fewer than 2
/// rows.
pub fn smote(
    feats: &[f32],
    dim: usize,
    labels: &[u32],
    classes: usize,
    k: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let n = labels.len();
    if feats.len() != n * dim || k == 0 {
        return Err(Error::shape(
            "smote",
            format!(
                "{} values for {n} samples of width {dim} (k = {k})",
                feats.len()
            ),
        ));
    }
    let x = ArrayView2::from_shape((n, dim), feats)
        .map_err(|e| Error::shape("smote", e.to_string()))?;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in labels.iter().enumerate() {
        members
            .get_mut(c as usize)
            .ok_or_else(|| Error::invalid("label", format!("{c} ≥ {classes} classes")))?
            .push(i);
    }
    let target = members.iter().map(Vec::len).max().unwrap_or(0);
    let mut out_x = feats.to_vec();
    let mut out_y = labels.to_vec();
    for (c, m) in members.iter().enumerate() {
        let need = target - m.len();
        if need == 0 {
            continue;
        }
        if m.len() < 2 {
            return Err(Error::invalid(
                "smote",
                format!(
                    "class {c} has {} sample(s); SMOTE needs at least 2",
                    m.len()
                ),
            ));
        }
        let kk = k.min(m.len() - 1);
        let xc = x.select(Axis(0), m);
        let nn = nearest_neighbours(&xc, kk);
        for _ in 0..need {
            let i = rng.gen_range(0..m.len());
            let j = nn[i * kk + rng.gen_range(0..kk)];
            let u: f32 = rng.gen_range(0.0..1.0);
            let (a, b) = (xc.row(i), xc.row(j));
            out_x.extend(a.iter().zip(b.iter()).map(|(&a, &b)| a + u * (b - a)));
            out_y.push(c as u32);
        }
    }
    Ok((out_x, out_y))
}

/// The `k` nearest other rows of each row (brute force through one product), `n × k` row-major.
fn nearest_neighbours(x: &Array2<f32>, k: usize) -> Vec<usize> {
    let n = x.nrows();
    let sq: Vec<f32> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let gram = x.dot(&x.t());
    let mut out = Vec::with_capacity(n * k);
    let mut cand: Vec<(f32, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        cand.clear();
        cand.extend(
            (0..n)
                .filter(|&j| j != i)
                .map(|j| (sq[i] + sq[j] - 2.0 * gram[[i, j]], j)),
        );
        cand.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut top: Vec<(f32, usize)> = cand[..k].to_vec();
        top.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.extend(top.into_iter().map(|(_, j)| j));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_number_weights_in_closed_form() {
        // β = 0.5: raw (1 − β)/(1 − β^n) = 0.5/0.5 = 1 for n = 1 and 0.5/0.75 = 2/3 for n = 2;
        // normalised to sum to 2: 1.2 and 0.8.
        let w = effective_number_weights(&[1, 2], 0.5).unwrap();
        assert!(
            (w[0] - 1.2).abs() < 1e-12 && (w[1] - 0.8).abs() < 1e-12,
            "{w:?}"
        );
        // β = 0: every class weighs 1 (no re-weighting).
        assert_eq!(
            effective_number_weights(&[5, 500], 0.0).unwrap(),
            vec![1.0, 1.0]
        );
        // β → 1 approaches inverse frequency: 1/n normalised.
        let w = effective_number_weights(&[100, 1000], 0.999999).unwrap();
        assert!((w[0] / w[1] - 10.0).abs() < 0.01, "{w:?}");
        assert!(effective_number_weights(&[0, 3], 0.9).is_err());
        assert!(effective_number_weights(&[1, 3], 1.0).is_err());
    }
}
