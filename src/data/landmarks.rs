//! Landmark targets of a data set, already mapped to the heatmap grid (METHOD.md §1–§2, §6).

use crate::error::{Error, Result};

/// DeepFashion's eight landmark slots (METHOD.md §6 **Choice**, after the benchmark's README): left and
/// right collar, left and right sleeve, left and right waistline, left and right hem. Upper-body
/// rows fill slots 0–3 and 6–7, lower-body rows 4–7, full-body rows all eight; the slots a row does
/// not have are invisible.
pub const DEEPFASHION_LANDMARKS: usize = 8;

/// Side of the square heatmap grid (METHOD.md §1: 28×28).
pub const HEATMAP_GRID: usize = 28;

/// Per-sample landmark positions and visibility, `n` rows of `k` landmarks: the targets of the
/// landmark loss (the paper's Eq. 1) and of the visibility loss (METHOD.md §2).
#[derive(Clone, Debug, PartialEq)]
pub struct Landmarks {
    /// Landmarks per sample, `K` (DeepFashion: [`DEEPFASHION_LANDMARKS`]).
    pub k: usize,
    /// `n × 2k`: for landmark `l`, `x` (column) at `2l` and `y` (row) at `2l + 1`, in grid cells
    /// (cell `i` has its centre at `i`; see [`pixel_to_grid`]).
    pub xy: Vec<f32>,
    /// `n × k`: 1 where the landmark is visible (DeepFashion visibility 0), else 0.
    pub visible: Vec<f32>,
}

/// Maps a pixel coordinate of the `size × size` prepared image to grid cells on a `grid × grid`
/// heatmap, pixel centres to cell centres: pixel `p` covers `[p, p+1)`, cell `i` covers
/// `[i·s, (i+1)·s)` with `s = size / grid`, and cell `i`'s centre maps to `i`:
/// `g = (p + 0.5) / s − 0.5` (224 → 28: `s = 8`). Apply it to x and y separately.
pub fn pixel_to_grid(p: f32, size: usize, grid: usize) -> f32 {
    let s = size as f32 / grid as f32;
    (p + 0.5) / s - 0.5
}

impl Landmarks {
    /// Number of samples, `visible.len() / k` (0 when `k = 0`).
    pub fn n(&self) -> usize {
        self.visible.len().checked_div(self.k).unwrap_or(0)
    }

    /// Checks the lengths against `n` samples, 0/1 visibility and finite coordinates.
    /// [`Error::Invalid`] for `k = 0`, wrong lengths or another visibility value,
    /// [`Error::NonFinite`] for a coordinate.
    pub fn validate(&self, n: usize) -> Result<()> {
        if self.k == 0 {
            return Err(Error::invalid("landmarks", "k must be at least 1"));
        }
        if self.visible.len() != n * self.k || self.xy.len() != n * 2 * self.k {
            return Err(Error::invalid(
                "landmarks",
                format!(
                    "{} visibility and {} coordinate values for {n} samples of {} landmarks",
                    self.visible.len(),
                    self.xy.len(),
                    self.k
                ),
            ));
        }
        if let Some(i) = self.visible.iter().position(|&v| v != 0.0 && v != 1.0) {
            return Err(Error::invalid(
                "landmarks",
                format!(
                    "visibility of sample {} landmark {} is {}, not 0 or 1",
                    i / self.k,
                    i % self.k,
                    self.visible[i]
                ),
            ));
        }
        if let Some(i) = self.xy.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "landmark coordinates, sample {} landmark {}",
                i / (2 * self.k),
                (i % (2 * self.k)) / 2
            )));
        }
        Ok(())
    }

    /// The rows `idx`, in that order; indices must be in range (the caller checked them), or this
    /// panics.
    pub fn select(&self, idx: &[usize]) -> Landmarks {
        let k = self.k;
        let mut xy = Vec::with_capacity(idx.len() * 2 * k);
        let mut visible = Vec::with_capacity(idx.len() * k);
        for &i in idx {
            xy.extend_from_slice(&self.xy[i * 2 * k..(i + 1) * 2 * k]);
            visible.extend_from_slice(&self.visible[i * k..(i + 1) * k]);
        }
        Landmarks { k, xy, visible }
    }
}
