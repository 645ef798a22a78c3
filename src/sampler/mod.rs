//! Over-sampling a user's own features (imbalanced-learn's `fit_resample` convention): how many
//! rows each class gets ([`strategy`]).

pub mod strategy;

pub use strategy::{rows_to_generate, Strategy};
