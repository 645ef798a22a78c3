//! Phase 2 (SPEC §4, Algorithm 1): the three-player game of G, D and Q over the feature
//! dictionaries. One iteration draws one class per sample (the paper draws one per step).

use rand::Rng;

use super::dictionary::{DeviceDictionary, Dictionary};
use super::sampling::{
    normal_noise, pick_real_rows, sample_rows, uniform_classes, MinorityClassSampler,
};
use super::{progress, EpochLog};
use crate::backend::{Backend, ClassLoss, ConvexOut, Indices, Tensor};
use crate::config::{ModelConfig, Phase2Config, QLoss};
use crate::error::{Error, Result};
use crate::model::{Discriminator, Generator};
use crate::nn::{Adam, Mlp, Mode};

/// The three players and their optimizers.
#[derive(Clone)]
pub struct Game<B: Backend> {
    pub g: Generator<B>,
    pub d: Discriminator<B>,
    pub q: Mlp<B>,
    pub adam_g: Adam,
    pub adam_d: Adam,
    pub adam_q: Adam,
    /// Iterations done so far (D trains on every `d_every`-th).
    pub iteration: usize,
}

/// Losses of one iteration, still on the backend (`None` where that update did not run).
pub struct StepLosses<B: Backend> {
    pub q_real: Tensor<B>,
    pub q_fake: Tensor<B>,
    pub d_real: Option<Tensor<B>>,
    pub d_fake: Option<Tensor<B>>,
    pub g: Tensor<B>,
}

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

/// The `ClassLoss` for a Q loss choice.
pub fn class_loss_of<'m, B: Backend>(
    q_loss: QLoss,
    cfg: &Phase2Config,
    margins: Option<&'m Tensor<B>>,
) -> Result<ClassLoss<'m, B>> {
    Ok(match q_loss {
        QLoss::Ce => ClassLoss::Ce,
        QLoss::Mse => ClassLoss::Mse,
        QLoss::Focal => ClassLoss::Focal {
            gamma: cfg.focal_gamma,
        },
        QLoss::Ldam => ClassLoss::Ldam {
            margins: margins.ok_or_else(|| Error::invalid("ldam", "margins missing"))?,
            s: cfg.ldam_s,
        },
    })
}

impl<B: Backend> Game<B> {
    pub fn new(
        be: &B,
        model: &ModelConfig,
        dict: &Dictionary,
        ns: usize,
        q: Mlp<B>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let classes = dict.classes();
        Ok(Game {
            g: Generator::new(be, model, classes, ns, rng)?,
            d: Discriminator::new(be, model, dict.d_t + dict.d_s, classes, rng)?,
            q,
            adam_g: Adam::default(),
            adam_d: Adam::default(),
            adam_q: Adam::default(),
            iteration: 0,
        })
    }

    /// `f̃` for classes `labels` with noise `z` and rows `rows`; G in `mode`.
    pub fn generate(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        z: &Tensor<B>,
        onehot: &Tensor<B>,
        rows: &Indices<B>,
        mode: Mode,
    ) -> Result<(ConvexOut<B>, Tensor<B>)> {
        let zc = be.concat_cols(&[z, onehot])?;
        let logits = self.g.net.forward(be, &zc, mode)?;
        let out = be.convex_combine_fwd(&logits, &ctx.dev.texture, &ctx.dev.shape, rows)?;
        let f = be.concat_cols(&[&out.f_t, &out.f_s])?;
        Ok((out, f))
    }

    fn q_step(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        f: &Tensor<B>,
        labels: &Indices<B>,
        lr: f64,
    ) -> Result<Tensor<B>> {
        let loss = class_loss_of(ctx.cfg.q_loss, ctx.cfg, ctx.margins.as_ref())?;
        let logits = self.q.forward(be, f, Mode::Train)?;
        let (l, dl) = be.class_loss(&logits, labels, loss)?;
        self.q.backward(be, &dl, false)?;
        self.adam_q.step(be, lr, self.q.params_mut())?;
        Ok(l)
    }

    fn d_step(
        &mut self,
        be: &B,
        f: &Tensor<B>,
        onehot: &Tensor<B>,
        target: f64,
        lr: f64,
    ) -> Result<Tensor<B>> {
        let x = be.concat_cols(&[f, onehot])?;
        let out = self.d.net.forward(be, &x, Mode::Train)?;
        let (l, dl) = be.lsgan_d_loss(&out, target)?;
        self.d.net.backward(be, &dl, false)?;
        self.adam_d.step(be, lr, self.d.net.params_mut())?;
        Ok(l)
    }

    /// One iteration of Algorithm 1 at learning rate `lr`.
    pub fn step(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        rng: &mut impl Rng,
        lr: f64,
    ) -> Result<StepLosses<B>> {
        let cfg = ctx.cfg;
        let (batch, ns, classes) = (cfg.batch, cfg.ns, ctx.dict.classes());
        let layout = &ctx.dict.layout;
        // All host randomness of the iteration first, in a fixed order, so that any backend
        // replays the same numbers.
        let c_r = uniform_classes(rng, batch, classes);
        let rows_r = sample_rows(rng, layout, &c_r, ns)?;
        let (real_t, real_s) = pick_real_rows(rng, &rows_r, ns);
        let z_r = normal_noise(rng, batch, self.g.z_dim);
        let c_g = ctx.sampler.draw(rng, batch);
        let rows_g = sample_rows(rng, layout, &c_g, ns)?;
        let z_g = normal_noise(rng, batch, self.g.z_dim);

        let d_turn = self.iteration.is_multiple_of(cfg.d_every);
        self.iteration += 1;

        // 1–2: Q and D on real, then on generated samples of the same classes with G fixed.
        let labels_r = be.upload_indices(&c_r)?;
        let onehot_r = be.onehot(&labels_r, classes)?;
        let real = be.concat_cols(&[
            &be.dict_gather(&ctx.dev.texture, &be.upload_indices(&real_t)?)?,
            &be.dict_gather(&ctx.dev.shape, &be.upload_indices(&real_s)?)?,
        ])?;
        let q_real = self.q_step(be, ctx, &real, &labels_r, lr)?;
        let d_real = if d_turn {
            Some(self.d_step(be, &real, &onehot_r, 1.0, lr)?)
        } else {
            None
        };
        let z = be.upload_f32(&z_r, batch, self.g.z_dim)?;
        let rows = be.upload_indices(&rows_r)?;
        let (_, fake) = self.generate(be, ctx, &z, &onehot_r, &rows, Mode::Eval)?;
        let q_fake = self.q_step(be, ctx, &fake, &labels_r, lr)?;
        let d_fake = if d_turn {
            Some(self.d_step(be, &fake, &onehot_r, 0.0, lr)?)
        } else {
            None
        };

        // 3: G against Q and D (both fixed) on minority classes.
        let labels_g = be.upload_indices(&c_g)?;
        let onehot_g = be.onehot(&labels_g, classes)?;
        let z = be.upload_f32(&z_g, batch, self.g.z_dim)?;
        let rows = be.upload_indices(&rows_g)?;
        let (conv, fake) = self.generate(be, ctx, &z, &onehot_g, &rows, Mode::Train)?;
        let q_logits = self.q.forward(be, &fake, Mode::Train)?;
        let d_in = be.concat_cols(&[&fake, &onehot_g])?;
        let d_out = self.d.net.forward(be, &d_in, Mode::Train)?;
        let gl = be.lsgan_g_loss(&q_logits, &d_out, &labels_g, ctx.majority, cfg.lambda)?;
        let mut d_fake_in = self
            .q
            .backward(be, &gl.d_q_logits, true)?
            .expect("input gradient requested");
        let d_from_d = self
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
            &rows,
        )?;
        self.g.net.backward(be, &d_logits, false)?;
        self.adam_g.step(be, lr, self.g.net.params_mut())?;
        // Q and D were only differentiated through; their parameter gradients are not applied.
        for p in self
            .q
            .params_mut()
            .into_iter()
            .chain(self.d.net.params_mut())
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
}

/// Runs `cfg.epochs` epochs of `ceil(n_train / B)` iterations; returns per-epoch mean losses.
pub fn train_phase2<B: Backend>(
    be: &B,
    game: &mut Game<B>,
    ctx: &Phase2Context<'_, B>,
    n_train: usize,
    rng: &mut impl Rng,
    show_progress: bool,
) -> Result<Vec<EpochLog>> {
    let cfg = ctx.cfg;
    let per_epoch = n_train.div_ceil(cfg.batch).max(1);
    let pb = progress::bar((cfg.epochs * per_epoch) as u64, "phase 2", show_progress);
    let mut logs = Vec::new();
    for epoch in 0..cfg.epochs {
        let lr = cfg.lr.at(epoch);
        let (mut qr, mut qf, mut dr, mut df, mut g) = (vec![], vec![], vec![], vec![], vec![]);
        for it in 0..per_epoch {
            let s = game.step(be, ctx, rng, lr)?;
            if (it + 1) % progress::LOG_EVERY == 0 {
                let v = be.read_scalars(&[&s.q_real, &s.g])?;
                pb.set_message(format!("epoch {} q {:.4} g {:.4}", epoch + 1, v[0], v[1]));
            }
            qr.push(s.q_real);
            qf.push(s.q_fake);
            dr.extend(s.d_real);
            df.extend(s.d_fake);
            g.push(s.g);
            pb.inc(1);
        }
        let mut log = EpochLog::new("phase2", epoch);
        log.add_mean(be, "q_real", &qr)?;
        log.add_mean(be, "q_fake", &qf)?;
        log.add_mean(be, "d_real", &dr)?;
        log.add_mean(be, "d_fake", &df)?;
        log.add_mean(be, "g", &g)?;
        log.check_finite()?;
        logs.push(log);
    }
    pb.finish_and_clear();
    Ok(logs)
}
