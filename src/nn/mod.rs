//! Layers with hand-written backward passes, written once against [`Backend`](crate::Backend).
//! No autograd: each layer keeps what its backward needs from its last training-mode forward.

mod adam;
mod batchnorm;
mod linear;
mod mlp;
mod param;
pub(crate) mod store;

pub use adam::{Adam, LrSchedule};
pub use batchnorm::BatchNorm1d;
pub use linear::Linear;
pub use mlp::{Layer, Mlp, MlpBuilder};
pub use param::Param;
pub use store::{HostTensor, ParamStore};

/// Training mode (batch statistics, caches kept for backward) or inference mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// BatchNorm normalises with the batch's statistics and moves its running averages; every
    /// layer keeps the inputs/outputs its backward needs.
    Train,
    /// BatchNorm uses its running averages; nothing is cached, so no backward may follow.
    Eval,
}
