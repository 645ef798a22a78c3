//! Fashion-MNIST and its long-tailed training split (METHOD.md §6), the in-memory [`Dataset`], and a
//! small synthetic imbalanced problem for fast pipeline tests.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::idx::{read_idx_images_for, read_idx_labels, Images};
use super::landmarks::Landmarks;
use crate::error::{Error, Result};

/// Where the Debian package `dataset-fashion-mnist` installs the four IDX files.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST has ten classes, labelled 0..=9.
pub const FASHION_MNIST_CLASS_COUNT: usize = 10;

/// File stem of the 60,000 training images (IDX3, 28×28); like the other three stems it is looked
/// up with `.gz` first, then without.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// File stem of the 60,000 training labels (IDX1).
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// File stem of the 10,000 test images (IDX3, 28×28).
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// File stem of the 10,000 test labels (IDX1).
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A labelled data set held in memory: `n` rows of `dim` features, row-major, labels in
/// `0..classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `n × dim` features, row-major (Fashion-MNIST: the 784 pixels divided by 255).
    pub x: Vec<f32>,
    /// 0-based class of each row, below `classes`.
    pub y: Vec<u32>,
    /// Number of rows (samples).
    pub n: usize,
    /// Features per row.
    pub dim: usize,
    /// Number of classes `N_C`; a class may have no row.
    pub classes: usize,
    /// Landmark targets on the heatmap grid, for data sets that have them (DeepFashion).
    pub landmarks: Option<Landmarks>,
}

impl Dataset {
    /// Builds and validates a data set, without landmarks; `n` is taken from `y.len()`. Errors as
    /// [`Dataset::validate`].
    pub fn new(x: Vec<f32>, y: Vec<u32>, dim: usize, classes: usize) -> Result<Self> {
        let ds = Dataset {
            n: y.len(),
            x,
            y,
            dim,
            classes,
            landmarks: None,
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Checks that the lengths agree, every label is below `classes`, and every feature is finite.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero `classes` or `dim`, mismatched lengths, a label out of range or
    /// invalid landmarks; [`Error::NonFinite`] naming the row and column of a NaN or Inf.
    pub fn validate(&self) -> Result<()> {
        if self.classes == 0 {
            return Err(Error::invalid("dataset", "classes must be at least 1"));
        }
        if self.dim == 0 {
            return Err(Error::invalid("dataset", "dim must be at least 1"));
        }
        if self.y.len() != self.n {
            return Err(Error::invalid(
                "dataset",
                format!("{} labels for n = {} rows", self.y.len(), self.n),
            ));
        }
        if Some(self.x.len()) != self.n.checked_mul(self.dim) {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "x holds {} values, expected n × dim = {} × {}",
                    self.x.len(),
                    self.n,
                    self.dim
                ),
            ));
        }
        if let Some((i, &c)) = self
            .y
            .iter()
            .enumerate()
            .find(|(_, &c)| c as usize >= self.classes)
        {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "label {c} of row {i} is not below classes = {}",
                    self.classes
                ),
            ));
        }
        if let Some(l) = &self.landmarks {
            l.validate(self.n)?;
        }
        if let Some(k) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "dataset features, row {} column {} ({})",
                k / self.dim,
                k % self.dim,
                self.x[k]
            )));
        }
        Ok(())
    }

    /// Features of row `i`. Panics past the end, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Number of rows of each class, `classes` entries.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &c in &self.y {
            counts[c as usize] += 1;
        }
        counts
    }

    /// Row indices of each class, in row order.
    pub fn indices_by_class(&self) -> Vec<Vec<usize>> {
        let mut idx = vec![Vec::new(); self.classes];
        for (i, &c) in self.y.iter().enumerate() {
            idx[c as usize].push(i);
        }
        idx
    }

    /// The rows `idx`, in that order (repeats allowed), with their landmarks; an index past the end
    /// is an [`Error::Invalid`].
    pub fn select(&self, idx: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.n) {
            return Err(Error::invalid(
                "row index",
                format!("{bad} is past the end of a data set of {} rows", self.n),
            ));
        }
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        Ok(Dataset {
            x,
            y: idx.iter().map(|&i| self.y[i]).collect(),
            n: idx.len(),
            dim: self.dim,
            classes: self.classes,
            landmarks: self.landmarks.as_ref().map(|l| l.select(idx)),
        })
    }

    /// Pixels scaled to [0, 1] (`p / 255`), one row per image; labels must be below `classes`.
    /// `images_path` and `labels_path` are only used to name the files in errors.
    ///
    /// # Errors
    /// [`Error::BadFile`] if the image and label counts differ (naming the images file) or a label
    /// is not below `classes` (naming the labels file).
    pub fn from_idx(
        images: &Images,
        labels: &[u8],
        classes: usize,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Dataset> {
        if images.n != labels.len() {
            return Err(Error::bad_file(
                images_path,
                format!(
                    "holds {} images but {} holds {} labels; the two files must belong together",
                    images.n,
                    labels_path.display(),
                    labels.len()
                ),
            ));
        }
        if let Some((i, &c)) = labels
            .iter()
            .enumerate()
            .find(|(_, &c)| c as usize >= classes)
        {
            return Err(Error::bad_file(
                labels_path,
                format!("label {c} at index {i} is not below the {classes} classes"),
            ));
        }
        Dataset::new(
            images.pixels.iter().map(|&p| p as f32 / 255.0).collect(),
            labels.iter().map(|&c| c as u32).collect(),
            images.dim(),
            classes,
        )
    }
}

/// Loads the Fashion-MNIST training (60,000) and test (10,000) sets from `dir`, pixels scaled to
/// [0, 1]. Each file is looked up as `<stem>.gz`, then `<stem>`.
///
/// # Errors
/// [`Error::BadFile`] if `dir` is not a directory or a file is missing (with a hint to install
/// `dataset-fashion-mnist` or pass `--data`), and the errors of the IDX reader
/// ([`super::idx`]); also if images and labels disagree in count or the two sets in image size.
pub fn load_fashion_mnist(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    let hint = format!(
        "install the Debian package `dataset-fashion-mnist` (it fills {DEFAULT_DATA_DIR}) or pass \
         `--data DIR` naming a directory with the four Fashion-MNIST *-ubyte.gz files"
    );
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "Fashion-MNIST data directory not found"
        };
        return Err(Error::bad_file(dir, format!("{what}; {hint}")));
    }
    let find = |stem: &str| -> Result<PathBuf> {
        let gz = dir.join(format!("{stem}.gz"));
        let raw = dir.join(stem);
        if gz.exists() {
            Ok(gz)
        } else if raw.exists() {
            Ok(raw)
        } else {
            Err(Error::bad_file(
                gz,
                format!("missing (nor is there an uncompressed {stem}); {hint}"),
            ))
        }
    };
    let load = |images: &str, labels: &str| -> Result<(Dataset, PathBuf)> {
        let (ip, lp) = (find(images)?, find(labels)?);
        // Labels first (small): the images' header is then checked against their count before
        // the images are inflated.
        let labs = read_idx_labels(&lp)?;
        let imgs = read_idx_images_for(&ip, labs.len(), &lp)?;
        Ok((
            Dataset::from_idx(&imgs, &labs, FASHION_MNIST_CLASS_COUNT, &ip, &lp)?,
            ip,
        ))
    };
    let (train, _) = load(TRAIN_IMAGES, TRAIN_LABELS)?;
    let (test, test_images) = load(TEST_IMAGES, TEST_LABELS)?;
    if train.dim != test.dim {
        return Err(Error::bad_file(
            test_images,
            format!(
                "images of {} pixels, but the training images have {}",
                test.dim, train.dim
            ),
        ));
    }
    Ok((train, test))
}

/// How many training images each class keeps in the long-tailed split.
#[derive(Clone, Debug, PartialEq)]
pub enum LtCounts {
    /// `n_c = floor(n_max · ratio^(−c/(N_C−1)))`: class 0 keeps `n_max`, the last class
    /// `n_max / ratio`.
    Exponential {
        /// Count of class 0, the largest.
        n_max: usize,
        /// Imbalance ratio ρ ≥ 1: `n_max` over the last class's count.
        ratio: f64,
    },
    /// One count per class, in label order.
    Explicit(Vec<usize>),
}

impl LtCounts {
    /// The per-class counts for `classes` classes; every count must be at least 1.
    ///
    /// # Errors
    /// [`Error::Invalid`] if a count is 0, an explicit list does not have `classes` entries, or
    /// [`exponential_counts`] refuses its arguments.
    pub fn resolve(&self, classes: usize) -> Result<Vec<usize>> {
        let counts = match self {
            LtCounts::Exponential { n_max, ratio } => exponential_counts(classes, *n_max, *ratio)?,
            LtCounts::Explicit(v) => {
                if v.len() != classes {
                    return Err(Error::invalid(
                        "long-tail counts",
                        format!("{} explicit counts given for {classes} classes", v.len()),
                    ));
                }
                v.clone()
            }
        };
        if let Some(c) = counts.iter().position(|&k| k == 0) {
            return Err(Error::invalid(
                "long-tail counts",
                format!("class {c} would get 0 training images; every class needs at least 1"),
            ));
        }
        Ok(counts)
    }
}

/// `floor(n_max · ratio^(−c/(classes−1)))` for `c` in `0..classes` (just `n_max` for one class).
///
/// The product is nudged up by one part in 10^9 before flooring, so that a value that is
/// mathematically an integer (the last class, `n_max / ratio`) does not land one below it through
/// rounding in `powf`.
///
/// `exponential_counts(10, 5000, 100.0)` gives METHOD.md §6's 5000, 2997, 1796, 1077, 645, 387,
/// 232, 139, 83, 50. An [`Error::Invalid`] for zero `classes` or a `ratio` that is not finite and
/// at least 1.
pub fn exponential_counts(classes: usize, n_max: usize, ratio: f64) -> Result<Vec<usize>> {
    if classes == 0 {
        return Err(Error::invalid(
            "long-tail counts",
            "classes must be at least 1",
        ));
    }
    if !(ratio.is_finite() && ratio >= 1.0) {
        return Err(Error::invalid(
            "imbalance ratio",
            format!("{ratio}: must be finite and at least 1"),
        ));
    }
    let denom = (classes - 1).max(1) as f64;
    Ok((0..classes)
        .map(|c| {
            let v = n_max as f64 * ratio.powf(-(c as f64) / denom);
            (v * (1.0 + 1e-9)).floor() as usize
        })
        .collect())
}

/// The long-tailed split of METHOD.md §6, the input of [`make_long_tailed`].
#[derive(Clone, Debug, PartialEq)]
pub struct LtSpec {
    /// Training images kept per class.
    pub counts: LtCounts,
    /// Images of each class set aside, before the training subset, as a balanced validation set.
    pub val_per_class: usize,
    /// Seed of the per-class shuffles (the run seed).
    pub seed: u64,
}

impl Default for LtSpec {
    /// Fashion-MNIST-LT as in METHOD.md §6: exponential profile, `n_max = 5000`, `ρ = 100`, 500
    /// validation images per class, seed 0.
    fn default() -> Self {
        LtSpec {
            counts: LtCounts::Exponential {
                n_max: 5000,
                ratio: 100.0,
            },
            val_per_class: 500,
            seed: 0,
        }
    }
}

/// The result of [`make_long_tailed`]: the long-tailed training set, the balanced validation set,
/// and the training count of each class.
#[derive(Clone, Debug, PartialEq)]
pub struct LtSplit {
    /// The long-tailed training set, `counts[c]` rows of class `c`, in the original row order.
    pub train: Dataset,
    /// The balanced validation set, `val_per_class` rows of each class, in the original row order.
    pub val: Dataset,
    /// Training rows per class, `n_c`.
    pub counts: Vec<usize>,
}

/// Splits a full (balanced) training set: each class's rows are shuffled with `spec.seed`; the
/// first `val_per_class` go to the validation set, the next `n_c` to the training set. Both sets
/// keep the rows in their original order, so they are disjoint and deterministic in the seed.
///
/// Each class is shuffled by its own ChaCha8 stream (stream number = class), so one class's
/// selection does not depend on how many rows the other classes hold.
///
/// # Errors
/// Those of [`Dataset::validate`] and [`LtCounts::resolve`], and [`Error::Invalid`] naming the
/// class when it holds fewer than `val_per_class + n_c` rows.
pub fn make_long_tailed(full_train: &Dataset, spec: &LtSpec) -> Result<LtSplit> {
    full_train.validate()?;
    let counts = spec.counts.resolve(full_train.classes)?;
    let by_class = shuffled_by_class(full_train, spec.seed);
    let mut train_idx = Vec::with_capacity(counts.iter().sum());
    let mut val_idx = Vec::with_capacity(spec.val_per_class * full_train.classes);
    for (c, (rows, &n_c)) in by_class.iter().zip(&counts).enumerate() {
        let available = rows.len().saturating_sub(spec.val_per_class);
        if rows.len() < spec.val_per_class || n_c > available {
            return Err(Error::invalid(
                "long-tail counts",
                format!(
                    "class {c} asked for {n_c} training images but holds only {available} after \
                     setting aside {} for validation ({} in all)",
                    spec.val_per_class,
                    rows.len()
                ),
            ));
        }
        val_idx.extend_from_slice(&rows[..spec.val_per_class]);
        train_idx.extend_from_slice(&rows[spec.val_per_class..spec.val_per_class + n_c]);
    }
    train_idx.sort_unstable();
    val_idx.sort_unstable();
    Ok(LtSplit {
        train: full_train.select(&train_idx)?,
        val: full_train.select(&val_idx)?,
        counts,
    })
}

/// At most `per_class_max` rows of each class, chosen at random with `seed` (all of a class that
/// has fewer), in their original order. Meant for quick runs on a slice of a data set.
/// [`Error::Invalid`] for `per_class_max = 0`, and the errors of [`Dataset::validate`].
pub fn subset_per_class(ds: &Dataset, per_class_max: usize, seed: u64) -> Result<Dataset> {
    if per_class_max == 0 {
        return Err(Error::invalid("per-class maximum", "must be at least 1"));
    }
    ds.validate()?;
    let mut idx: Vec<usize> = shuffled_by_class(ds, seed)
        .into_iter()
        .flat_map(|rows| rows.into_iter().take(per_class_max))
        .collect();
    idx.sort_unstable();
    ds.select(&idx)
}

fn shuffled_by_class(ds: &Dataset, seed: u64) -> Vec<Vec<usize>> {
    let mut by_class = ds.indices_by_class();
    for (c, rows) in by_class.iter_mut().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(c as u64);
        rows.shuffle(&mut rng);
    }
    by_class
}

/// A small imbalanced problem: `counts[c]` points of class `c` drawn from `N(μ_c, I)` in `dim`
/// dimensions, rows shuffled. The centres are `N(0, s² I)` with `s = 3 / √(2·dim)`, so two centres
/// lie about 3 standard deviations apart whatever `dim` is: the classes overlap moderately and a
/// linear classifier reaches well above chance but not 100%. Deterministic in `seed`.
/// [`Error::Invalid`] for zero `classes` or `dim`, or `counts.len() != classes`.
pub fn synthetic_blobs(classes: usize, dim: usize, counts: &[usize], seed: u64) -> Result<Dataset> {
    if classes == 0 || dim == 0 {
        return Err(Error::invalid(
            "synthetic blobs",
            format!("classes = {classes} and dim = {dim} must both be at least 1"),
        ));
    }
    if counts.len() != classes {
        return Err(Error::invalid(
            "synthetic blobs",
            format!("{} counts given for {classes} classes", counts.len()),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = 3.0 / (2.0 * dim as f64).sqrt();
    let centres: Vec<Vec<f64>> = (0..classes)
        .map(|_| {
            (0..dim)
                .map(|_| s * Distribution::<f64>::sample(&StandardNormal, &mut rng))
                .collect()
        })
        .collect();
    let mut labels: Vec<u32> = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &k)| std::iter::repeat_n(c as u32, k))
        .collect();
    labels.shuffle(&mut rng);
    let mut x = Vec::with_capacity(labels.len() * dim);
    for &c in &labels {
        x.extend(
            centres[c as usize]
                .iter()
                .map(|&m| (m + Distribution::<f64>::sample(&StandardNormal, &mut rng)) as f32),
        );
    }
    Dataset::new(x, labels, dim, classes)
}
