//! Frozen image backbones loaded from ONNX (METHOD.md §1): run up to a named output, then pooled to a
//! `p × p` grid per channel and flattened into the vector `x` the heads read.
//!
//! - [`graph`]: the VGG subset of an ONNX graph as a chain of ops with their weights.
//! - [`chain_ref`]: a plain CPU executor of that chain, the reference the GPU path is checked against.
//! - [`tract_cpu`]: the CPU path, the whole model through `tract-onnx`.
//! - `cudnn` (feature `cudnn`): the GPU path, the chain through cuDNN.
//! - [`pool`]: adaptive average pooling to `p × p`.
//! - [`onnx_writer`]: writes small VGG-shaped ONNX models (tests, and users without a download).

pub mod chain_ref;
#[cfg(feature = "cudnn")]
pub mod cudnn;
pub mod graph;
pub mod onnx_writer;
pub mod pool;
pub mod tract_cpu;

/// A batch of NCHW activations.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    pub data: Vec<f32>,
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl FeatureMap {
    pub fn per_sample(&self) -> usize {
        self.c * self.h * self.w
    }
}
