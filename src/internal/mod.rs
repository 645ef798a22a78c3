//! The plumbing behind the command line: not part of the library's API, hidden from its
//! documentation and free to change in any release. The `convexgan` binary, the Python package,
//! the tests, the benches and the fuzz targets reach it here; a program that links the crate
//! should not.
//!
//! - [`app`]: the stages of `convexgan run` over a run directory (locks, staged commits,
//!   manifests), `compare`, and the own-features commands.
//! - [`backbone`], [`extract`]: ONNX backbones and `convexgan extract`.
//! - [`io`]: atomic writes, bounded reads, the tensor-file layer.
//! - [`memory`]: the memory estimate a run is checked against before it starts.
//! - [`progress`], [`report`]: progress bars, Markdown tables and plots.
//!
//! Items of the public modules that only the tests and the benches need (the kernel ABI and
//! sources, the CUDA backend's per-family modules, checkpoints' layout, the per-iteration state)
//! are `#[doc(hidden)]` where they are: outside the API in the same sense.

pub mod app;
pub mod backbone;
pub mod extract;
pub mod io;
pub mod memory;
pub mod progress;
pub mod report;
