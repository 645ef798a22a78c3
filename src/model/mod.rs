//! The networks of METHOD.md §1 and §4: the two-stream heads with the auxiliary and main classifiers
//! (Phase 1), and the generator and discriminator of the three-player game (Phase 2).

mod gan;
mod heads;

pub use gan::{Discriminator, Generator};
pub use heads::{build_q, Heads, HeadsSpec, Ldm, StreamInputs};
