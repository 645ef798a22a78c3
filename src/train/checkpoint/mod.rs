//! Phase 2 checkpoints and `--resume`.
//!
//! A checkpoint is one tensor file, written atomically (temporary file, then rename) every
//! `--checkpoint-every` iterations: G's, D's and Q's weights, every Adam moment, and in the
//! metadata the Adam step counters, `Game::iteration`, the epoch and the iteration within it, the
//! losses of the epoch under way (as bit patterns, so the epoch's mean comes out the same), the
//! ChaCha8 stream's seed, stream number and word position, and what the run was computed from (the
//! configuration and fingerprints of the dictionary and of Phase 1's Q). A resumed run restores all
//! of it and replays exactly the iterations an uninterrupted run would have made: on the CPU
//! backend the final parameters and logs are bit-identical.
//!
//! [`format`] is the file, [`identity`] what a checkpoint must match to be resumed; the resuming
//! itself is [`Phase2Run`](super::phase2_run::Phase2Run)'s.

pub mod format;
pub mod identity;

use std::path::PathBuf;

pub use format::{Checkpoint, FORMAT};
pub use identity::{fingerprint_dictionary, fingerprint_mlp, Identity};

use crate::error::{Error, Result};

/// Where and how often a Phase 2 run checkpoints, and whether it starts from the checkpoint.
#[derive(Clone, Debug)]
pub struct Plan {
    pub path: PathBuf,
    /// Iterations between checkpoints; 0 = none.
    pub every: usize,
    pub resume: bool,
}

impl Plan {
    /// After the final outputs are written the checkpoint has no further use; removing it keeps a
    /// later `--resume` from replaying a finished run.
    pub fn finish(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}
