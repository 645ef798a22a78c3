use rand::Rng;

use crate::backend::{Activation, Backend};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::nn::Mlp;

/// G of Table 1: `[z; onehot(c)] → FC → LeakyReLU → FC → LeakyReLU → FC 2·N_s`. The two halves of
/// its output become the convex weights through the softmaxes fused into the convex combination.
/// (METHOD.md §4 Choice: `2·N_s` outputs, one scalar weight per sampled row and stream.)
#[derive(Clone)]
pub struct Generator<B: Backend> {
    /// The network, `B × (z_dim + N_C) → B × 2·N_s`, named `g`; output columns `0..N_s` are the
    /// texture weights' logits `g_t`, `N_s..2·N_s` the shape ones' `g_s`.
    pub net: Mlp<B>,
    /// Width of the noise `z ~ N(0, I)`, the first `z_dim` input columns (the rest is `onehot(c)`).
    pub z_dim: usize,
    /// `N_s`, dictionary rows combined per generated sample.
    pub ns: usize,
}

/// D of Table 1: `[f_t; f_s; onehot(c)] → FC → LeakyReLU → FC → LeakyReLU → FC 1` (raw output,
/// least-squares GAN).
#[derive(Clone)]
pub struct Discriminator<B: Backend> {
    /// The network, `B × (d + N_C) → B × 1`, named `d`: input `[f_t ‖ f_s ‖ onehot(c)]`, output
    /// the raw score the least-squares losses of the paper's Eqs. 4–5 compare with 1 and 0.
    pub net: Mlp<B>,
}

impl<B: Backend> Generator<B> {
    /// G for `classes` classes and `ns` rows per sample, with `cfg`'s `z_dim`, `g_hidden` widths
    /// and `leaky_slope`; weights drawn from `rng` (see [`Linear::new`](crate::nn::Linear::new)).
    /// Fails only if the backend cannot allocate.
    pub fn new(
        be: &B,
        cfg: &ModelConfig,
        classes: usize,
        ns: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let act = Activation::LeakyRelu(cfg.leaky_slope);
        let mut b = Mlp::<B>::builder("g", cfg.z_dim + classes);
        for &w in &cfg.g_hidden {
            b = b.linear(w, act);
        }
        let net = b.linear(2 * ns, Activation::Identity).build(be, rng)?;
        Ok(Generator {
            net,
            z_dim: cfg.z_dim,
            ns,
        })
    }
}

impl<B: Backend> Discriminator<B> {
    /// D on `feature_dim = d_t + d_s` feature columns plus the `classes`-wide one-hot, with
    /// `cfg`'s `d_hidden` widths and `leaky_slope`; weights drawn from `rng`. Fails only if the
    /// backend cannot allocate.
    pub fn new(
        be: &B,
        cfg: &ModelConfig,
        feature_dim: usize,
        classes: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let act = Activation::LeakyRelu(cfg.leaky_slope);
        let mut b = Mlp::<B>::builder("d", feature_dim + classes);
        for &w in &cfg.d_hidden {
            b = b.linear(w, act);
        }
        let net = b.linear(1, Activation::Identity).build(be, rng)?;
        Ok(Discriminator { net })
    }
}
