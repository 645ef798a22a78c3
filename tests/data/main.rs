//! The data and backbone tests, one binary (`cargo test --test data`): IDX and Fashion-MNIST-LT
//! loading, DeepFashion and DeepFashion2 annotations and letterboxing, the ONNX backbone chain on
//! tract and its reference, and the cuDNN path (`gpu_backbone`, feature `cudnn`; skips without a
//! device unless `CONVEXGAN_REQUIRE_GPU` is set).

#[path = "../backbone_support/mod.rs"]
mod backbone_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../fixture/deepfashion.rs"]
mod fixture;
#[path = "../fixture/deepfashion2.rs"]
mod fixture2;

mod backbone_chain;
mod backbone_tiny;
mod data_deepfashion;
mod data_deepfashion2;
mod data_fmnist;
mod data_idx;
mod gpu_backbone;
