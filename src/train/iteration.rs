//! What one Phase 2 iteration works on, split from the updates (`phase2::Game`, which uses this):
//! the [`Phase2Context`] that does not change between iterations, and the host randomness, drawn
//! first in a fixed order ([`Draw`]) and uploaded once ([`Inputs`]), so an iteration can also be
//! replayed on inputs already on the device (CUDA graphs) or observed update by update
//! ([`SubStep`], [`Observer`]: the gradient oracle of `tests/pipeline/torch_peer.rs`).

use rand::Rng;

use super::phase2::Phase2Context;
use super::sampling::{normal_noise, pick_real_rows, sample_rows, uniform_classes};
use crate::backend::{Backend, Indices, Tensor};
use crate::error::Result;
use crate::nn::Mlp;

/// The host randomness of one iteration, in the fixed order that lets any backend replay
/// the same numbers.
#[derive(Clone, Debug)]
pub struct Draw {
    pub c_r: Vec<u32>,
    pub rows_r: Vec<u32>,
    pub real_t: Vec<u32>,
    pub real_s: Vec<u32>,
    pub z_r: Vec<f32>,
    pub c_g: Vec<u32>,
    pub rows_g: Vec<u32>,
    pub z_g: Vec<f32>,
}

impl Draw {
    pub fn new<B: Backend>(
        rng: &mut impl Rng,
        ctx: &Phase2Context<'_, B>,
        z_dim: usize,
    ) -> Result<Self> {
        let (batch, ns) = (ctx.cfg.batch, ctx.cfg.ns);
        let layout = &ctx.dict.layout;
        let c_r = uniform_classes(rng, batch, ctx.dict.classes());
        let rows_r = sample_rows(rng, layout, &c_r, ns)?;
        let (real_t, real_s) = pick_real_rows(rng, &rows_r, ns);
        let z_r = normal_noise(rng, batch, z_dim);
        let c_g = ctx.sampler.draw(rng, batch);
        let rows_g = sample_rows(rng, layout, &c_g, ns)?;
        let z_g = normal_noise(rng, batch, z_dim);
        Ok(Draw {
            c_r,
            rows_r,
            real_t,
            real_s,
            z_r,
            c_g,
            rows_g,
            z_g,
        })
    }
}

/// A [`Draw`] on the backend.
pub struct Inputs<B: Backend> {
    pub labels_r: Indices<B>,
    pub rows_r: Indices<B>,
    pub real_t: Indices<B>,
    pub real_s: Indices<B>,
    pub z_r: Tensor<B>,
    pub labels_g: Indices<B>,
    pub rows_g: Indices<B>,
    pub z_g: Tensor<B>,
    /// The first of each generated sample's `N_s` rows, for the real half when Phase 2 generates
    /// one stream only (`phase2.generate`); the draw shuffles each set, so it is uniform over the
    /// class.
    pub paired_r: Indices<B>,
    pub paired_g: Indices<B>,
}

impl<B: Backend> Inputs<B> {
    pub fn upload(be: &B, d: &Draw, z_dim: usize) -> Result<Self> {
        let batch = d.c_r.len();
        Ok(Inputs {
            labels_r: be.upload_indices(&d.c_r)?,
            rows_r: be.upload_indices(&d.rows_r)?,
            real_t: be.upload_indices(&d.real_t)?,
            real_s: be.upload_indices(&d.real_s)?,
            z_r: be.upload_f32(&d.z_r, batch, z_dim)?,
            labels_g: be.upload_indices(&d.c_g)?,
            rows_g: be.upload_indices(&d.rows_g)?,
            z_g: be.upload_f32(&d.z_g, d.c_g.len(), z_dim)?,
            paired_r: be.upload_indices(&first_of_each(&d.rows_r, d.c_r.len()))?,
            paired_g: be.upload_indices(&first_of_each(&d.rows_g, d.c_g.len()))?,
        })
    }
}

/// The first index of each of `samples` equal-length sets laid end to end in `rows`.
fn first_of_each(rows: &[u32], samples: usize) -> Vec<u32> {
    let ns = rows.len() / samples.max(1);
    rows.iter().step_by(ns.max(1)).copied().collect()
}

/// The five updates of an iteration, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubStep {
    QReal,
    DReal,
    QFake,
    DFake,
    G,
}

impl SubStep {
    pub fn name(self) -> &'static str {
        match self {
            SubStep::QReal => "q_real",
            SubStep::DReal => "d_real",
            SubStep::QFake => "q_fake",
            SubStep::DFake => "d_fake",
            SubStep::G => "g",
        }
    }
}

/// Sees the network an update is about to change, with its gradients set and its weights still
/// those before the update, and the update's loss.
pub type Observer<'o, B> = dyn FnMut(SubStep, &Mlp<B>, &Tensor<B>) -> Result<()> + 'o;
