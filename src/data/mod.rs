//! Data sets and their files (METHOD.md §6): the IDX reader and Fashion-MNIST with its long-tailed
//! split, the DeepFashion and DeepFashion2 annotations, image preparation (crop, letterbox, ImageNet
//! normalisation), landmark targets on the heatmap grid, the features file `convexgan extract`
//! writes, user features from `.npy`, `.npz` and CSV, and a synthetic imbalanced problem for fast
//! tests.
//!
//! Feature matrices are f32, row-major, one row per sample; labels are 0-based `u32` class
//! indices.

pub mod arrays;
pub mod deepfashion;
// Hidden: `convexgan extract` and the tests reach it here; it is not yet part of the documented
// API (nor of its listing in `tests/api/`).
#[doc(hidden)]
pub mod deepfashion2;
pub mod features_file;
pub mod fmnist;
pub mod idx;
pub mod landmarks;
pub mod letterbox;

pub use arrays::{read_features, read_labelled, Matrix, MatrixRef};
pub use deepfashion::{load_deepfashion, ClothesType, Partition, Record, DEEPFASHION_CATEGORIES};
pub use fmnist::{
    exponential_counts, load_fashion_mnist, make_long_tailed, subset_per_class, synthetic_blobs,
    Dataset, LtCounts, LtSpec, LtSplit, DEFAULT_DATA_DIR, FASHION_MNIST_CLASS_COUNT,
};
pub use idx::{read_idx_images, read_idx_labels, read_idx_u8, Images};
pub use landmarks::{pixel_to_grid, Landmarks, DEEPFASHION_LANDMARKS, HEATMAP_GRID};
pub use letterbox::{imagenet_chw, load_rgb, Letterbox, IMAGENET_MEAN, IMAGENET_STD, IMAGE_SIZE};

/// Fashion-MNIST class names in label order (their number is [`FASHION_MNIST_CLASS_COUNT`]).
pub const FASHION_MNIST_CLASS_NAMES: [&str; FASHION_MNIST_CLASS_COUNT] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
