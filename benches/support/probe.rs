//! One Phase 2 iteration taken apart for the benchmarks and the gradient oracle: the library's
//! [`Draw`] (host randomness) and [`Inputs`] (its upload), and `Game::step_on`, which runs the five
//! updates on pre-uploaded inputs with an observer before each Adam update.

use convexgan::backend::{Backend, Tensor};
use convexgan::nn::Mlp;
// Each bench binary includes this module and uses a different part of it.
#[allow(unused_imports)]
pub use convexgan::train::iteration::{Draw, Inputs, Observer, SubStep};
use convexgan::train::phase2::{Game, Phase2Context, StepLosses};
use convexgan::Result;

/// `Game::step` on pre-uploaded inputs; `observe` is called before each Adam update.
pub fn step<B: Backend>(
    be: &B,
    game: &mut Game<B>,
    ctx: &Phase2Context<'_, B>,
    inp: &Inputs<B>,
    lr: f64,
    observe: &mut Observer<'_, B>,
) -> Result<StepLosses<B>> {
    game.step_on(be, ctx, inp, lr, observe)
}

/// An observer that does nothing (benchmarks).
pub fn ignore<B: Backend>(_: SubStep, _: &Mlp<B>, _: &Tensor<B>) -> Result<()> {
    Ok(())
}
