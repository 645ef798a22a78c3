//! Host-side randomness of Phase 2: class draws and dictionary row draws.

use crate::common;

use convexgan::train::sampling::{
    pick_real_rows, sample_rows, uniform_classes, MinorityClassSampler, RowLayout,
};

/// `c_g` ∝ `n_{c_m} − n_c`: the majority class is never drawn, and over 200,000 draws every class's
/// frequency is within 5 binomial standard deviations of its probability.
#[test]
fn minority_sampler_follows_count_gaps() {
    let counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];
    let s = MinorityClassSampler::new(&counts).unwrap();
    let p = s.probabilities();
    let total_gap: f64 = counts.iter().map(|&n| (5000 - n) as f64).sum();
    for (c, &n) in counts.iter().enumerate() {
        assert!((p[c] - (5000 - n) as f64 / total_gap).abs() < 1e-12);
    }
    let mut r = common::rng(3);
    let n = 200_000;
    let draws = s.draw(&mut r, n);
    let mut freq = [0usize; 10];
    for &c in &draws {
        freq[c as usize] += 1;
    }
    assert_eq!(freq[0], 0, "the majority class must never be drawn");
    for c in 1..10 {
        let expected = p[c] * n as f64;
        let sd = (n as f64 * p[c] * (1.0 - p[c])).sqrt();
        assert!(
            (freq[c] as f64 - expected).abs() <= 5.0 * sd,
            "class {c}: {} draws, expected {expected:.0} ± {sd:.0}",
            freq[c]
        );
    }
}

#[test]
fn minority_sampler_rejects_balanced_counts() {
    assert!(MinorityClassSampler::new(&[10, 10, 10]).is_err());
}

#[test]
fn sampled_rows_are_distinct_and_of_the_right_class() {
    let layout = RowLayout::new(vec![7, 3, 12]);
    let mut r = common::rng(1);
    let classes = uniform_classes(&mut r, 500, 3);
    let ns = 3;
    let rows = sample_rows(&mut r, &layout, &classes, ns).unwrap();
    assert_eq!(rows.len(), 500 * ns);
    for (b, set) in rows.chunks(ns).enumerate() {
        let c = classes[b] as usize;
        let (lo, hi) = (layout.offsets[c], layout.offsets[c] + layout.rows[c]);
        for &i in set {
            assert!(
                (lo..hi).contains(&(i as usize)),
                "sample {b} of class {c} drew row {i}"
            );
        }
        let mut s = set.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), ns, "rows of sample {b} repeat: {set:?}");
    }
    let (t, s) = pick_real_rows(&mut r, &rows, ns);
    for b in 0..500 {
        assert!(rows[b * ns..(b + 1) * ns].contains(&t[b]));
        assert!(rows[b * ns..(b + 1) * ns].contains(&s[b]));
    }
}

#[test]
fn too_many_rows_is_a_clear_error() {
    let layout = RowLayout::new(vec![7, 3, 12]);
    let mut r = common::rng(1);
    let err = sample_rows(&mut r, &layout, &[0, 1], 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--ns") && err.contains("class 1"), "{err}");
}
