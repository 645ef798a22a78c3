//! One trait per op family, each with its operand checks; [`Backend`](super::Backend) is their sum
//! with [`Device`](super::Device).

pub mod adam;
pub mod convex;
pub mod elementwise;
pub mod heatmap;
pub mod layers;
pub mod losses;
pub mod lsgan;
pub mod matmul;

pub use adam::AdamOps;
pub use convex::ConvexOps;
pub use elementwise::ElementwiseOps;
pub use heatmap::HeatmapOps;
pub use layers::LayerOps;
pub use losses::LossOps;
pub use lsgan::LsganOps;
pub use matmul::MatmulOps;
