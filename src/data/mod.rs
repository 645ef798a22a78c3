//! Data sets: the IDX reader, Fashion-MNIST with its long-tailed split (SPEC §6), and a synthetic
//! imbalanced problem for fast tests.

pub mod deepfashion;
pub mod features_file;
pub mod fmnist;
pub mod idx;
pub mod landmarks;
pub mod letterbox;

pub use deepfashion::{load_deepfashion, ClothesType, Partition, Record, DEEPFASHION_CATEGORIES};
pub use fmnist::{
    exponential_counts, load_fashion_mnist, make_long_tailed, subset_per_class, synthetic_blobs,
    Dataset, LtCounts, LtSpec, LtSplit, DEFAULT_DATA_DIR, FMNIST_CLASSES,
};
pub use idx::{read_idx_images, read_idx_labels, read_idx_u8, Images};
pub use landmarks::{pixel_to_grid, Landmarks, DEEPFASHION_LANDMARKS, HEATMAP_GRID};
pub use letterbox::{imagenet_chw, load_rgb, Letterbox, IMAGENET_MEAN, IMAGENET_STD, IMAGE_SIZE};
