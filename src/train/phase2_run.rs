//! Phase 2 from start to end, the one way in: [`Phase2Run`] holds what the run is computed from,
//! its checkpoint plan and whether it shows progress, and [`Phase2Run::train`] makes the players,
//! resumes from the checkpoint when asked, and runs the epochs, checkpointing as planned.
//!
//! `Phase2Run::new(&cfg).train(&be, heads.q.clone(), train.n, &features.dict)` is Phase 2 on an
//! in-memory data set (see [`pipeline`](super::pipeline) for the stages before it).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{Checkpoint, Identity, Plan};
use super::dictionary::Dictionary;
use super::guard::{self, PendingLoss};
use super::phase2::Phase2Context;
use super::phase2::{Game, Phase2Progress, StepLosses};
use super::{stage_rng, EpochLog, LOG_EVERY, STREAM_INIT, STREAM_PHASE2};
use crate::backend::Backend;
use crate::config::{Config, Phase2Config};
use crate::error::{Error, Result};
use crate::internal::io::atomic;
use crate::internal::progress;
use crate::nn::Mlp;

/// A Phase 2 run: the configuration (its seed, G's and D's widths, and as a whole the identity a
/// checkpoint must match), the Phase 2 settings (`cfg.phase2` unless a comparison varies them),
/// where and how often to checkpoint (and whether to resume), and whether to show progress.
#[derive(Clone, Debug)]
pub struct Phase2Run<'a> {
    cfg: &'a Config,
    phase2: Phase2Config,
    checkpoint: Option<Plan>,
    progress: bool,
}

impl<'a> Phase2Run<'a> {
    /// `cfg.phase2`, no checkpoints, no progress bar.
    pub fn new(cfg: &'a Config) -> Self {
        Phase2Run {
            cfg,
            phase2: cfg.phase2.clone(),
            checkpoint: None,
            progress: false,
        }
    }

    /// Other Phase 2 settings than `cfg.phase2` (the comparison's Q losses).
    pub fn with_phase2(mut self, phase2: Phase2Config) -> Self {
        self.phase2 = phase2;
        self
    }

    /// Checkpoints (and resumes) under `plan` ([`Plan`]): its file, the iterations between
    /// checkpoints, and whether to start from an existing checkpoint of the same run.
    pub fn checkpoint(mut self, plan: Plan) -> Self {
        self.checkpoint = Some(plan);
        self
    }

    /// Shows a progress bar (hidden anyway when stderr is not a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Phase 2 on `dict` (uploaded here) from Q's Phase 1 state `q`, over `n_train` training images
    /// per epoch; returns the players and the per-epoch mean losses.
    ///
    /// The run is `phase2.epochs` epochs of `ceil(n_train / phase2.batch)` iterations at the
    /// epoch's learning rate, G and D initialised from `cfg.seed` and every draw from its Phase 2
    /// stream, so the same inputs give the same players. With `phase2.cap_ns`, `N_s` is lowered to
    /// the smallest class dictionary (with a note on stderr).
    ///
    /// # Errors
    ///
    /// `N_s` above the smallest class dictionary (without `cap_ns`), every class of the same
    /// count, a NaN or Inf loss or parameter ([`Error::NonFinite`], naming the iteration; under a
    /// checkpoint plan, also the last good checkpoint), or a checkpoint to resume from that is
    /// unreadable or belongs to another run.
    pub fn train<B: Backend>(
        &self,
        be: &B,
        q: Mlp<B>,
        n_train: usize,
        dict: &Dictionary,
    ) -> Result<(Game<B>, Vec<EpochLog>)> {
        let mut p2 = self.phase2.clone();
        if p2.cap_ns && p2.ns > dict.min_rows() {
            eprintln!(
                "note: N_s = {} capped to {}, the smallest class dictionary",
                p2.ns,
                dict.min_rows()
            );
            p2.ns = dict.min_rows();
        }
        let dev = dict.upload(be)?;
        let ctx = Phase2Context::new(be, dict, &dev, &p2)?;
        let mut init = stage_rng(self.cfg.seed, STREAM_INIT + 100);
        let mut game = Game::new(be, &self.cfg.model, dict, p2.ns, q, &mut init)?;
        let mut rng = stage_rng(self.cfg.seed, STREAM_PHASE2);
        let logs = match &self.checkpoint {
            None => run_epochs(
                be,
                &mut game,
                &ctx,
                n_train,
                &mut rng,
                self.progress,
                Phase2Progress::default(),
                0,
                |_, _, _| Ok(()),
            )?,
            Some(plan) => self.train_under(be, plan, &mut game, &ctx, n_train, &mut rng)?,
        };
        Ok((game, logs))
    }

    /// The epochs under `plan`: from the checkpoint when asked and one exists, checkpointing every
    /// `plan.every` iterations.
    fn train_under<B: Backend>(
        &self,
        be: &B,
        plan: &Plan,
        game: &mut Game<B>,
        ctx: &Phase2Context<'_, B>,
        n_train: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<EpochLog>> {
        atomic::remove_stale(&plan.path);
        let identity = Identity::of(be, self.cfg, ctx.dict, &game.q)?;
        let per_epoch = n_train.div_ceil(ctx.cfg.batch).max(1);
        let mut start = Phase2Progress::default();
        let mut saved: Option<usize> = None;
        if plan.resume {
            if plan.path.exists() {
                let ck = Checkpoint::load(&plan.path)?;
                ck.check_identity(&plan.path, &identity)?;
                ck.restore(be, &plan.path, game, rng, ctx.cfg, per_epoch)?;
                start = ck.progress;
                saved = Some(ck.iteration);
                eprintln!(
                    "phase 2: resuming from {} at iteration {} of {}",
                    plan.path.display(),
                    ck.iteration,
                    ctx.cfg.epochs * per_epoch
                );
            } else {
                eprintln!(
                    "phase 2: no checkpoint at {}; starting from the beginning",
                    plan.path.display()
                );
            }
        }
        let result = run_epochs(
            be,
            game,
            ctx,
            n_train,
            rng,
            self.progress,
            start,
            plan.every,
            |game, progress, rng| {
                Checkpoint::capture(be, game, progress, rng, &identity)?.save(&plan.path)?;
                saved = Some(game.iteration);
                Ok(())
            },
        );
        match (result, saved) {
            (Err(Error::NonFinite(msg)), Some(at)) => Err(Error::NonFinite(format!(
                "{msg}; the last good checkpoint (iteration {at}) is kept in {}",
                plan.path.display()
            ))),
            (r, _) => r,
        }
    }
}

/// `cfg.epochs` epochs of `ceil(n_train / B)` iterations from `start` (a fresh run or a
/// checkpoint's progress); returns per-epoch mean losses. After every `checkpoint_every`-th
/// iteration (0 = never), once that iteration's losses and the parameters have passed the
/// [`guard`] checks, `checkpoint` gets the game, the progress and the random stream as they are
/// between iterations.
#[allow(clippy::too_many_arguments)]
fn run_epochs<B: Backend, R: Rng>(
    be: &B,
    game: &mut Game<B>,
    ctx: &Phase2Context<'_, B>,
    n_train: usize,
    rng: &mut R,
    show_progress: bool,
    start: Phase2Progress,
    checkpoint_every: usize,
    mut checkpoint: impl FnMut(&Game<B>, &Phase2Progress, &R) -> Result<()>,
) -> Result<Vec<EpochLog>> {
    const STAGE: &str = "phase 2";
    let cfg = ctx.cfg;
    let per_epoch = n_train.div_ceil(cfg.batch).max(1);
    let mut state = start;
    let pb = progress::bar((cfg.epochs * per_epoch) as u64, "phase 2", show_progress);
    pb.set_position((state.epoch * per_epoch + state.iter_in_epoch) as u64);
    let mut pending: Vec<(usize, StepLosses<B>)> = Vec::new();
    let mut checked = game.iteration;
    while state.epoch < cfg.epochs {
        let lr = cfg.lr.at(state.epoch);
        let s = game.step(be, ctx, rng, lr)?;
        let it = game.iteration;
        pending.push((it, s));
        state.iter_in_epoch += 1;
        pb.inc(1);
        let epoch_done = state.iter_in_epoch >= per_epoch;
        let save = checkpoint_every > 0 && it.is_multiple_of(checkpoint_every);
        if epoch_done || save || state.iter_in_epoch.is_multiple_of(LOG_EVERY) {
            let mut items = Vec::new();
            for (i, s) in &pending {
                let named = [
                    ("q_real", Some(&s.q_real)),
                    ("q_fake", Some(&s.q_fake)),
                    ("d_real", s.d_real.as_ref()),
                    ("d_fake", s.d_fake.as_ref()),
                    ("g", Some(&s.g)),
                ];
                for (name, value) in named {
                    if let Some(value) = value {
                        items.push(PendingLoss {
                            iteration: *i,
                            name,
                            value,
                        });
                    }
                }
            }
            let values = guard::read_losses(be, STAGE, &items)?;
            for (p, v) in items.iter().zip(&values) {
                state.losses.entry(p.name.to_string()).or_default().push(*v);
            }
            drop(items);
            pending.clear();
            let players = game
                .g
                .net
                .params()
                .into_iter()
                .chain(game.d.net.params())
                .chain(game.q.params());
            guard::check_params(be, STAGE, it, checked, players)?;
            checked = it;
            let last = |k: &str| state.losses.get(k).and_then(|v| v.last()).copied();
            if let (Some(q), Some(g)) = (last("q_real"), last("g")) {
                pb.set_message(format!("epoch {} q {q:.4} g {g:.4}", state.epoch + 1));
            }
        }
        if epoch_done {
            let mut log = EpochLog::new("phase2", state.epoch);
            for name in ["q_real", "q_fake", "d_real", "d_fake", "g"] {
                if let Some(m) = state.losses.get(name).and_then(|v| guard::mean(v)) {
                    log.losses.insert(name.to_string(), m);
                }
            }
            state.logs.push(log);
            state.losses.clear();
            state.epoch += 1;
            state.iter_in_epoch = 0;
        }
        if save {
            checkpoint(game, &state, rng)?;
        }
    }
    pb.finish_and_clear();
    Ok(state.logs)
}
