//! How many synthetic rows each class gets: imbalanced-learn's `sampling_strategy` for
//! over-samplers, so that a user coming from SMOTE or ADASYN gets the counts they expect.
//!
//! - `auto` / `not majority`: every class but the majority is raised to the majority's count;
//! - `minority`: only the smallest class is; `not minority`: every class but the smallest; `all`:
//!   every class (the majority gets none);
//! - a ratio `r` in (0, 1]: every class below `r · n_majority` is raised to `floor(r · n_majority)`
//!   (imbalanced-learn allows a ratio only for two classes; here it applies to each minority class,
//!   which for two classes is the same thing);
//! - explicit targets `{class: count}`: each named class is raised to its count; the others get none.
//!
//! Ties for the majority or the minority go to the lowest class index, as `argmax`/`argmin` do.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A sampling strategy (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// `auto`, the same as `not majority`.
    Auto,
    /// Every class but the majority raised to the majority's count.
    NotMajority,
    /// Only the smallest class raised to the majority's count.
    Minority,
    /// Every class but the smallest raised to the majority's count.
    NotMinority,
    /// Every class raised to the majority's count (the majority itself gets none).
    All,
    /// The minority-to-majority ratio after resampling, in (0, 1].
    Ratio(f64),
    /// The number of rows each named class should have after resampling.
    Targets(BTreeMap<u32, usize>),
}

impl std::str::FromStr for Strategy {
    type Err = Error;

    /// `auto`, `not majority` (or `not-majority`), `minority`, `not minority`, `all`, a ratio such as
    /// `0.5`, or targets such as `3:500,7:200`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase().replace(['-', '_'], " ");
        Ok(match t.as_str() {
            "auto" => Strategy::Auto,
            "not majority" => Strategy::NotMajority,
            "minority" => Strategy::Minority,
            "not minority" => Strategy::NotMinority,
            "all" => Strategy::All,
            _ if t.contains(':') => {
                let mut m = BTreeMap::new();
                for part in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (c, n) = part.split_once(':').ok_or_else(|| bad(s))?;
                    let c: u32 = c.trim().parse().map_err(|_| bad(s))?;
                    let n: usize = n.trim().parse().map_err(|_| bad(s))?;
                    if m.insert(c, n).is_some() {
                        return Err(Error::invalid(
                            "sampling strategy",
                            format!("class {c} is given twice in `{s}`"),
                        ));
                    }
                }
                Strategy::Targets(m)
            }
            _ => Strategy::Ratio(t.parse().map_err(|_| bad(s))?),
        })
    }
}

fn bad(s: &str) -> Error {
    Error::invalid(
        "sampling strategy",
        format!(
            "`{s}`; expected auto, not majority, minority, not minority, all, a ratio in (0, 1] or \
             targets like 3:500,7:200"
        ),
    )
}

/// Rows to generate for each class, from the training counts (`counts[c]` rows of class `c`);
/// one entry per class, in class order. Classes with no rows are not resampled (there is nothing
/// to combine); naming one in explicit targets is an error. Also an error: fewer than two classes
/// with rows, a ratio outside (0, 1], or a target below its class's count.
pub fn rows_to_generate(counts: &[usize], strategy: &Strategy) -> Result<Vec<usize>> {
    let present: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
    if present.len() < 2 {
        return Err(Error::invalid(
            "sampling strategy",
            format!(
                "{} class(es) with rows; over-sampling needs at least two",
                present.len()
            ),
        ));
    }
    let by_count = |pick_max: bool| {
        present
            .iter()
            .copied()
            .reduce(|a, b| {
                let better = if pick_max {
                    counts[b] > counts[a]
                } else {
                    counts[b] < counts[a]
                };
                if better {
                    b
                } else {
                    a
                }
            })
            .unwrap_or(0)
    };
    let (major, minor) = (by_count(true), by_count(false));
    let n_major = counts[major];
    let mut out = vec![0usize; counts.len()];
    let raise = |out: &mut Vec<usize>, c: usize| out[c] = n_major - counts[c];
    match strategy {
        Strategy::Auto | Strategy::NotMajority => present
            .iter()
            .filter(|&&c| c != major)
            .for_each(|&c| raise(&mut out, c)),
        Strategy::Minority => raise(&mut out, minor),
        Strategy::NotMinority => present
            .iter()
            .filter(|&&c| c != minor)
            .for_each(|&c| raise(&mut out, c)),
        Strategy::All => present.iter().for_each(|&c| raise(&mut out, c)),
        Strategy::Ratio(r) => {
            if !(r.is_finite() && *r > 0.0 && *r <= 1.0) {
                return Err(Error::invalid(
                    "sampling strategy",
                    format!("ratio {r}; it must be in (0, 1]"),
                ));
            }
            let target = (r * n_major as f64).floor() as usize;
            for &c in &present {
                out[c] = target.saturating_sub(counts[c]);
            }
        }
        Strategy::Targets(m) => {
            for (&c, &n) in m {
                let ci = c as usize;
                if ci >= counts.len() || counts[ci] == 0 {
                    return Err(Error::invalid(
                        "sampling strategy",
                        format!("class {c} has no training rows; it cannot be over-sampled"),
                    ));
                }
                if n < counts[ci] {
                    return Err(Error::invalid(
                        "sampling strategy",
                        format!(
                            "class {c} has {} rows, more than its target {n}; an over-sampler \
                             only adds rows",
                            counts[ci]
                        ),
                    ));
                }
                out[ci] = n - counts[ci];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(counts: &[usize], s: &str) -> Vec<usize> {
        rows_to_generate(counts, &s.parse().unwrap()).unwrap()
    }

    #[test]
    fn named_strategies_match_imbalanced_learn() {
        // Counts 100, 30, 10, 60: majority 0, minority 2.
        let c = [100, 30, 10, 60];
        assert_eq!(gen(&c, "auto"), vec![0, 70, 90, 40]);
        assert_eq!(gen(&c, "not majority"), vec![0, 70, 90, 40]);
        assert_eq!(gen(&c, "minority"), vec![0, 0, 90, 0]);
        assert_eq!(gen(&c, "not-minority"), vec![0, 70, 0, 40]);
        assert_eq!(gen(&c, "all"), vec![0, 70, 90, 40]);
        // Ties: the lowest index is the majority (and the minority).
        assert_eq!(gen(&[5, 9, 9, 5], "auto"), vec![4, 0, 0, 4]);
        assert_eq!(gen(&[5, 9, 9, 5], "minority"), vec![4, 0, 0, 0]);
        // An empty class is left alone.
        assert_eq!(gen(&[8, 0, 2], "auto"), vec![0, 0, 6]);
    }

    #[test]
    fn ratios_and_targets() {
        let c = [100, 30, 10, 60];
        // floor(0.5 · 100) = 50: class 1 → 20 more, class 2 → 40 more, class 3 already above.
        assert_eq!(gen(&c, "0.5"), vec![0, 20, 40, 0]);
        assert_eq!(gen(&c, "1"), vec![0, 70, 90, 40]);
        assert_eq!(gen(&c, "1:31, 2:10"), vec![0, 1, 0, 0]);
        for bad in ["0", "1.5", "nan", "-0.2", "often", "1:x", "1:5,1:6"] {
            let r = bad
                .parse::<Strategy>()
                .and_then(|s| rows_to_generate(&c, &s));
            assert!(r.is_err(), "{bad} accepted");
        }
        let e = rows_to_generate(&c, &"1:20".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("class 1 has 30 rows, more than its target 20"),
            "{e}"
        );
        let e = rows_to_generate(&c, &"9:20".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("class 9 has no training rows"),
            "{e}"
        );
        assert!(rows_to_generate(&[5, 0], &Strategy::Auto).is_err());
    }
}
