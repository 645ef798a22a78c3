//! What one Phase 2 iteration works on, split from the updates (`phase2::Game`, which uses this):
//! the [`Phase2Context`] that does not change between iterations, and the host randomness, drawn
//! first in a fixed order ([`Draw`]) and uploaded once ([`Inputs`]), so an iteration can also be
//! replayed on inputs already on the device (CUDA graphs) or observed update by update
//! ([`SubStep`], [`Observer`]: the gradient oracle of `tests/pipeline/torch_peer.rs`).

use rand::Rng;

use super::dictionary::{DeviceDictionary, Dictionary};
use super::sampling::{
    normal_noise, pick_real_rows, sample_rows, uniform_classes, MinorityClassSampler,
};
use crate::backend::{Backend, Indices, Tensor};
use crate::config::{Phase2Config, QLoss};
use crate::error::{Error, Result};
use crate::nn::Mlp;

/// Everything an iteration needs that does not change between iterations.
pub struct Phase2Context<'a, B: Backend> {
    pub dict: &'a Dictionary,
    pub dev: &'a DeviceDictionary<B>,
    pub cfg: &'a Phase2Config,
    pub sampler: MinorityClassSampler,
    pub majority: usize,
    /// LDAM margins (`1 × N_C`), when Q's loss is LDAM.
    pub margins: Option<Tensor<B>>,
}

impl<'a, B: Backend> Phase2Context<'a, B> {
    pub fn new(
        be: &B,
        dict: &'a Dictionary,
        dev: &'a DeviceDictionary<B>,
        cfg: &'a Phase2Config,
    ) -> Result<Self> {
        if cfg.ns > dict.min_rows() {
            let c = dict
                .layout
                .rows
                .iter()
                .position(|&r| r == dict.min_rows())
                .unwrap_or(0);
            return Err(Error::invalid(
                "--ns",
                format!(
                    "N_s = {} exceeds the smallest dictionary (class {c} has {} rows); use --ns {} or fewer",
                    cfg.ns,
                    dict.min_rows(),
                    dict.min_rows()
                ),
            ));
        }
        let majority = dict
            .counts
            .iter()
            .enumerate()
            .max_by_key(|&(i, &n)| (n, std::cmp::Reverse(i)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let margins = class_loss_margins(be, cfg, &dict.counts)?;
        Ok(Phase2Context {
            dict,
            dev,
            cfg,
            sampler: MinorityClassSampler::new(&dict.counts)?,
            majority,
            margins,
        })
    }
}

/// LDAM margins from the class counts when `cfg.q_loss` is LDAM.
pub fn class_loss_margins<B: Backend>(
    be: &B,
    cfg: &Phase2Config,
    counts: &[usize],
) -> Result<Option<Tensor<B>>> {
    if cfg.q_loss != QLoss::Ldam {
        return Ok(None);
    }
    let m = crate::backend::cpu::losses::ldam_margins(counts, cfg.ldam_max_margin)?;
    let m: Vec<f32> = m.iter().map(|&x| x as f32).collect();
    Ok(Some(be.upload_f32(&m, 1, counts.len())?))
}

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
        })
    }
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
