//! Metrics of METHOD.md §5 (the paper's Eq. 6): per-class recall, ACSA (average class-specific
//! accuracy, the mean recall), GM (geometric mean of the recalls), top-1 and top-k accuracy.
//!
//! **Choice** (empty classes): a class with no test samples has no recall. [`recall_per_class`]
//! reports it as NaN, and [`acsa`](ConfusionMatrix::acsa) / [`gm`](ConfusionMatrix::gm) return an
//! error naming the class rather than silently averaging over fewer classes (which would inflate
//! both) or counting it as 0 (which would zero GM). The Fashion-MNIST test set holds every class
//! (METHOD.md §5 says what a features file's test split may lack), so there the error
//! only fires on a wrong test set.
//!
//! **Choice** (ties): [`top_k`] ranks the true class below every other class with an equal score,
//! so a tie at the k-th place counts as a miss. The confusion matrix needs one predicted class per
//! sample and [`argmax`] gives the lowest index among equal maxima; the two top-1 numbers agree
//! whenever no sample has an exact tie at its maximum score.
//!
//! [`recall_per_class`]: ConfusionMatrix::recall_per_class

pub mod calibration;
pub mod longtail;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use calibration::{calibration, Calibration};
pub use longtail::{class_scores, shot_groups, ClassScores, Group, ShotThresholds};

/// Counts `a[t][p]` of test samples of true class `t` predicted as `p` (rows: truth).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An all-zero `classes × classes` matrix.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts one sample of class `truth` predicted as `pred`; an error when either is not below
    /// the class count.
    pub fn add(&mut self, truth: usize, pred: usize) -> Result<()> {
        if truth >= self.classes || pred >= self.classes {
            return Err(Error::invalid(
                "confusion matrix entry",
                format!(
                    "true class {truth}, predicted {pred}: both must be below {}",
                    self.classes
                ),
            ));
        }
        self.counts[truth * self.classes + pred] += 1;
        Ok(())
    }

    /// The matrix of paired true and predicted labels (both class indices below `classes`); an
    /// error when the two differ in length or a label is out of range.
    pub fn from_predictions(truth: &[u32], pred: &[u32], classes: usize) -> Result<Self> {
        if truth.len() != pred.len() {
            return Err(Error::shape(
                "confusion matrix",
                format!("{} labels but {} predictions", truth.len(), pred.len()),
            ));
        }
        let mut cm = ConfusionMatrix::new(classes);
        for (&t, &p) in truth.iter().zip(pred) {
            cm.add(t as usize, p as usize)?;
        }
        Ok(cm)
    }

    /// Number of classes `N_C` (the matrix is `N_C × N_C`).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of class `truth` predicted as `pred` (0 outside the matrix).
    pub fn get(&self, truth: usize, pred: usize) -> u64 {
        if truth < self.classes && pred < self.classes {
            self.counts[truth * self.classes + pred]
        } else {
            0
        }
    }

    /// The matrix as rows (true class) of columns (predicted class).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Test samples of each true class (row sums).
    pub fn support(&self) -> Vec<u64> {
        (0..self.classes)
            .map(|t| (0..self.classes).map(|p| self.get(t, p)).sum())
            .collect()
    }

    /// Samples counted (the sum of all entries).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Correct predictions (the diagonal's sum).
    pub fn trace(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// `r_i = a_ii / Σ_j a_ij`; NaN for a class with no samples.
    pub fn recall_per_class(&self) -> Vec<f64> {
        self.support()
            .iter()
            .enumerate()
            .map(|(c, &n)| {
                if n == 0 {
                    f64::NAN
                } else {
                    self.get(c, c) as f64 / n as f64
                }
            })
            .collect()
    }

    /// Fraction of all samples predicted correctly; an error when the matrix is empty.
    pub fn top1(&self) -> Result<f64> {
        let total = self.total();
        if total == 0 {
            return Err(Error::invalid(
                "metrics",
                "no samples in the confusion matrix",
            ));
        }
        Ok(self.trace() as f64 / total as f64)
    }

    /// ACSA, the mean of the per-class recalls (the paper's Eq. 6); an error if a class has no
    /// samples or the matrix has no class.
    pub fn acsa(&self) -> Result<f64> {
        let r = self.checked_recalls()?;
        Ok(r.iter().sum::<f64>() / r.len() as f64)
    }

    /// GM, `(Π r_i)^(1/N_C)` (the paper's Eq. 6), 0 when any recall is 0; computed as
    /// `exp(mean ln r_i)` so that many small recalls do not underflow the product. An error if a
    /// class has no samples or the matrix has no class.
    pub fn gm(&self) -> Result<f64> {
        let r = self.checked_recalls()?;
        if r.contains(&0.0) {
            return Ok(0.0);
        }
        Ok((r.iter().map(|v| v.ln()).sum::<f64>() / r.len() as f64).exp())
    }

    fn checked_recalls(&self) -> Result<Vec<f64>> {
        if self.classes == 0 {
            return Err(Error::invalid("metrics", "confusion matrix with 0 classes"));
        }
        let r = self.recall_per_class();
        if let Some(c) = r.iter().position(|v| v.is_nan()) {
            return Err(Error::invalid(
                "metrics",
                format!("class {c} has no test samples, so its recall (and ACSA, GM) is undefined"),
            ));
        }
        Ok(r)
    }
}

/// Checks that `scores` is `labels.len() × classes`, labels are in range and every score is finite.
fn check_scores(scores: &[f32], labels: &[u32], classes: usize) -> Result<()> {
    if classes == 0 {
        return Err(Error::invalid("metrics", "0 classes"));
    }
    if Some(scores.len()) != labels.len().checked_mul(classes) {
        return Err(Error::shape(
            "metrics",
            format!(
                "scores hold {} values, expected labels × classes = {} × {classes}",
                scores.len(),
                labels.len()
            ),
        ));
    }
    if let Some((i, &c)) = labels
        .iter()
        .enumerate()
        .find(|(_, &c)| c as usize >= classes)
    {
        return Err(Error::invalid(
            "metrics",
            format!("label {c} of sample {i} is not below {classes} classes"),
        ));
    }
    // An infinite score is no better than a NaN: the softmax of the calibration turns it into one.
    if let Some(k) = scores.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "scores, sample {} class {}",
            k / classes,
            k % classes
        )));
    }
    Ok(())
}

/// The highest-scoring class of each row of `scores` (`n × classes`, row-major), the lowest index
/// among equal maxima. An error when `scores` does not split into rows of `classes` (or
/// `classes = 0`), or on a NaN or infinite score.
pub fn argmax(scores: &[f32], classes: usize) -> Result<Vec<u32>> {
    if classes == 0 || !scores.len().is_multiple_of(classes) {
        return Err(Error::shape(
            "argmax",
            format!(
                "{} scores do not split into rows of {classes} classes",
                scores.len()
            ),
        ));
    }
    scores
        .chunks_exact(classes)
        .enumerate()
        .map(|(i, row)| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(Error::NonFinite(format!("scores, sample {i} class {j}")));
                }
                if v > row[best] {
                    best = j;
                }
            }
            Ok(best as u32)
        })
        .collect()
}

/// Fraction of samples whose true class is among the `k` highest scores. The true class's rank is
/// the number of other classes scoring strictly higher plus the number scoring the same (ties go
/// against the truth); a hit is a rank below `k`. `scores` is `labels.len() × classes`, row-major.
/// An error on a shape mismatch, a label not below `classes`, a NaN or infinite score, `k = 0` or no samples.
pub fn top_k(scores: &[f32], labels: &[u32], classes: usize, k: usize) -> Result<f64> {
    check_scores(scores, labels, classes)?;
    if k == 0 {
        return Err(Error::invalid("top-k", "k must be at least 1"));
    }
    if labels.is_empty() {
        return Err(Error::invalid("metrics", "no samples"));
    }
    let hits = scores
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &y)| {
            let s = row[y as usize];
            let rank = row
                .iter()
                .enumerate()
                .filter(|&(j, &v)| j != y as usize && v >= s)
                .count();
            rank < k
        })
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Everything METHOD.md §5 asks a report to give about one test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Trace over total of the confusion matrix (argmax predictions).
    pub top1: f64,
    /// Top-5 accuracy with ties against the truth; only when there are more than 5 classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top5: Option<f64>,
    /// Average class-specific accuracy, the mean per-class recall (the paper's Eq. 6).
    pub acsa: f64,
    /// Geometric mean of the per-class recalls (the paper's Eq. 6); 0 when a recall is 0.
    pub gm: f64,
    /// Recall of each class.
    pub recall: Vec<f64>,
    /// Test samples of each class.
    pub support: Vec<u64>,
    /// Rows: true class; columns: predicted class.
    pub confusion: Vec<Vec<u64>>,
    /// Precision, recall, F1 and specificity of each class.
    #[serde(default)]
    pub per_class: Vec<ClassScores>,
    /// Expected calibration error over 15 confidence bins, and the bins.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

/// Metrics of `scores` (`labels.len() × classes`, row-major f32 logits) against `labels`. Every
/// metric but the calibration depends only on each row's order; the calibration reads the scores
/// as logits (softmax). An error if a class has no test samples (see the module notes), on a
/// shape mismatch, a label not below `classes`, a NaN or infinite score, or no samples.
pub fn evaluate(scores: &[f32], labels: &[u32], classes: usize) -> Result<Metrics> {
    check_scores(scores, labels, classes)?;
    let pred = argmax(scores, classes)?;
    let cm = ConfusionMatrix::from_predictions(labels, &pred, classes)?;
    Ok(Metrics {
        top1: cm.top1()?,
        top5: if classes > 5 {
            Some(top_k(scores, labels, classes, 5)?)
        } else {
            None
        },
        acsa: cm.acsa()?,
        gm: cm.gm()?,
        recall: cm.recall_per_class(),
        support: cm.support(),
        confusion: cm.rows(),
        per_class: class_scores(&cm),
        calibration: Some(calibration(scores, labels, classes, calibration::BINS)?),
    })
}
