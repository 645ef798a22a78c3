//! Metrics of SPEC §5.
