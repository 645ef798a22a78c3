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
    pub net: Mlp<B>,
    pub z_dim: usize,
    pub ns: usize,
}

/// D of Table 1: `[f_t; f_s; onehot(c)] → FC → LeakyReLU → FC → LeakyReLU → FC 1` (raw output,
/// least-squares GAN).
#[derive(Clone)]
pub struct Discriminator<B: Backend> {
    pub net: Mlp<B>,
}

impl<B: Backend> Generator<B> {
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
