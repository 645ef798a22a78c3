//! Feature-space over-samplers beside SMOTE ([`smote`](super::baselines::smote)): every class
//! raised towards the majority count, as imbalanced-learn does them, one class against the rest.
//! Each takes `feats` (`labels.len() × dim`, row-major f32) and labels below `classes`, and
//! returns the original rows followed by the synthetic ones, with their labels (METHOD.md §10).
//!
//! - **Random over-sampling**: rows of the class drawn uniformly with replacement.
//! - **ADASYN** (He, Bai, Garcia, Li, IJCNN 2008, Sec. III): for each row `i` of class `c`,
//!   `r_i = Δ_i / K` with `Δ_i` the rows of other classes among its `K = 5` nearest neighbours in the
//!   whole set; `r̂ = r / Σ r`; row `i` seeds `g_i = round(r̂_i · G)` synthetic rows, `G = n_max − n_c`,
//!   each `x_i + u (x_nn − x_i)` with `x_nn` one of its 5 nearest neighbours of class `c`,
//!   `u ~ U[0, 1)`. **Choice:** when no row of `c` has a neighbour of another class (`Σ r = 0`),
//!   imbalanced-learn stops with an error; here the rows are weighted equally (plain SMOTE).
//! - **Borderline-SMOTE 1** (Han, Wang, Mao, ICIC 2005, Sec. 3): a row of class `c` is in DANGER
//!   when `m/2 ≤ m' < m` of its `m = 10` nearest neighbours in the whole set are of other classes;
//!   `G` synthetic rows are made from DANGER rows drawn uniformly, interpolated with one of their 5
//!   nearest neighbours of class `c`. A class with no DANGER row gets none (as imbalanced-learn).

use ndarray::{ArrayView2, Axis};
use rand::Rng;

use crate::error::{Error, Result};

/// Rows per class and the checks every sampler here shares.
fn members(feats: &[f32], dim: usize, labels: &[u32], classes: usize) -> Result<Vec<Vec<usize>>> {
    if feats.len() != labels.len() * dim || dim == 0 {
        return Err(Error::shape(
            "over-sampler",
            format!(
                "{} values for {} rows of width {dim}",
                feats.len(),
                labels.len()
            ),
        ));
    }
    let mut m: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in labels.iter().enumerate() {
        m.get_mut(c as usize)
            .ok_or_else(|| Error::invalid("label", format!("{c} ≥ {classes} classes")))?
            .push(i);
    }
    Ok(m)
}

/// What ADASYN and Borderline-SMOTE start from: the rows as a matrix, each class's rows, the
/// majority count every class is raised to, every row's index, and the output so far (the rows).
struct Setup<'a> {
    x: ArrayView2<'a, f32>,
    members: Vec<Vec<usize>>,
    target: usize,
    all: Vec<usize>,
    out_x: Vec<f32>,
    out_y: Vec<u32>,
}

impl<'a> Setup<'a> {
    fn new(op: &str, feats: &'a [f32], dim: usize, labels: &[u32], classes: usize) -> Result<Self> {
        let members = members(feats, dim, labels, classes)?;
        let n = labels.len();
        let x = ArrayView2::from_shape((n, dim), feats)
            .map_err(|e| Error::shape("over-sampler", format!("{op}: {e}")))?;
        Ok(Setup {
            x,
            target: members.iter().map(Vec::len).max().unwrap_or(0),
            members,
            all: (0..n).collect(),
            out_x: feats.to_vec(),
            out_y: labels.to_vec(),
        })
    }
}

/// Squared distances from each row of `queries` to every row of `x` (`queries.len() × n`).
fn distances(x: &ArrayView2<'_, f32>, queries: &[usize]) -> ndarray::Array2<f32> {
    let sq: Vec<f32> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let q = x.select(Axis(0), queries);
    let mut d = q.dot(&x.t());
    for (qi, mut row) in d.rows_mut().into_iter().enumerate() {
        let sqi = sq[queries[qi]];
        for (j, v) in row.iter_mut().enumerate() {
            *v = (sqi + sq[j] - 2.0 * *v).max(0.0);
        }
    }
    d
}

/// The `k` nearest rows to each query among `candidates` (global indices), the query itself
/// excluded; ties broken by index.
fn nearest(
    d: &ndarray::Array2<f32>,
    queries: &[usize],
    candidates: &[usize],
    k: usize,
) -> Vec<Vec<usize>> {
    queries
        .iter()
        .enumerate()
        .map(|(qi, &q)| {
            let mut c: Vec<(f32, usize)> = candidates
                .iter()
                .filter(|&&j| j != q)
                .map(|&j| (d[[qi, j]], j))
                .collect();
            c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            c.truncate(k);
            c.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

fn interpolate(x: &ArrayView2<'_, f32>, i: usize, j: usize, u: f32, out: &mut Vec<f32>) {
    let (a, b) = (x.row(i), x.row(j));
    out.extend(a.iter().zip(b.iter()).map(|(&a, &b)| a + u * (b - a)));
}

/// Random over-sampling: the rows followed by duplicates raising every class to the majority
/// (rows of the class drawn uniformly with replacement; an empty class stays empty). An error on
/// `feats` of the wrong length, `dim = 0`, or a label not below `classes`.
pub fn random_oversample(
    feats: &[f32],
    dim: usize,
    labels: &[u32],
    classes: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let m = members(feats, dim, labels, classes)?;
    let target = m.iter().map(Vec::len).max().unwrap_or(0);
    let (mut x, mut y) = (feats.to_vec(), labels.to_vec());
    for (c, rows) in m.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
        for _ in rows.len()..target {
            let i = rows[rng.gen_range(0..rows.len())];
            x.extend_from_slice(&feats[i * dim..(i + 1) * dim]);
            y.push(c as u32);
        }
    }
    Ok((x, y))
}

/// ADASYN with `k` neighbours (see the module documentation). An error as
/// [`random_oversample`], or when a class below the majority has a single row.
pub fn adasyn(
    feats: &[f32],
    dim: usize,
    labels: &[u32],
    classes: usize,
    k: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let Setup {
        x,
        members,
        target,
        all,
        out_x: mut ox,
        out_y: mut oy,
    } = Setup::new("adasyn", feats, dim, labels, classes)?;
    let (x, all) = (&x, &all);
    for (c, rows) in members.iter().enumerate() {
        let g = target - rows.len();
        if g == 0 || rows.is_empty() {
            continue;
        }
        if rows.len() < 2 {
            return Err(Error::invalid(
                "adasyn",
                format!("class {c} has one sample; ADASYN needs at least 2"),
            ));
        }
        let d = distances(x, rows);
        let r: Vec<f64> = nearest(&d, rows, all, k)
            .iter()
            .map(|nn| nn.iter().filter(|&&j| labels[j] as usize != c).count() as f64 / k as f64)
            .collect();
        let total: f64 = r.iter().sum();
        let weights: Vec<f64> = if total > 0.0 {
            r.iter().map(|v| v / total).collect()
        } else {
            vec![1.0 / rows.len() as f64; rows.len()]
        };
        let within = nearest(&d, rows, rows, k.min(rows.len() - 1));
        for (qi, &w) in weights.iter().enumerate() {
            let gi = (w * g as f64).round() as usize;
            for _ in 0..gi {
                let j = within[qi][rng.gen_range(0..within[qi].len())];
                interpolate(x, rows[qi], j, rng.gen_range(0.0..1.0), &mut ox);
                oy.push(c as u32);
            }
        }
    }
    Ok((ox, oy))
}

/// Rows of class `c` in DANGER: `m/2 ≤ m' < m` of their `m` nearest neighbours in the whole set
/// are of other classes. `neighbours` holds, per row of the class, the global indices (into
/// `labels`) of its nearest neighbours; one flag per row.
pub fn danger_rows(labels: &[u32], c: usize, neighbours: &[Vec<usize>], m: usize) -> Vec<bool> {
    neighbours
        .iter()
        .map(|nn| {
            let other = nn.iter().filter(|&&j| labels[j] as usize != c).count();
            2 * other >= m && other < m
        })
        .collect()
}

/// Borderline-SMOTE 1 with `m` neighbours for DANGER and `k` for interpolation (see the module
/// documentation). A class with fewer than 2 rows or no DANGER row gets no synthetic row. An
/// error as [`random_oversample`].
pub fn borderline_smote(
    feats: &[f32],
    dim: usize,
    labels: &[u32],
    classes: usize,
    k: usize,
    m: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let Setup {
        x,
        members,
        target,
        all,
        out_x: mut ox,
        out_y: mut oy,
    } = Setup::new("borderline-smote", feats, dim, labels, classes)?;
    let (x, all) = (&x, &all);
    for (c, rows) in members.iter().enumerate() {
        let g = target - rows.len();
        if g == 0 || rows.len() < 2 {
            continue;
        }
        let d = distances(x, rows);
        let danger = danger_rows(labels, c, &nearest(&d, rows, all, m), m);
        let seeds: Vec<usize> = (0..rows.len()).filter(|&i| danger[i]).collect();
        if seeds.is_empty() {
            continue;
        }
        let within = nearest(&d, rows, rows, k.min(rows.len() - 1));
        for _ in 0..g {
            let qi = seeds[rng.gen_range(0..seeds.len())];
            let j = within[qi][rng.gen_range(0..within[qi].len())];
            interpolate(x, rows[qi], j, rng.gen_range(0.0..1.0), &mut ox);
            oy.push(c as u32);
        }
    }
    Ok((ox, oy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(0)
    }

    #[test]
    fn random_oversampling_duplicates_rows_of_the_class() {
        let x = [0.0, 1.0, 2.0, 10.0, 11.0];
        let y = [0, 0, 0, 1, 1];
        let (ox, oy) = random_oversample(&x, 1, &y, 2, &mut rng()).unwrap();
        assert_eq!(oy, vec![0, 0, 0, 1, 1, 1]);
        assert!(ox[5] == 10.0 || ox[5] == 11.0);
    }

    #[test]
    fn adasyn_puts_the_rows_where_the_other_class_is_near() {
        // 1-D. Class 1 at 10, 11 (far from class 0) and at 4.9 (inside class 0's range 0..6).
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.9, 10.0, 11.0];
        let y = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
        // k = 2: row 4.9's neighbours are 5 and 4 (both class 0, r = 1); rows 10 and 11 have one
        // class-1 neighbour each and 6 or 4.9 as the other (10: 11 and 6 → r = 1/2; 11: 10 and 6
        // → r = 1/2). r̂ = (1/2, 1/4, 1/4) of G = 4: 2, 1, 1 rows.
        let (ox, oy) = adasyn(&x, 1, &y, 2, 2, &mut rng()).unwrap();
        assert_eq!(oy.len(), 14);
        let new = &ox[10..];
        // Row 4.9 interpolates with its class-1 neighbours 10 and 11: values in [4.9, 11].
        assert!(new.iter().all(|&v| (4.9..=11.0).contains(&v)), "{new:?}");
        // The two rows seeded by 4.9 come first (rows in class order), between 4.9 and 11.
        assert!(new[..2].iter().all(|&v| v < 11.0));
    }

    #[test]
    fn borderline_danger_is_half_or_more_but_not_all_neighbours_foreign() {
        // Row 0: 2 of 4 foreign (danger); row 1: 4 of 4 foreign (noise, not danger); row 2: 1 of 4.
        let labels = [1, 1, 1, 0, 0, 0, 0];
        let nn = vec![vec![3, 4, 1, 2], vec![3, 4, 5, 6], vec![3, 0, 1, 1]];
        assert_eq!(danger_rows(&labels, 1, &nn, 4), vec![true, false, false]);
    }

    #[test]
    fn borderline_smote_seeds_only_from_the_border() {
        // 1-D. Class 1: 2.9 sits among class 0 (0..3), 20 and 21 are far away.
        let x = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 2.9, 20.0, 21.0];
        let y = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
        // m = 4: 2.9's neighbours 3.0, 2.5, 2.0, 1.5 are all class 0 → noise, not danger; 20 and 21
        // have 21/20, 2.9 and two class-0 rows: 2 of 4 foreign → danger.
        // k = 1: 20 and 21 interpolate with each other (each other's nearest of class 1); a row
        // seeded by 2.9 would lie between 2.9 and 20.
        let (ox, oy) = borderline_smote(&x, 1, &y, 2, 1, 4, &mut rng()).unwrap();
        assert_eq!(oy.len(), 14);
        assert!(
            ox[10..].iter().all(|&v| (20.0..=21.0).contains(&v)),
            "{:?}",
            &ox[10..]
        );
    }
}
