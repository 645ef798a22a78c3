//! Phase 1 (METHOD.md §2): the two-stream heads, A and Q trained on the long-tailed training set with
//! `CE(Q) + CE(A)`, plus `w_land·L_land + w_vis·L_vis` of the landmark module when the data set has
//! landmarks.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{guard, EpochLog, LOG_EVERY};
use crate::backend::{Backend, ClassLoss, Tensor};
use crate::config::Phase1Config;
use crate::data::Landmarks;
use crate::error::{Error, Result};
use crate::internal::progress;
use crate::model::Heads;
use crate::nn::{Adam, Mode};

/// Trains `heads` in place on backbone vectors `x` (`n × d_in`, resident on the backend) with
/// labels `y` (`n`, each below the heads' class count), for a data set without landmarks (see
/// [`train_phase1_with`]): `cfg.epochs` epochs of shuffled batches drawn from `rng`, one Adam
/// step of `CE(Q) + CE(A)` per batch (only A and `f_s` during `cfg.shape_only_epochs`). Returns
/// one log per epoch (`ce_q`, `ce_a`). Errors as [`train_phase1_with`].
pub fn train_phase1<B: Backend>(
    be: &B,
    heads: &mut Heads<B>,
    x: &Tensor<B>,
    y: &[u32],
    cfg: &Phase1Config,
    rng: &mut impl Rng,
    show_progress: bool,
) -> Result<Vec<EpochLog>> {
    train_phase1_with(be, heads, x, y, None, cfg, rng, show_progress)
}

/// The landmark targets of the whole training set, resident on the backend.
struct LandmarkTargets<B: Backend> {
    /// `n × 2K` grid coordinates.
    xy: Tensor<B>,
    /// `n × K` 0/1 visibility.
    vis: Tensor<B>,
}

/// Checks that the heads' landmark module and the data's landmarks agree, and uploads the targets.
fn landmark_targets<B: Backend>(
    be: &B,
    heads: &Heads<B>,
    landmarks: Option<&Landmarks>,
    n: usize,
) -> Result<Option<LandmarkTargets<B>>> {
    match (heads.ldm.as_ref(), landmarks) {
        (None, None) => Ok(None),
        (Some(ldm), None) => Err(Error::invalid(
            "phase 1 landmarks",
            format!(
                "the heads have a landmark module for {} landmarks but the training set has no \
                 landmarks",
                ldm.k
            ),
        )),
        (None, Some(l)) => Err(Error::invalid(
            "phase 1 landmarks",
            format!(
                "the training set has {} landmarks per sample but the heads have no landmark \
                 module",
                l.k
            ),
        )),
        (Some(ldm), Some(l)) => {
            if ldm.k != l.k {
                return Err(Error::invalid(
                    "phase 1 landmarks",
                    format!(
                        "the heads' landmark module predicts {} landmarks but the training set \
                         has {} per sample",
                        ldm.k, l.k
                    ),
                ));
            }
            l.validate(n)?;
            Ok(Some(LandmarkTargets {
                xy: be.upload_f32(&l.xy, n, 2 * l.k)?,
                vis: be.upload_f32(&l.visible, n, l.k)?,
            }))
        }
    }
}

/// [`train_phase1`] with the data set's landmarks, if any (rows aligned with `x` and `y`). The
/// heads must have a landmark module for exactly as many landmarks as the data, or none when the
/// data have none; a mismatch is an error before any training. With landmarks the loss adds
/// `cfg.landmark_weight · L_land + cfg.visibility_weight · L_vis` (the paper's Eq. 1, METHOD.md §2)
/// and the logs `land` and `vis`.
///
/// # Errors
///
/// `y` and `x` of different lengths, fewer than two rows, landmarks that do not match the heads
/// or do not validate, or a NaN or Inf loss or parameter ([`Error::NonFinite`], naming the
/// iteration); `heads` keep the updates made until then.
#[allow(clippy::too_many_arguments)]
pub fn train_phase1_with<B: Backend>(
    be: &B,
    heads: &mut Heads<B>,
    x: &Tensor<B>,
    y: &[u32],
    landmarks: Option<&Landmarks>,
    cfg: &Phase1Config,
    rng: &mut impl Rng,
    show_progress: bool,
) -> Result<Vec<EpochLog>> {
    let n = x.rows();
    if y.len() != n {
        return Err(Error::shape(
            "phase1",
            format!("{n} feature rows but {} labels", y.len()),
        ));
    }
    if n < 2 {
        return Err(Error::invalid("training set", "needs at least 2 samples"));
    }
    let targets = landmark_targets(be, heads, landmarks, n)?;
    let batch = cfg.batch.min(n);
    let per_epoch = n.div_ceil(batch);
    let mut adam = Adam::default();
    let mut logs = Vec::new();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let pb = progress::bar((cfg.epochs * per_epoch) as u64, "phase 1", show_progress);
    for epoch in 0..cfg.epochs {
        let shape_only = epoch < cfg.shape_only_epochs;
        let lr = cfg.lr.at(epoch);
        order.shuffle(rng);
        let mut q_losses = Vec::with_capacity(per_epoch);
        let mut a_losses = Vec::with_capacity(per_epoch);
        let mut land_losses = Vec::new();
        let mut vis_losses = Vec::new();
        for (it, chunk) in order.chunks(batch).enumerate() {
            // BatchNorm needs two samples for a batch variance.
            if chunk.len() < 2 {
                continue;
            }
            let labels_host: Vec<u32> = chunk.iter().map(|&i| y[i as usize]).collect();
            let idx = be.upload_indices(chunk)?;
            let labels = be.upload_indices(&labels_host)?;
            let xb = be.gather_rows(x, &idx)?;
            let (xt, xs) = heads.stream_inputs(be, &xb)?;

            let fs = heads.f_s.forward(be, &xs, Mode::Train)?;
            let mut d_fs = if cfg.aux_classifier {
                let a_logits = heads.a.forward(be, &fs, Mode::Train)?;
                let (a_loss, d_a) = be.class_loss(&a_logits, &labels, ClassLoss::Ce)?;
                a_losses.push(a_loss);
                heads
                    .a
                    .backward(be, &d_a, true)?
                    .expect("A's input gradient was requested")
            } else {
                be.zeros(fs.rows(), fs.cols())?
            };

            if let (Some(t), Some(ldm)) = (&targets, heads.ldm.as_mut()) {
                let coords = be.gather_rows(&t.xy, &idx)?;
                let vis = be.gather_rows(&t.vis, &idx)?;
                let maps = be.heatmap_targets(&coords, &vis, ldm.grid, cfg.heatmap_sigma)?;
                let (heat, vis_logits) = ldm.forward(be, &fs, Mode::Train)?;
                let (land_loss, d_heat) = be.heatmap_loss(&heat, &maps, &vis)?;
                let (vis_loss, d_vis) = be.bce_logits(&vis_logits, &vis)?;
                let d_heat = be.scale(&d_heat, cfg.landmark_weight)?;
                let d_vis = be.scale(&d_vis, cfg.visibility_weight)?;
                let d_ldm = ldm.backward(be, &d_heat, &d_vis)?;
                be.axpy(&mut d_fs, 1.0, &d_ldm)?;
                land_losses.push(land_loss);
                vis_losses.push(vis_loss);
            }

            if !shape_only {
                let ft = heads.f_t.forward(be, &xt, Mode::Train)?;
                let f = be.concat_cols(&[&ft, &fs])?;
                let q_logits = heads.q.forward(be, &f, Mode::Train)?;
                let (q_loss, d_q) = be.class_loss(&q_logits, &labels, ClassLoss::Ce)?;
                let d_f = heads
                    .q
                    .backward(be, &d_q, true)?
                    .expect("Q's input gradient was requested");
                let parts = be.split_cols(&d_f, &[ft.cols(), fs.cols()])?;
                be.axpy(&mut d_fs, 1.0, &parts[1])?;
                heads.f_t.backward(be, &parts[0], false)?;
                q_losses.push(q_loss);
            }
            heads.f_s.backward(be, &d_fs, false)?;

            let mut params = heads.f_s.params_mut();
            if cfg.aux_classifier {
                params.extend(heads.a.params_mut());
            }
            if let Some(ldm) = heads.ldm.as_mut() {
                params.extend(ldm.params_mut());
            }
            if !shape_only {
                params.extend(heads.f_t.params_mut());
                params.extend(heads.q.params_mut());
            }
            adam.step(be, lr, params)?;
            pb.inc(1);
            if (it + 1) % LOG_EVERY == 0 {
                let last = q_losses.last().or(a_losses.last());
                if let Some(l) = last {
                    let v = be.read_scalars(&[l])?[0];
                    pb.set_message(format!("epoch {} loss {v:.4}", epoch + 1));
                }
            }
        }
        let mut log = EpochLog::new("phase1", epoch);
        let first = epoch * per_epoch + 1;
        let series = [
            ("ce_q", &q_losses[..]),
            ("ce_a", &a_losses[..]),
            ("land", &land_losses[..]),
            ("vis", &vis_losses[..]),
        ];
        for (name, m) in guard::checked_means(be, "phase 1", first, &series)? {
            log.losses.insert(name.to_string(), m);
        }
        guard::check_params(
            be,
            "phase 1",
            first + per_epoch - 1,
            first - 1,
            heads.params(),
        )?;
        logs.push(log);
    }
    pb.finish_and_clear();
    Ok(logs)
}
