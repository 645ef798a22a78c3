//! The command-line tests, one binary (`cargo test --test cli`): the real `convexgan` binary over
//! bad input (`cli_errors`, `cli_extract`, `cli_extract_deepfashion2`, the hostile-input table
//! `hostile_inputs`) and the kill-and-resume test (`resume`), and the run directory as one
//! committed set (`run_dir_sets`).

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../fixture/deepfashion.rs"]
mod fixture;
#[path = "../fixture/deepfashion2.rs"]
mod fixture2;

mod cli_errors;
mod cli_extract;
mod cli_extract_deepfashion2;
mod hostile_inputs;
mod own_features;
mod resume;
mod run_dir_sets;
