//! One Phase 2 iteration (`Game::step`) taken apart: its host randomness drawn up front, its inputs
//! uploaded once, and its five updates run with a hook that sees each network's parameter gradients
//! before Adam applies them.
//!
//! Why a replica rather than a library hook: `Game::step` draws and uploads its inputs itself and
//! hands each gradient straight to Adam, so neither the gradient oracle (tests/torch_peer.rs) nor a
//! CUDA graph (inputs must sit in fixed device buffers before capture) can use it directly. The
//! replica uses only the crate's public API, and tests/torch_peer.rs checks that it leaves every
//! weight bit-identical to `Game::step` from the same state and seed, so it cannot drift unnoticed.

use convexgan::backend::{Backend, Indices, Tensor};
use convexgan::nn::{Mlp, Mode};
use convexgan::train::phase2::{class_loss_of, Game, Phase2Context, StepLosses};
use convexgan::train::sampling::{normal_noise, pick_real_rows, sample_rows, uniform_classes};
use convexgan::Result;
use rand::Rng;

/// The host randomness of one iteration, drawn in `Game::step`'s order.
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

/// `Game::step` on pre-uploaded inputs; `observe` is called before each Adam update.
pub fn step<B: Backend>(
    be: &B,
    game: &mut Game<B>,
    ctx: &Phase2Context<'_, B>,
    inp: &Inputs<B>,
    lr: f64,
    observe: &mut Observer<'_, B>,
) -> Result<StepLosses<B>> {
    let cfg = ctx.cfg;
    let classes = ctx.dict.classes();
    let d_turn = game.iteration.is_multiple_of(cfg.d_every);
    game.iteration += 1;

    let q_step = |game: &mut Game<B>,
                  f: &Tensor<B>,
                  which: SubStep,
                  observe: &mut Observer<'_, B>|
     -> Result<Tensor<B>> {
        let loss = class_loss_of(cfg.q_loss, cfg, ctx.margins.as_ref())?;
        let logits = game.q.forward(be, f, Mode::Train)?;
        let (l, dl) = be.class_loss(&logits, &inp.labels_r, loss)?;
        game.q.backward(be, &dl, false)?;
        observe(which, &game.q, &l)?;
        game.adam_q.step(be, lr, game.q.params_mut())?;
        Ok(l)
    };
    let d_step = |game: &mut Game<B>,
                  f: &Tensor<B>,
                  onehot: &Tensor<B>,
                  target: f64,
                  which: SubStep,
                  observe: &mut Observer<'_, B>|
     -> Result<Tensor<B>> {
        let x = be.concat_cols(&[f, onehot])?;
        let out = game.d.net.forward(be, &x, Mode::Train)?;
        let (l, dl) = be.lsgan_d_loss(&out, target)?;
        game.d.net.backward(be, &dl, false)?;
        observe(which, &game.d.net, &l)?;
        game.adam_d.step(be, lr, game.d.net.params_mut())?;
        Ok(l)
    };

    let onehot_r = be.onehot(&inp.labels_r, classes)?;
    let real = be.concat_cols(&[
        &be.dict_gather(&ctx.dev.texture, &inp.real_t)?,
        &be.dict_gather(&ctx.dev.shape, &inp.real_s)?,
    ])?;
    let q_real = q_step(game, &real, SubStep::QReal, observe)?;
    let d_real = if d_turn {
        Some(d_step(
            game,
            &real,
            &onehot_r,
            1.0,
            SubStep::DReal,
            observe,
        )?)
    } else {
        None
    };
    let (_, fake) = game.generate(be, ctx, &inp.z_r, &onehot_r, &inp.rows_r, Mode::Eval)?;
    let q_fake = q_step(game, &fake, SubStep::QFake, observe)?;
    let d_fake = if d_turn {
        Some(d_step(
            game,
            &fake,
            &onehot_r,
            0.0,
            SubStep::DFake,
            observe,
        )?)
    } else {
        None
    };

    let onehot_g = be.onehot(&inp.labels_g, classes)?;
    let (conv, fake) = game.generate(be, ctx, &inp.z_g, &onehot_g, &inp.rows_g, Mode::Train)?;
    let q_logits = game.q.forward(be, &fake, Mode::Train)?;
    let d_in = be.concat_cols(&[&fake, &onehot_g])?;
    let d_out = game.d.net.forward(be, &d_in, Mode::Train)?;
    let gl = be.lsgan_g_loss(&q_logits, &d_out, &inp.labels_g, ctx.majority, cfg.lambda)?;
    let mut d_fake_in = game
        .q
        .backward(be, &gl.d_q_logits, true)?
        .expect("input gradient requested");
    let d_from_d = game
        .d
        .net
        .backward(be, &gl.d_d_out, true)?
        .expect("input gradient requested");
    let d_from_d = be.split_cols(&d_from_d, &[fake.cols(), classes])?;
    be.axpy(&mut d_fake_in, 1.0, &d_from_d[0])?;
    let parts = be.split_cols(&d_fake_in, &[ctx.dict.d_t, ctx.dict.d_s])?;
    let d_logits = be.convex_combine_bwd(
        &conv.w,
        &parts[0],
        &parts[1],
        &ctx.dev.texture,
        &ctx.dev.shape,
        &inp.rows_g,
    )?;
    game.g.net.backward(be, &d_logits, false)?;
    observe(SubStep::G, &game.g.net, &gl.loss)?;
    game.adam_g.step(be, lr, game.g.net.params_mut())?;
    for p in game
        .q
        .params_mut()
        .into_iter()
        .chain(game.d.net.params_mut())
    {
        p.grad = None;
    }
    Ok(StepLosses {
        q_real,
        q_fake,
        d_real,
        d_fake,
        g: gl.loss,
    })
}

/// An observer that does nothing (benchmarks).
pub fn ignore<B: Backend>(_: SubStep, _: &Mlp<B>, _: &Tensor<B>) -> Result<()> {
    Ok(())
}
