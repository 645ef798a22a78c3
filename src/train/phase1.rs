//! Phase 1 (SPEC §2): the two-stream heads, A and Q trained on the long-tailed training set with
//! `CE(Q) + CE(A)` (the landmark terms join when a data set has landmarks).

use rand::seq::SliceRandom;
use rand::Rng;

use super::{guard, progress, EpochLog};
use crate::backend::{Backend, ClassLoss, Tensor};
use crate::config::Phase1Config;
use crate::error::{Error, Result};
use crate::model::Heads;
use crate::nn::{Adam, Mode};

/// Trains `heads` in place on backbone vectors `x` (resident on the backend) with labels `y`.
pub fn train_phase1<B: Backend>(
    be: &B,
    heads: &mut Heads<B>,
    x: &Tensor<B>,
    y: &[u32],
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
        for (it, chunk) in order.chunks(batch).enumerate() {
            // BatchNorm needs two samples for a batch variance.
            if chunk.len() < 2 {
                continue;
            }
            let labels_host: Vec<u32> = chunk.iter().map(|&i| y[i as usize]).collect();
            let idx = be.upload_indices(chunk)?;
            let labels = be.upload_indices(&labels_host)?;
            let xb = be.gather_rows(x, &idx)?;

            let fs = heads.f_s.forward(be, &xb, Mode::Train)?;
            let a_logits = heads.a.forward(be, &fs, Mode::Train)?;
            let (a_loss, d_a) = be.class_loss(&a_logits, &labels, ClassLoss::Ce)?;
            let mut d_fs = heads
                .a
                .backward(be, &d_a, true)?
                .expect("A's input gradient was requested");
            a_losses.push(a_loss);

            if !shape_only {
                let ft = heads.f_t.forward(be, &xb, Mode::Train)?;
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

            let params = heads
                .f_s
                .params_mut()
                .into_iter()
                .chain(heads.a.params_mut());
            if shape_only {
                adam.step(be, lr, params)?;
            } else {
                adam.step(
                    be,
                    lr,
                    params
                        .chain(heads.f_t.params_mut())
                        .chain(heads.q.params_mut()),
                )?;
            }
            pb.inc(1);
            if (it + 1) % progress::LOG_EVERY == 0 {
                let last = q_losses.last().or(a_losses.last());
                if let Some(l) = last {
                    let v = be.read_scalars(&[l])?[0];
                    pb.set_message(format!("epoch {} loss {v:.4}", epoch + 1));
                }
            }
        }
        let mut log = EpochLog::new("phase1", epoch);
        let first = epoch * per_epoch + 1;
        let series = [("ce_q", &q_losses[..]), ("ce_a", &a_losses[..])];
        for (name, m) in guard::checked_means(be, "phase 1", first, &series)? {
            log.losses.insert(name.to_string(), m);
        }
        let params = heads
            .f_t
            .params()
            .into_iter()
            .chain(heads.f_s.params())
            .chain(heads.a.params())
            .chain(heads.q.params());
        guard::check_params(be, "phase 1", first + per_epoch - 1, first - 1, params)?;
        logs.push(log);
    }
    pb.finish_and_clear();
    Ok(logs)
}
