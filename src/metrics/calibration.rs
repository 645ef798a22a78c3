//! Expected calibration error and the reliability diagram's bins (Guo, Pleiss, Sun, Weinberger,
//! *On Calibration of Modern Neural Networks*, ICML 2017, Eq. 3): the test samples binned by their
//! confidence (the largest softmax probability) into equal-width bins of (0, 1];
//! `ECE = Σ_b (n_b / N) · |acc(b) − conf(b)|`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bins of the reliability diagram (Guo et al. use 15).
pub const BINS: usize = 15;

/// One confidence bin `(lo, hi]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lower confidence bound (excluded), `b / bins`.
    pub lo: f64,
    /// Upper confidence bound (included), `(b + 1) / bins`.
    pub hi: f64,
    /// Test samples whose confidence falls in the bin.
    pub count: u64,
    /// Fraction of the bin's samples predicted correctly (`None` when empty).
    pub accuracy: Option<f64>,
    /// Mean confidence of the bin's samples (`None` when empty).
    pub confidence: Option<f64>,
}

/// ECE and the bins it was computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Expected calibration error, in [0, 1].
    pub ece: f64,
    /// The reliability diagram's bins, lowest confidence first.
    pub bins: Vec<Bin>,
}

/// Calibration of `scores` (logits, `labels.len() × classes`, row-major; the softmax is taken
/// here) against `labels`, in `bins` equal-width bins. The prediction is the argmax (lowest index
/// among equal maxima). An error when `classes` or `bins` is 0, `scores` has the wrong length, or
/// there is no sample.
pub fn calibration(
    scores: &[f32],
    labels: &[u32],
    classes: usize,
    bins: usize,
) -> Result<Calibration> {
    if classes == 0 || bins == 0 || scores.len() != labels.len() * classes || labels.is_empty() {
        return Err(Error::shape(
            "calibration",
            format!(
                "{} scores, {} labels, {classes} classes, {bins} bins",
                scores.len(),
                labels.len()
            ),
        ));
    }
    let mut count = vec![0u64; bins];
    let mut correct = vec![0u64; bins];
    let mut conf = vec![0f64; bins];
    for (row, &y) in scores.chunks(classes).zip(labels) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        let (pred, _) =
            row.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
        let p = 1.0 / sum; // the largest probability: exp(0) / Σ
                           // (lo, hi] bins; a confidence of exactly 1 goes to the last.
        let b = ((p * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        count[b] += 1;
        conf[b] += p;
        correct[b] += u64::from(pred == y as usize);
    }
    let n = labels.len() as f64;
    let mut ece = 0.0;
    let bins_out = (0..bins)
        .map(|b| {
            let (acc, cf) = if count[b] == 0 {
                (None, None)
            } else {
                let c = count[b] as f64;
                ece += c / n * (correct[b] as f64 / c - conf[b] / c).abs();
                (Some(correct[b] as f64 / c), Some(conf[b] / c))
            };
            Bin {
                lo: b as f64 / bins as f64,
                hi: (b + 1) as f64 / bins as f64,
                count: count[b],
                accuracy: acc,
                confidence: cf,
            }
        })
        .collect();
    Ok(Calibration {
        ece,
        bins: bins_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_by_hand() {
        // Two classes. Sample 0: logits (ln 3, 0) → p = 0.75 for class 0, correct.
        // Sample 1: the same, but the truth is class 1 (wrong). Sample 2: (0, 0) → p = 0.5,
        // predicted class 0 (lowest index), truth 0. With 2 bins (0, .5], (.5, 1]:
        // bin 1 holds samples 0 and 1 (acc 0.5, conf 0.75), bin 0 holds sample 2 (acc 1, conf 0.5).
        let l3 = 3f32.ln();
        let scores = [l3, 0.0, l3, 0.0, 0.0, 0.0];
        let c = calibration(&scores, &[0, 1, 0], 2, 2).unwrap();
        let want = 2.0 / 3.0 * 0.25 + 1.0 / 3.0 * 0.5;
        assert!((c.ece - want).abs() < 1e-6, "{} vs {want}", c.ece);
        assert_eq!((c.bins[0].count, c.bins[1].count), (1, 2));
        assert!((c.bins[1].confidence.unwrap() - 0.75).abs() < 1e-6);
        assert_eq!(c.bins[1].accuracy, Some(0.5));
    }

    #[test]
    fn a_perfectly_confident_correct_classifier_is_calibrated() {
        let scores = [50.0, 0.0, 0.0, 50.0];
        let c = calibration(&scores, &[0, 1], 2, BINS).unwrap();
        assert!(c.ece < 1e-9, "{}", c.ece);
        assert_eq!(c.bins[BINS - 1].count, 2);
        assert_eq!(c.bins[0].accuracy, None);
    }
}
