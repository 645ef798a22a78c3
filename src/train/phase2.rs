//! Phase 2 (METHOD.md §4, Algorithm 1): the three-player game of G, D and Q over the feature
//! dictionaries, one iteration at a time ([`Game::step`]); one iteration draws one class per sample
//! (the paper draws one per step). The epochs, checkpoints and resuming are
//! [`Phase2Run`](super::Phase2Run)'s.

use rand::Rng;

use super::dictionary::{DeviceDictionary, Dictionary};
use super::iteration::{Draw, Inputs, Observer, SubStep};
use super::sampling::MinorityClassSampler;
use super::EpochLog;
use crate::backend::{Backend, ClassLoss, ConvexOut, Indices, Tensor};
use crate::config::{GeneratedStreams, ModelConfig, Phase2Config, QLoss};
use crate::error::{Error, Result};
use crate::model::{Discriminator, Generator};
use crate::nn::{Adam, Mlp, Mode};

/// Everything an iteration needs that does not change between iterations.
pub struct Phase2Context<'a, B: Backend> {
    /// The host dictionaries: row layout per class and the class counts `n_c`.
    pub dict: &'a Dictionary,
    /// The same dictionaries on the backend, which Eq. 3 combines.
    pub dev: &'a DeviceDictionary<B>,
    /// The Phase 2 settings (`N_s`, batch, λ, `d_every`, Q's loss).
    pub cfg: &'a Phase2Config,
    #[doc(hidden)]
    pub sampler: MinorityClassSampler,
    #[doc(hidden)]
    pub majority: usize,
    /// LDAM margins (`1 × N_C`), when Q's loss is LDAM.
    pub margins: Option<Tensor<B>>,
}

impl<'a, B: Backend> Phase2Context<'a, B> {
    /// The context of a run on `dict` (uploaded as `dev`) under `cfg`: the majority class `c_m`
    /// (the lowest index among equal counts), the sampler of `c_g` (`P(c) ∝ n_{c_m} − n_c`) and,
    /// for LDAM, the margins. An error when `cfg.ns` exceeds the smallest class dictionary
    /// (naming the class), or when every class has the same count (no minority to generate).
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

/// LDAM margins `Δ_j = m·n_j^{−1/4} / max_i n_i^{−1/4}` (`m = cfg.ldam_max_margin`, METHOD.md §4)
/// from the class counts, as a `1 × N_C` tensor, when `cfg.q_loss` is LDAM; `None` otherwise. An
/// error on a class count of 0 or a negative or non-finite `cfg.ldam_max_margin`.
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

/// The three players and their optimizers.
#[derive(Clone)]
pub struct Game<B: Backend> {
    /// G: noise and class to the `2·N_s` logits of the convex weights (Table 1).
    pub g: Generator<B>,
    /// D: `[f_t ‖ f_s ‖ onehot(c)]` to one raw least-squares score (Table 1).
    pub d: Discriminator<B>,
    /// Q, the classifier fine-tuned from Phase 1; after the run, the final classifier.
    pub q: Mlp<B>,
    /// G's optimizer state.
    pub adam_g: Adam,
    /// D's optimizer state.
    pub adam_d: Adam,
    /// Q's optimizer state.
    pub adam_q: Adam,
    /// Iterations done so far (D trains on every `d_every`-th).
    pub iteration: usize,
}

/// Losses of one iteration, still on the backend (`None` where that update did not run).
pub struct StepLosses<B: Backend> {
    /// Q's class loss on the real samples (`phase2.q_loss`).
    pub q_real: Tensor<B>,
    /// Q's class loss on the generated samples, target `c_r`.
    pub q_fake: Tensor<B>,
    /// D's loss on the real samples, target 1 (the paper's Eq. 5); only on a D turn.
    pub d_real: Option<Tensor<B>>,
    /// D's loss on the generated samples, target 0 (Eq. 5); only on a D turn.
    pub d_fake: Option<Tensor<B>>,
    /// G's loss `L_G` (the paper's Eq. 4).
    pub g: Tensor<B>,
}

/// The [`ClassLoss`] for a Q loss choice, with `cfg`'s focal γ and LDAM scale `s`; LDAM needs
/// `margins` (from [`class_loss_margins`]) and is an error without them.
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
    /// Fresh G (for `ns` rows per sample) and D, initialised from `rng` with `model`'s widths
    /// for `dict`'s classes and feature width, around the Phase 1 classifier `q`; three fresh
    /// Adam states, iteration 0.
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

    /// `f̃` (the paper's Eq. 3) for the classes in `onehot` (`B × N_C`) with noise `z` (`B × z`)
    /// and dictionary rows `rows` (`B·N_s` global indices, sample `b`'s at `b·N_s …`); G in
    /// `mode`. Returns the convex op's output (with the weights, for the backward) and
    /// `[f̃_t ‖ f̃_s]`, `B × (d_t + d_s)`.
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
        let logits = self.g.net.forward_owned(be, zc, mode)?;
        let out = be.convex_combine_fwd(&logits, &ctx.dev.texture, &ctx.dev.shape, rows)?;
        let f = be.concat_cols(&[&out.f_t, &out.f_s])?;
        Ok((out, f))
    }

    /// The generated samples Q and D see: [`generate`](Self::generate)'s `[f̃_t ‖ f̃_s]`, or, when
    /// `ctx.cfg.generate` names one stream, that half generated and the other the real dictionary
    /// row `paired` of each sample's class (the paper's Fig. 3).
    #[allow(clippy::too_many_arguments)]
    fn fake_features(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        z: &Tensor<B>,
        onehot: &Tensor<B>,
        rows: &Indices<B>,
        paired: &Indices<B>,
        mode: Mode,
    ) -> Result<(ConvexOut<B>, Tensor<B>)> {
        let (out, f) = self.generate(be, ctx, z, onehot, rows, mode)?;
        let f = match ctx.cfg.generate {
            GeneratedStreams::Both => f,
            GeneratedStreams::Shape => {
                be.concat_cols(&[&be.dict_gather(&ctx.dev.texture, paired)?, &out.f_s])?
            }
            GeneratedStreams::Texture => {
                be.concat_cols(&[&out.f_t, &be.dict_gather(&ctx.dev.shape, paired)?])?
            }
        };
        Ok((out, f))
    }

    /// One iteration of Algorithm 1 at learning rate `lr`, its randomness drawn from `rng`
    /// (METHOD.md §4, "One iteration"): Q on real then generated samples, D on both on a D turn
    /// (every `d_every`-th iteration from the first), then G on `L_G`. Returns the losses still on
    /// the backend; an error from the backend or the draw.
    pub fn step(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        rng: &mut impl Rng,
        lr: f64,
    ) -> Result<StepLosses<B>> {
        let draw = Draw::new(rng, ctx, self.g.z_dim)?;
        let inputs = Inputs::upload(be, &draw, self.g.z_dim)?;
        self.step_on(be, ctx, &inputs, lr, &mut |_, _, _| Ok(()))
    }

    /// [`step`](Self::step) on inputs already uploaded; `observe` sees each network with its
    /// gradients set just before Adam updates it.
    pub fn step_on(
        &mut self,
        be: &B,
        ctx: &Phase2Context<'_, B>,
        inp: &Inputs<B>,
        lr: f64,
        observe: &mut Observer<'_, B>,
    ) -> Result<StepLosses<B>> {
        let cfg = ctx.cfg;
        let classes = ctx.dict.classes();
        let d_turn = self.iteration.is_multiple_of(cfg.d_every);
        self.iteration += 1;

        let q_step = |game: &mut Self,
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
        let d_step = |game: &mut Self,
                      f: &Tensor<B>,
                      onehot: &Tensor<B>,
                      target: f64,
                      which: SubStep,
                      observe: &mut Observer<'_, B>|
         -> Result<Tensor<B>> {
            let x = be.concat_cols(&[f, onehot])?;
            let out = game.d.net.forward_owned(be, x, Mode::Train)?;
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
        let q_real = q_step(self, &real, SubStep::QReal, observe)?;
        let d_real = if d_turn {
            Some(d_step(
                self,
                &real,
                &onehot_r,
                1.0,
                SubStep::DReal,
                observe,
            )?)
        } else {
            None
        };
        let (_, fake) = self.fake_features(
            be,
            ctx,
            &inp.z_r,
            &onehot_r,
            &inp.rows_r,
            &inp.paired_r,
            Mode::Eval,
        )?;
        let q_fake = q_step(self, &fake, SubStep::QFake, observe)?;
        let d_fake = if d_turn {
            Some(d_step(
                self,
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
        let (conv, fake) = self.fake_features(
            be,
            ctx,
            &inp.z_g,
            &onehot_g,
            &inp.rows_g,
            &inp.paired_g,
            Mode::Train,
        )?;
        let q_logits = self.q.forward(be, &fake, Mode::Train)?;
        let d_in = be.concat_cols(&[&fake, &onehot_g])?;
        let d_out = self.d.net.forward_owned(be, d_in, Mode::Train)?;
        let gl = be.lsgan_g_loss(&q_logits, &d_out, &inp.labels_g, ctx.majority, cfg.lambda)?;
        // Q and D only pass the gradient on to G here: their own gradients would be discarded.
        let mut d_fake_in = self.q.backward_input(be, &gl.d_q_logits)?;
        let d_from_d = self.d.net.backward_input(be, &gl.d_d_out)?;
        let d_from_d = be.split_cols(&d_from_d, &[fake.cols(), classes])?;
        be.axpy(&mut d_fake_in, 1.0, &d_from_d[0])?;
        let mut parts = be.split_cols(&d_fake_in, &[ctx.dict.d_t, ctx.dict.d_s])?;
        // A real half is a constant: none of the gradient reaching it is G's.
        match cfg.generate {
            GeneratedStreams::Both => {}
            GeneratedStreams::Shape => parts[0] = be.zeros(parts[0].rows(), parts[0].cols())?,
            GeneratedStreams::Texture => parts[1] = be.zeros(parts[1].rows(), parts[1].cols())?,
        }
        let d_logits = be.convex_combine_bwd(
            &conv.w,
            &parts[0],
            &parts[1],
            &ctx.dev.texture,
            &ctx.dev.shape,
            &inp.rows_g,
        )?;
        self.g.net.backward(be, &d_logits, false)?;
        observe(SubStep::G, &self.g.net, &gl.loss)?;
        self.adam_g.step(be, lr, self.g.net.params_mut())?;
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

/// Where a Phase 2 run stands between two iterations: with the players (weights, Adam state,
/// `Game::iteration`) and the random stream, what a resumed run needs to continue bit for bit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Phase2Progress {
    /// The epoch under way (0-based); `cfg.epochs` when done.
    pub epoch: usize,
    /// Iterations of that epoch done.
    pub iter_in_epoch: usize,
    /// Logs of the finished epochs.
    pub logs: Vec<EpochLog>,
    /// Every loss of the epoch under way so far, by name, in iteration order (the epoch's means
    /// are summed from these, so they are the same however the epoch was interrupted).
    pub losses: std::collections::BTreeMap<String, Vec<f64>>,
}
