//! What long-tail practitioners read first: accuracy on the many-, medium- and few-shot classes
//! (Liu et al., *Large-Scale Long-Tailed Recognition in an Open World*, CVPR 2019: more than 100,
//! 20 to 100, fewer than 20 training images), and per-class precision, recall, F1 and specificity.

use serde::{Deserialize, Serialize};

use super::ConfusionMatrix;
use crate::error::{Error, Result};

/// Where the shot groups split, by training images per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShotThresholds {
    /// Many-shot: more than this many training images (Liu et al.: 100).
    pub many_above: usize,
    /// Few-shot: fewer than this many (Liu et al.: 20); medium-shot is everything between.
    pub few_below: usize,
}

impl Default for ShotThresholds {
    fn default() -> Self {
        ShotThresholds {
            many_above: 100,
            few_below: 20,
        }
    }
}

/// Accuracy (mean recall) over one group of classes; `None` when the group is empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group and its bounds, as reports print it (`"many (> 100)"`, `"rarest third"`).
    pub name: String,
    /// Class indices in the group, ascending for the shot groups, by training count (commonest
    /// first) for the terciles.
    pub classes: Vec<usize>,
    /// Mean recall over the group's classes; `None` when it has none.
    pub accuracy: Option<f64>,
}

/// Many / medium / few-shot accuracy under `t` (the groups' names say their bounds), and the same
/// by terciles of the classes ordered by training count, returned commonest third, middle third,
/// rarest third (sizes differing by at most one, the larger first): the alternative when a
/// fixed-threshold group is empty. `recall` and `counts` per class (`N_C` each; `counts` in
/// training images). An error when they differ in length or `t.few_below > t.many_above + 1`.
pub fn shot_groups(
    recall: &[f64],
    counts: &[usize],
    t: ShotThresholds,
) -> Result<(Vec<Group>, Vec<Group>)> {
    if recall.len() != counts.len() || t.few_below > t.many_above + 1 {
        return Err(Error::invalid(
            "shot groups",
            format!(
                "{} recalls for {} classes; thresholds few < {} ≤ medium ≤ {} < many",
                recall.len(),
                counts.len(),
                t.few_below,
                t.many_above
            ),
        ));
    }
    let mean = |cs: &[usize]| {
        (!cs.is_empty()).then(|| cs.iter().map(|&c| recall[c]).sum::<f64>() / cs.len() as f64)
    };
    let group = |name: String, cs: Vec<usize>| Group {
        accuracy: mean(&cs),
        name,
        classes: cs,
    };
    let pick = |f: &dyn Fn(usize) -> bool| {
        (0..counts.len())
            .filter(|&c| f(counts[c]))
            .collect::<Vec<_>>()
    };
    let fixed = vec![
        group(
            format!("many (> {})", t.many_above),
            pick(&|n| n > t.many_above),
        ),
        group(
            format!("medium ({}–{})", t.few_below, t.many_above),
            pick(&|n| n >= t.few_below && n <= t.many_above),
        ),
        group(
            format!("few (< {})", t.few_below),
            pick(&|n| n < t.few_below),
        ),
    ];
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(counts[c]), c));
    let k = counts.len();
    let (a, b) = (k.div_ceil(3), k - k / 3);
    let terciles = vec![
        group("commonest third".into(), order[..a].to_vec()),
        group("middle third".into(), order[a..b].to_vec()),
        group("rarest third".into(), order[b..].to_vec()),
    ];
    Ok((fixed, terciles))
}

/// Precision, recall, F1 and specificity of one class (`None` where a denominator is 0: a class
/// never predicted has no precision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// `tp / (tp + fp)`; `None` when the class is never predicted.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`; `None` when the class has no test sample.
    pub recall: Option<f64>,
    /// `2·tp / (2·tp + fp + fn)`; `None` when the class is neither present nor predicted.
    pub f1: Option<f64>,
    /// `tn / (tn + fp)`; `None` when every sample is of this class.
    pub specificity: Option<f64>,
}

/// Per-class scores from the confusion matrix: `tp = a_cc`, `fp = Σ_t a_tc − tp`,
/// `fn = Σ_p a_cp − tp`, `tn = N − tp − fp − fn`.
pub fn class_scores(cm: &ConfusionMatrix) -> Vec<ClassScores> {
    let k = cm.classes();
    let n = cm.total() as f64;
    let ratio = |a: f64, b: f64| (b != 0.0).then(|| a / b);
    (0..k)
        .map(|c| {
            let tp = cm.get(c, c) as f64;
            let pred: f64 = (0..k).map(|t| cm.get(t, c) as f64).sum();
            let truth: f64 = (0..k).map(|p| cm.get(c, p) as f64).sum();
            let (fp, fne) = (pred - tp, truth - tp);
            let tn = n - tp - fp - fne;
            let precision = ratio(tp, pred);
            let recall = ratio(tp, truth);
            ClassScores {
                precision,
                recall,
                f1: ratio(2.0 * tp, 2.0 * tp + fp + fne),
                specificity: ratio(tn, tn + fp),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_thresholds_and_say_when_empty() {
        let counts = [500, 150, 100, 40, 20, 19, 3];
        let recall = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1];
        let (fixed, terc) = shot_groups(&recall, &counts, ShotThresholds::default()).unwrap();
        assert_eq!(fixed[0].classes, vec![0, 1]);
        assert_eq!(fixed[1].classes, vec![2, 3, 4]);
        assert_eq!(fixed[2].classes, vec![5, 6]);
        assert!((fixed[0].accuracy.unwrap() - 0.85).abs() < 1e-12);
        assert!((fixed[2].accuracy.unwrap() - 0.25).abs() < 1e-12);
        // 7 classes: thirds of 3, 2, 2 by count.
        assert_eq!(terc[0].classes, vec![0, 1, 2]);
        assert_eq!(terc[2].classes, vec![5, 6]);
        let (fixed, _) =
            shot_groups(&recall[..2], &counts[..2], ShotThresholds::default()).unwrap();
        assert_eq!(fixed[2].accuracy, None);
    }

    #[test]
    fn class_scores_by_hand() {
        // Truth 0: 3 predicted 0, 1 predicted 1. Truth 1: 2 predicted 1.
        let cm =
            ConfusionMatrix::from_predictions(&[0, 0, 0, 0, 1, 1], &[0, 0, 0, 1, 1, 1], 2).unwrap();
        let s = class_scores(&cm);
        assert_eq!(s[0].precision, Some(1.0));
        assert_eq!(s[0].recall, Some(0.75));
        assert!((s[0].f1.unwrap() - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(s[0].specificity, Some(1.0));
        assert!((s[1].precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s[1].recall, Some(1.0));
        assert_eq!(s[1].specificity, Some(0.75));
        // A class never predicted has no precision (and F1 0: no true positive).
        let cm = ConfusionMatrix::from_predictions(&[0, 1], &[0, 0], 2).unwrap();
        assert_eq!(class_scores(&cm)[1].precision, None);
    }
}
