//! Over-sampling a user's own features (imbalanced-learn's `fit_resample` convention):
//! [`fit`](fit()) a sampler on features and labels from any network, then draw synthetic rows per
//! class ([`Generating::sample`]) or resample to a [`Strategy`] ([`FittedSampler::resample`]). A
//! fitted sampler is saved to one file ([`FittedSampler::save`]) and loaded again without
//! refitting ([`FittedSampler::load`]). METHOD.md §9 has what a fit computes.
//!
//! ```
//! use convexgan::data::arrays::Matrix;
//! use convexgan::sampler::{fit, SamplerOptions, Strategy};
//! # fn main() -> convexgan::Result<()> {
//! // Two clusters of 2-D points, 40 of class 0 and 8 of class 1.
//! let (mut data, mut y) = (Vec::new(), Vec::new());
//! for i in 0..48 {
//!     let c = u32::from(i >= 40);
//!     data.extend([c as f32 * 5.0 + (i % 7) as f32 * 0.1, (i % 5) as f32 * 0.1]);
//!     y.push(c);
//! }
//! let x = Matrix { data, rows: 48, cols: 2 };
//! let options = SamplerOptions { iterations: Some(20), q_epochs: 1, ..Default::default() };
//! let be = convexgan::Cpu::<f32>::new();
//! let sampler = fit(&be, &x, &y, &options, false)?;
//! let (xr, yr) = sampler.resample(&be, &x, &y, &Strategy::Auto)?;
//! assert_eq!(yr.iter().filter(|&&c| c == 1).count(), 40);
//! // Each synthetic row is a convex combination of class 1's rows, so it lies in their range.
//! assert!(xr.data[48 * 2..].chunks(2).all(|r| r[0] >= 5.0 && r[0] <= 5.7));
//! # Ok(()) }
//! ```

mod file;
pub mod fit;
pub mod options;
pub mod strategy;

pub use fit::{fit, FittedSampler, Generating};
pub use options::SamplerOptions;
pub use strategy::{rows_to_generate, Strategy};
