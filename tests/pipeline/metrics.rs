//! Metrics of METHOD.md §5 against hand-computed values. Ratios of small integers are compared with an
//! absolute tolerance of 1e-12 (they are exact up to the last bit of a division or a log/exp).

use convexgan::metrics::{argmax, evaluate, top_k, ConfusionMatrix, Metrics};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-12;

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: got {got:.15}, want {want:.15}"
    );
}

/// Rows (truth) × columns (prediction) of a 3-class matrix:
/// class 0: 8 right, 2 as class 1 → r0 = 0.8
/// class 1: 1 as 0, 3 right      → r1 = 0.75
/// class 2: 1 as 0, 1 as 1, 2 right (4 in all) → r2 = 0.5
fn hand_matrix() -> ConfusionMatrix {
    let table = [[8u32, 2, 0], [1, 3, 0], [1, 1, 2]];
    let mut truth = Vec::new();
    let mut pred = Vec::new();
    for (t, row) in table.iter().enumerate() {
        for (p, &k) in row.iter().enumerate() {
            for _ in 0..k {
                truth.push(t as u32);
                pred.push(p as u32);
            }
        }
    }
    ConfusionMatrix::from_predictions(&truth, &pred, 3).unwrap()
}

#[test]
fn hand_computed_three_classes() {
    let cm = hand_matrix();
    assert_eq!(cm.rows(), vec![vec![8, 2, 0], vec![1, 3, 0], vec![1, 1, 2]]);
    assert_eq!(cm.support(), vec![10, 4, 4]);
    assert_eq!(cm.total(), 18);
    assert_eq!(cm.trace(), 13);
    let r = cm.recall_per_class();
    close("recall 0", r[0], 0.8);
    close("recall 1", r[1], 0.75);
    close("recall 2", r[2], 0.5);
    close("top1", cm.top1().unwrap(), 13.0 / 18.0);
    close("acsa", cm.acsa().unwrap(), (0.8 + 0.75 + 0.5) / 3.0);
    // 0.8 · 0.75 · 0.5 = 0.3
    close("gm", cm.gm().unwrap(), 0.3f64.cbrt());
}

#[test]
fn add_matches_from_predictions_and_checks_range() {
    let mut cm = ConfusionMatrix::new(3);
    for (t, row) in hand_matrix().rows().iter().enumerate() {
        for (p, &k) in row.iter().enumerate() {
            for _ in 0..k {
                cm.add(t, p).unwrap();
            }
        }
    }
    assert_eq!(cm, hand_matrix());
    assert!(cm.add(3, 0).is_err());
    assert!(cm.add(0, 3).is_err());
    assert!(ConfusionMatrix::from_predictions(&[0, 1], &[0], 3).is_err());
    assert!(ConfusionMatrix::from_predictions(&[0, 5], &[0, 1], 3).is_err());
}

#[test]
fn gm_is_zero_when_one_recall_is_zero() {
    // Class 2 is never predicted correctly.
    let cm =
        ConfusionMatrix::from_predictions(&[0, 0, 1, 1, 2, 2], &[0, 0, 1, 1, 0, 1], 3).unwrap();
    assert_eq!(cm.recall_per_class()[2], 0.0);
    assert_eq!(cm.gm().unwrap(), 0.0);
    close("acsa", cm.acsa().unwrap(), 2.0 / 3.0);
    close("top1", cm.top1().unwrap(), 4.0 / 6.0);
}

#[test]
fn gm_does_not_underflow_with_many_small_recalls() {
    // 400 classes each with recall 1/1000: the plain product is 1e-1200 (0 in f64); GM is 1e-3.
    let classes = 400;
    let mut cm = ConfusionMatrix::new(classes);
    for c in 0..classes {
        cm.add(c, c).unwrap();
        for _ in 0..999 {
            cm.add(c, (c + 1) % classes).unwrap();
        }
    }
    let gm = cm.gm().unwrap();
    assert!((gm - 1e-3).abs() <= 1e-3 * 1e-12, "gm = {gm:e}");
}

#[test]
fn class_without_samples_is_an_error_for_acsa_and_gm() {
    let cm = ConfusionMatrix::from_predictions(&[0, 0, 2], &[0, 1, 2], 3).unwrap();
    assert!(cm.recall_per_class()[1].is_nan());
    for e in [cm.acsa().unwrap_err(), cm.gm().unwrap_err()] {
        assert!(e.to_string().contains("class 1"), "{e}");
    }
    close("top1 still defined", cm.top1().unwrap(), 2.0 / 3.0);
    assert!(ConfusionMatrix::new(3).top1().is_err());
    let scores = [1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    assert!(evaluate(&scores, &[0, 0, 2], 3).is_err());
}

#[test]
fn top_k_hand_computed_with_ties_against_the_truth() {
    let classes = 4;
    #[rustfmt::skip]
    let scores = [
        // truth 0: clear top-1.
        4.0f32, 1.0, 2.0, 3.0,
        // truth 1: second place → top-2 hit, top-1 miss.
        5.0, 4.0, 1.0, 0.0,
        // truth 2: tied with class 0 for first: ranked second (ties against truth).
        3.0, 1.0, 3.0, 0.0,
        // truth 3: three-way tie with everything: ranked last.
        2.0, 2.0, 2.0, 2.0,
    ];
    let labels = [0u32, 1, 2, 3];
    close("top1", top_k(&scores, &labels, classes, 1).unwrap(), 0.25);
    close("top2", top_k(&scores, &labels, classes, 2).unwrap(), 0.75);
    close("top3", top_k(&scores, &labels, classes, 3).unwrap(), 0.75);
    close("top4", top_k(&scores, &labels, classes, 4).unwrap(), 1.0);
    close(
        "k > classes",
        top_k(&scores, &labels, classes, 9).unwrap(),
        1.0,
    );
    assert!(top_k(&scores, &labels, classes, 0).is_err());
    assert!(top_k(&scores[..15], &labels, classes, 1).is_err());
    assert!(top_k(&scores, &[0, 1, 2, 4], classes, 1).is_err());
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut s = scores;
        s[5] = bad;
        assert!(top_k(&s, &labels, classes, 1).is_err(), "{bad}");
        assert!(argmax(&s, classes).is_err(), "{bad}");
        let e = convexgan::metrics::evaluate(&s, &labels, classes).unwrap_err();
        assert!(e.to_string().contains("sample 1 class 1"), "{bad}: {e}");
    }
    // argmax takes the lowest index among equal maxima.
    assert_eq!(argmax(&scores, classes).unwrap(), vec![0, 0, 0, 0]);
}

#[test]
fn evaluate_is_consistent_with_the_confusion_matrix() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (n, classes) = (500, 7);
    let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    // Random scores with a bias towards the truth so that recalls are between 0 and 1.
    let scores: Vec<f32> = labels
        .iter()
        .flat_map(|&y| {
            let bias: Vec<f32> = (0..classes)
                .map(|j| rng.gen_range(0.0..1.0f32) + if j == y as usize { 0.4 } else { 0.0 })
                .collect();
            bias
        })
        .collect();
    let m = evaluate(&scores, &labels, classes).unwrap();
    let pred = argmax(&scores, classes).unwrap();
    let cm = ConfusionMatrix::from_predictions(&labels, &pred, classes).unwrap();
    close("top1 = trace/total", m.top1, cm.trace() as f64 / n as f64);
    let correct = pred.iter().zip(&labels).filter(|(p, y)| p == y).count();
    close("top1 = correct/n", m.top1, correct as f64 / n as f64);
    // Continuous random scores have no ties, so the conservative top-1 agrees with argmax.
    close(
        "top_k(1) = top1",
        top_k(&scores, &labels, classes, 1).unwrap(),
        m.top1,
    );
    close(
        "acsa",
        m.acsa,
        m.recall.iter().sum::<f64>() / classes as f64,
    );
    let gm = m.recall.iter().product::<f64>().powf(1.0 / classes as f64);
    assert!((m.gm - gm).abs() <= 1e-12 * gm, "gm {} vs {gm}", m.gm);
    assert!(m.gm <= m.acsa, "GM {} above ACSA {}", m.gm, m.acsa);
    let top5 = m.top5.expect("7 classes report top-5");
    assert!(
        top5 >= m.top1 && top5 <= 1.0,
        "top5 {top5} vs top1 {}",
        m.top1
    );
    assert_eq!(m.support, vec![72, 72, 72, 71, 71, 71, 71]);
    assert_eq!(m.confusion, cm.rows());

    let json = serde_json::to_string(&m).unwrap();
    let back: Metrics = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

#[test]
fn top5_absent_with_five_classes_or_fewer() {
    let scores = [0.9f32, 0.1, 0.2, 0.8];
    let m = evaluate(&scores, &[0, 1], 2).unwrap();
    assert_eq!(m.top5, None);
    close("top1", m.top1, 1.0);
    close("gm", m.gm, 1.0);
    assert!(!serde_json::to_string(&m).unwrap().contains("top5"));
}
