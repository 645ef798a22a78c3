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
//! A library user only names a [`Plan`] ([`Phase2Run::checkpoint`](super::Phase2Run::checkpoint));
//! the file's layout (`format`) and what a checkpoint must match to be resumed (`identity`) are
//! not part of the API.

#[doc(hidden)]
pub mod format;
#[doc(hidden)]
pub mod identity;

use std::path::PathBuf;

#[doc(hidden)]
pub use format::{Checkpoint, FORMAT};
#[doc(hidden)]
pub use identity::{fingerprint_dictionary, fingerprint_mlp, Identity};

use crate::error::{Error, Result};

/// Where and how often a Phase 2 run checkpoints, and whether it starts from the checkpoint.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The checkpoint file (one tensor file, replaced atomically at each checkpoint).
    pub path: PathBuf,
    /// Iterations between checkpoints; 0 = none.
    pub every: usize,
    /// Start from `path` when it exists (after checking that it was written by the same
    /// configuration, dictionary and Phase 1 classifier); a missing file starts afresh.
    pub resume: bool,
}

impl Plan {
    /// Removes the checkpoint file (nothing when it is absent): after the final outputs are
    /// written it has no further use, and removing it keeps a later resume from replaying a
    /// finished run.
    ///
    /// # Errors
    /// The file exists and cannot be removed.
    pub fn finish(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}
