//! Data sets: the IDX reader, Fashion-MNIST with its long-tailed split (METHOD.md §6), and a synthetic
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
