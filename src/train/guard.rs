//! Numerical guards: a NaN or Inf in a loss or a parameter stops the stage, naming the stage, the
//! iteration and the tensor.
//!
//! Where the checks run, and why: reading a value from the backend synchronises it (a GPU stalls
//! its queue), so nothing is read every iteration. Losses stay on the backend and are read in one
//! batch whenever the trainer reads them anyway (every [`LOG_EVERY`](super::LOG_EVERY)
//! iterations, at each checkpoint and at the end of each epoch); each one is checked, so the
//! report gives the exact iteration of the first bad loss. Gradients are not read at all: Adam
//! turns a NaN or Inf gradient into a NaN parameter (`m/√v` is NaN or Inf/Inf), so the parameters
//! are scanned at the same points, and a bad one is reported by name with the window of
//! iterations its gradient went bad in. A checkpoint is written only after both checks pass, so the
//! last checkpoint on disk is always a good one.

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
use crate::nn::Param;

/// One loss value still on the backend: the 1-based iteration it belongs to and its name.
pub struct PendingLoss<'a, B: Backend> {
    pub iteration: usize,
    pub name: &'static str,
    pub value: &'a Tensor<B>,
}

/// Reads every pending loss in one synchronisation and returns the values in order; the first
/// non-finite one (in iteration order) is an error naming `stage`, its iteration and its name.
pub fn read_losses<B: Backend>(
    be: &B,
    stage: &str,
    pending: &[PendingLoss<'_, B>],
) -> Result<Vec<f64>> {
    let refs: Vec<&Tensor<B>> = pending.iter().map(|p| p.value).collect();
    let values = be.read_scalars(&refs)?;
    if let Some((p, v)) = pending.iter().zip(&values).find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "{stage} at iteration {}: loss '{}' is {v}",
            p.iteration, p.name
        )));
    }
    Ok(values)
}

/// Downloads every parameter and fails on the first non-finite element, naming the parameter.
/// `after` is the iteration just finished and `since` the last one whose parameters were checked,
/// so the message brackets the iteration whose gradient (or update) went bad.
pub fn check_params<'a, B: Backend>(
    be: &B,
    stage: &str,
    after: usize,
    since: usize,
    params: impl IntoIterator<Item = &'a Param<B>>,
) -> Result<()> {
    for p in params {
        let host = be.download_f32(&p.value)?;
        if let Some(i) = host.iter().position(|v| !v.is_finite()) {
            let window = if after > since + 1 {
                format!("iterations {} to {after}", since + 1)
            } else {
                format!("iteration {after}")
            };
            return Err(Error::NonFinite(format!(
                "{stage} at iteration {after}: parameter '{}' holds {} at element {i} (its \
                 gradient or update went non-finite in {window})",
                p.name, host[i]
            )));
        }
    }
    Ok(())
}

/// The mean of `values`, summed in order (the same arithmetic wherever the values were read).
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Reads loss series of consecutive iterations (`series[i].1[k]` belongs to 1-based iteration
/// `first + k`) in one synchronisation, checks them in iteration order, and returns the mean of
/// each non-empty series by name.
pub fn checked_means<B: Backend>(
    be: &B,
    stage: &str,
    first: usize,
    series: &[(&'static str, &[Tensor<B>])],
) -> Result<Vec<(&'static str, f64)>> {
    let longest = series.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut pending = Vec::new();
    for k in 0..longest {
        for &(name, s) in series {
            if let Some(value) = s.get(k) {
                pending.push(PendingLoss {
                    iteration: first + k,
                    name,
                    value,
                });
            }
        }
    }
    let values = read_losses(be, stage, &pending)?;
    let mut out = Vec::new();
    for &(name, _) in series {
        let mine: Vec<f64> = pending
            .iter()
            .zip(&values)
            .filter(|(p, _)| p.name == name)
            .map(|(_, &v)| v)
            .collect();
        if let Some(m) = mean(&mine) {
            out.push((name, m));
        }
    }
    Ok(out)
}
