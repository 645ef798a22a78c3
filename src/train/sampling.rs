//! Host-side randomness of Phase 2 (METHOD.md §4 step 1 and 3). Drawn from one seeded generator so the
//! CPU and CUDA backends see the same numbers and can be compared step for step.

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

use crate::error::{Error, Result};

/// Where each class's rows sit in the concatenated dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowLayout {
    /// Rows held per class.
    pub rows: Vec<usize>,
    /// Global index of each class's first row.
    pub offsets: Vec<usize>,
}

impl RowLayout {
    pub fn new(rows: Vec<usize>) -> Self {
        let mut offsets = Vec::with_capacity(rows.len());
        let mut acc = 0;
        for &r in &rows {
            offsets.push(acc);
            acc += r;
        }
        RowLayout { rows, offsets }
    }
    pub fn total(&self) -> usize {
        self.rows.iter().sum()
    }
    pub fn classes(&self) -> usize {
        self.rows.len()
    }
}

/// `B` classes drawn uniformly (step 1: `c_r`).
pub fn uniform_classes(rng: &mut impl Rng, batch: usize, classes: usize) -> Vec<u32> {
    (0..batch)
        .map(|_| rng.gen_range(0..classes as u32))
        .collect()
}

/// Sampler of `c_g` with probability ∝ `n_{c_m} − n_c` (step 3), so the majority class is never
/// drawn and the rarest classes most often.
#[derive(Clone, Debug)]
pub struct MinorityClassSampler {
    dist: WeightedIndex<f64>,
    pub weights: Vec<f64>,
}

impl MinorityClassSampler {
    pub fn new(counts: &[usize]) -> Result<Self> {
        let max = counts.iter().copied().max().unwrap_or(0);
        let weights: Vec<f64> = counts.iter().map(|&n| (max - n) as f64).collect();
        let dist = WeightedIndex::new(&weights).map_err(|_| {
            Error::invalid(
                "class counts",
                "every class has the majority count, so there is no minority class to oversample",
            )
        })?;
        Ok(MinorityClassSampler { dist, weights })
    }
    /// The probability of each class.
    pub fn probabilities(&self) -> Vec<f64> {
        let total: f64 = self.weights.iter().sum();
        self.weights.iter().map(|w| w / total).collect()
    }
    pub fn draw(&self, rng: &mut impl Rng, batch: usize) -> Vec<u32> {
        (0..batch).map(|_| self.dist.sample(rng) as u32).collect()
    }
}

/// For each class in `classes`, `ns` distinct rows of that class's dictionary (METHOD.md §4 Choice:
/// without replacement), as global row indices, sample after sample.
pub fn sample_rows(
    rng: &mut impl Rng,
    layout: &RowLayout,
    classes: &[u32],
    ns: usize,
) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(classes.len() * ns);
    for &c in classes {
        let c = c as usize;
        let (Some(&n), Some(&off)) = (layout.rows.get(c), layout.offsets.get(c)) else {
            return Err(Error::invalid(
                "class",
                format!("class {c} has no dictionary ({} classes)", layout.classes()),
            ));
        };
        if ns > n {
            return Err(Error::invalid(
                "--ns",
                format!("N_s = {ns} exceeds the {n} dictionary rows of class {c}"),
            ));
        }
        for i in rand::seq::index::sample(rng, n, ns) {
            out.push((off + i) as u32);
        }
    }
    Ok(out)
}

/// Real samples of step 1: for each sample `b`, texture row `i` and shape row `j` drawn
/// independently from its `I_b` (the paper mixes streams across images here).
pub fn pick_real_rows(rng: &mut impl Rng, rows: &[u32], ns: usize) -> (Vec<u32>, Vec<u32>) {
    rows.chunks(ns)
        .map(|set| (set[rng.gen_range(0..ns)], set[rng.gen_range(0..ns)]))
        .unzip()
}

/// Standard normal noise `z`, `batch × dim`, row-major.
pub fn normal_noise(rng: &mut impl Rng, batch: usize, dim: usize) -> Vec<f32> {
    let n = rand_distr::StandardNormal;
    (0..batch * dim).map(|_| rng.sample::<f32, _>(n)).collect()
}
