//! Adaptive average pooling to `p × p` (METHOD.md §1 **Choice**), with PyTorch's window bounds so that a
//! torchvision pipeline and ours pool the same cells: output cell `i` of an axis of length `n`
//! averages input rows `floor(i·n/p) .. ceil((i+1)·n/p)`.

use super::FeatureMap;
use crate::error::{Error, Result};

/// Pools every channel of `fm` to `p × p` and flattens each sample to `c·p·p` values in
/// `(channel, row, column)` order (torch's `flatten(1)` of `[N, C, p, p]`).
pub fn adaptive_avg_pool(fm: &FeatureMap, p: usize) -> Result<Vec<f32>> {
    if p == 0 {
        return Err(Error::invalid("--pool", "must be at least 1"));
    }
    if fm.h == 0 || fm.w == 0 {
        return Err(Error::invalid(
            "backbone output",
            format!("empty spatial size {}×{}", fm.h, fm.w),
        ));
    }
    let bounds = |n: usize| -> Vec<(usize, usize)> {
        (0..p)
            .map(|i| ((i * n) / p, ((i + 1) * n).div_ceil(p)))
            .collect()
    };
    let (rows, cols) = (bounds(fm.h), bounds(fm.w));
    let mut out = Vec::with_capacity(fm.n * fm.c * p * p);
    for plane in fm.data.chunks_exact(fm.h * fm.w) {
        for &(r0, r1) in &rows {
            for &(c0, c1) in &cols {
                let mut s = 0.0f64;
                for r in r0..r1 {
                    s += plane[r * fm.w + c0..r * fm.w + c1]
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>();
                }
                out.push((s / ((r1 - r0) * (c1 - c0)) as f64) as f32);
            }
        }
    }
    Ok(out)
}
