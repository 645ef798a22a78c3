//! `convexgan`: minority oversampling in feature space with a convex-combination GAN drawn from
//! per-class feature dictionaries (Park, Song, Kang, IEEE Access 2022).
//!
//! # The method, and where it lives
//!
//! - **Phase 1** ([`train::phase1`], [`model::Heads`]): a two-stream network (texture and shape
//!   streams over a frozen backbone's output, a landmark module on the shape stream for data with
//!   landmarks, Eq. 1), the auxiliary classifier `A` on the shape stream and the main classifier
//!   `Q` on both, trained on the imbalanced data.
//! - **Dictionaries** ([`train::dictionary`], Eq. 2): the streams are frozen and every class keeps
//!   a set of its real feature rows, per stream.
//! - **Phase 2** ([`train::phase2`], [`train::Phase2Run`], Algorithm 1): a generator `G`
//!   ([`model::Generator`]) outputs softmax weights over `N_s` rows drawn from a minority class's
//!   dictionary; their convex combination (Eq. 3) is a synthetic feature of that class. `G`, the
//!   discriminator `D` and `Q` play a three-player game (Eqs. 4 and 5), and `Q` ends up trained
//!   on real and generated features alike.
//! - **Evaluation** ([`metrics`], Eq. 6): top-1, ACSA (mean per-class recall) and GM.
//!
//! [`train::pipeline`] strings the stages together for a data set in memory
//! ([`data::Dataset`]); `examples/train_in_memory.rs` does it in a page. For features you
//! already have (from any network), [`sampler`] fits the same game on them and resamples them in
//! imbalanced-learn's `fit_resample` convention (`examples/oversample_features.rs`).
//!
//! # Backends
//!
//! The numerical core is written twice: a CPU reference on `ndarray` ([`Cpu`], generic over f32
//! and f64, the oracle the kernels are checked against) and, behind the `cuda` feature,
//! hand-written CUDA kernels. There is no autograd: every op has a hand-written backward, and the
//! layers ([`nn`]), the networks ([`model`]) and the trainer ([`train`]) are written once against
//! [`Backend`]. A new backend implements [`backend::Device`] (its buffer types and the host ⇄
//! backend copies) and the eight op-family traits of [`backend::ops`]; [`Backend`] then holds by
//! itself. `examples/counting_backend.rs` does it outside the crate, wrapping [`Cpu`].
//!
//! # Feature flags
//!
//! | feature | adds | needs at run time |
//! |---------|------|-------------------|
//! | (none)  | the CPU backend, the whole pipeline, ONNX backbones through tract | nothing |
//! | `cuda`  | `backend::cuda::CudaBackend`: kernels compiled at run time with NVRTC, products with cuBLAS | an NVIDIA driver (`libcuda`), `libnvrtc` and `libcublas` (CUDA 13); probed when the backend is opened, an error rather than a panic when absent |
//! | `cudnn` | `cuda`, and ONNX backbones on the GPU through cuDNN | the above and `libcudnn` (9.x) |
//!
//! No CUDA toolkit is needed to build either feature: the libraries are loaded when a CUDA backend
//! is first opened.
//!
//! # Errors
//!
//! Every fallible function returns [`Result`], whose [`Error`] names what was wrong (the file, the
//! option, the tensor and its shape); bad input never panics.
//!
//! # Not the API
//!
//! The command line's plumbing (run directories, stages, reports, the memory estimate, the
//! backbones' execution) lives in a hidden `internal` module for the `convexgan` binary, the
//! Python package and the tests; it is not documented here and changes without notice.

#![deny(missing_docs)]

pub mod backend;
pub mod config;
pub mod data;
pub mod error;
#[doc(hidden)]
pub mod internal;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod sampler;
pub mod train;

pub use backend::{Backend, Cpu, Tensor};
pub use config::Config;
pub use data::{Dataset, Matrix};
pub use error::{Error, Result};
pub use metrics::Metrics;
pub use sampler::{fit, FittedSampler, SamplerOptions, Strategy};

/// The README's code blocks run as doc tests, so its library example keeps compiling.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
