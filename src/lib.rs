//! `convexgan`: minority oversampling in feature space with a convex-combination GAN drawn from
//! per-class feature dictionaries (Park, Song, Kang, IEEE Access 2022).
//!
//! The numerical core is written twice: a CPU reference on `ndarray` ([`backend::Cpu`], generic over
//! f32 and f64) and, behind the `cuda` feature, hand-written CUDA kernels. Both implement
//! [`backend::Backend`]; the layers in [`nn`], the networks in [`model`] and the trainer in [`train`]
//! are written once against that trait and have no autograd: every op has a hand-written backward.

pub mod app;
pub mod backbone;
pub mod backend;
pub mod config;
pub mod data;
pub mod error;
pub mod extract;
pub mod io;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod progress;
pub mod report;
pub mod sampler;
pub mod train;

pub use backend::{Backend, Cpu, Tensor};
pub use error::{Error, Result};

/// The README's code blocks run as doc tests, so its library example keeps compiling.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
