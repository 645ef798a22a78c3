//! Operand checks shared by every backend, so that an op fails with the same error variant and
//! message whichever backend runs it.
//!
//! Only what depends on nothing but shapes and arguments lives here. What depends on where the
//! data is stays with the backend: index ranges (a scan of the host values on the CPU, the maximum
//! recorded at upload on CUDA), the kernels' `int` limits and shared memory, one storage precision
//! for both dictionaries. Where a backend check comes between two of these, the op has two
//! functions here, to be called in the order their docs give, so that every backend reports the
//! same first error.

use super::{Activation, AdamHyper, Backend, BnCache, ClassLoss, DictTensor, Indices, Tensor};
use crate::error::{Error, Result};

pub fn same_shape<B: Backend>(op: &'static str, a: &Tensor<B>, b: &Tensor<B>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(
            op,
            format!("{}×{} vs {}×{}", a.rows(), a.cols(), b.rows(), b.cols()),
        ));
    }
    Ok(())
}

pub fn shape<B: Backend>(
    op: &'static str,
    what: &str,
    t: &Tensor<B>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if t.shape() != (rows, cols) {
        return Err(Error::shape(
            op,
            format!(
                "{what} is {}×{}, expected {rows}×{cols}",
                t.rows(),
                t.cols()
            ),
        ));
    }
    Ok(())
}

// ---- host <-> backend ----------------------------------------------------------------------------

/// `len` host values for a `rows × cols` tensor.
pub fn upload(op: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    if len != rows * cols {
        return Err(Error::shape(
            op,
            format!("{len} values for a {rows}×{cols} tensor"),
        ));
    }
    Ok(())
}

/// `len` host values for `n_rows` dictionary rows of width `cols`.
pub fn upload_dict(op: &'static str, len: usize, n_rows: usize, cols: usize) -> Result<()> {
    if len != n_rows * cols {
        return Err(Error::shape(
            op,
            format!("{len} values for {n_rows} rows of width {cols}"),
        ));
    }
    Ok(())
}

// ---- elementwise family --------------------------------------------------------------------------

/// Returns the common row count.
pub fn concat_cols<B: Backend>(op: &'static str, parts: &[&Tensor<B>]) -> Result<usize> {
    let Some(first) = parts.first() else {
        return Err(Error::shape(op, "no parts"));
    };
    let rows = first.rows();
    if let Some(p) = parts.iter().find(|p| p.rows() != rows) {
        return Err(Error::shape(
            op,
            format!("parts have {} and {} rows", rows, p.rows()),
        ));
    }
    Ok(rows)
}

pub fn split_cols<B: Backend>(op: &'static str, x: &Tensor<B>, widths: &[usize]) -> Result<()> {
    let total: usize = widths.iter().sum();
    if total != x.cols() {
        return Err(Error::shape(
            op,
            format!("widths sum to {total}, tensor has {} columns", x.cols()),
        ));
    }
    Ok(())
}

// ---- matrix products -----------------------------------------------------------------------------

/// Returns `(m, k, n)` of `op(A)` (`m × k`) times `op(B)` (`k × n`).
pub fn matmul<B: Backend>(
    op: &'static str,
    a: &Tensor<B>,
    trans_a: bool,
    b: &Tensor<B>,
    trans_b: bool,
) -> Result<(usize, usize, usize)> {
    let (m, k) = if trans_a {
        (a.cols(), a.rows())
    } else {
        (a.rows(), a.cols())
    };
    let (k2, n) = if trans_b {
        (b.cols(), b.rows())
    } else {
        (b.rows(), b.cols())
    };
    if k != k2 {
        return Err(Error::shape(
            op,
            format!("op(A) is {m}×{k}, op(B) is {k2}×{n} (trans_a={trans_a}, trans_b={trans_b})"),
        ));
    }
    Ok((m, k, n))
}

// ---- layers family -------------------------------------------------------------------------------

/// The activation's parameter.
pub fn activation(op: &'static str, act: Activation) -> Result<()> {
    if let Activation::LeakyRelu(a) = act {
        // The backward recovers the sign of the pre-activation from the output, which needs α > 0.
        if !(a > 0.0 && a.is_finite()) {
            return Err(Error::invalid(
                format!("{op} activation"),
                format!("LeakyReLU slope must be finite and > 0, got {a}"),
            ));
        }
    }
    Ok(())
}

pub fn bias_act_fwd<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    bias: Option<&Tensor<B>>,
    act: Activation,
) -> Result<()> {
    activation(op, act)?;
    if let Some(b) = bias {
        shape(op, "bias", b, 1, x.cols())?;
    }
    Ok(())
}

pub fn act_bwd<B: Backend>(
    op: &'static str,
    y: &Tensor<B>,
    dy: &Tensor<B>,
    act: Activation,
) -> Result<()> {
    activation(op, act)?;
    same_shape(op, y, dy)
}

/// The four per-column parameters of BatchNorm1d against `x`'s columns.
pub fn batchnorm_params<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    gamma: &Tensor<B>,
    beta: &Tensor<B>,
    running_mean: &Tensor<B>,
    running_var: &Tensor<B>,
) -> Result<()> {
    for (what, t) in [
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ] {
        shape(op, what, t, 1, x.cols())?;
    }
    Ok(())
}

/// The parameters, and a batch the training-mode statistics can use; returns `x`'s shape.
pub fn batchnorm_fwd_train<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    gamma: &Tensor<B>,
    beta: &Tensor<B>,
    running_mean: &Tensor<B>,
    running_var: &Tensor<B>,
) -> Result<(usize, usize)> {
    batchnorm_params(op, x, gamma, beta, running_mean, running_var)?;
    let (b, c) = x.shape();
    // The unbiased variance for the running average divides by B − 1 (PyTorch refuses B = 1 too).
    if b < 2 {
        return Err(Error::shape(
            op,
            format!("x has {b} rows; training-mode batch statistics need at least 2"),
        ));
    }
    Ok((b, c))
}

/// Returns `dy`'s shape.
pub fn batchnorm_bwd<B: Backend>(
    op: &'static str,
    dy: &Tensor<B>,
    cache: &BnCache<B>,
    gamma: &Tensor<B>,
) -> Result<(usize, usize)> {
    same_shape(op, dy, &cache.xhat)?;
    let (b, c) = dy.shape();
    shape(op, "gamma", gamma, 1, c)?;
    shape(op, "inv_std", &cache.inv_std, 1, c)?;
    Ok((b, c))
}

// ---- losses family -------------------------------------------------------------------------------

/// One label per row and a non-empty `B × N_C`; returns that shape. The backend then checks the
/// labels' range, then calls [`class_loss_params`].
pub fn class_loss<B: Backend>(
    op: &'static str,
    logits: &Tensor<B>,
    labels: &Indices<B>,
) -> Result<(usize, usize)> {
    let (b, n) = logits.shape();
    if labels.len() != b {
        return Err(Error::shape(
            op,
            format!("{} labels for {b} rows of logits", labels.len()),
        ));
    }
    if b == 0 || n == 0 {
        return Err(Error::shape(
            op,
            format!("logits are {b}×{n}; a mean loss needs a non-empty batch and classes"),
        ));
    }
    Ok((b, n))
}

/// The loss variant's parameters for `classes` classes.
pub fn class_loss_params<B: Backend>(
    op: &'static str,
    loss: ClassLoss<'_, B>,
    classes: usize,
) -> Result<()> {
    match loss {
        ClassLoss::Ldam { margins, s } => {
            shape(op, "margins", margins, 1, classes)?;
            if !s.is_finite() {
                return Err(Error::invalid("LDAM scale s", format!("got {s}")));
            }
        }
        ClassLoss::Focal { gamma } if !(gamma >= 0.0 && gamma.is_finite()) => {
            return Err(Error::invalid(
                "focal gamma",
                format!("must be finite and ≥ 0, got {gamma}"),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Returns the shape of the logits.
pub fn bce_logits<B: Backend>(
    op: &'static str,
    logits: &Tensor<B>,
    targets: &Tensor<B>,
) -> Result<(usize, usize)> {
    same_shape(op, logits, targets)?;
    if logits.rows() == 0 {
        return Err(Error::shape(op, "empty batch"));
    }
    Ok(logits.shape())
}

// ---- lsgan family --------------------------------------------------------------------------------

/// `B` of a `B × 1` discriminator output with `B > 0`.
pub fn lsgan_batch<B: Backend>(op: &'static str, d_out: &Tensor<B>) -> Result<usize> {
    if d_out.cols() != 1 || d_out.rows() == 0 {
        return Err(Error::shape(
            op,
            format!(
                "d_out is {}×{}, expected B×1 with B > 0",
                d_out.rows(),
                d_out.cols()
            ),
        ));
    }
    Ok(d_out.rows())
}

/// Q's logits and the labels against `batch` from [`lsgan_batch`], and the majority class;
/// returns the class count. The backend then checks the labels' range.
pub fn lsgan_g_loss<B: Backend>(
    op: &'static str,
    batch: usize,
    q_logits: &Tensor<B>,
    labels: &Indices<B>,
    majority: usize,
) -> Result<usize> {
    let classes = q_logits.cols();
    shape(op, "q_logits", q_logits, batch, classes)?;
    if labels.len() != batch {
        return Err(Error::shape(
            op,
            format!("{} labels for a batch of {batch}", labels.len()),
        ));
    }
    if majority >= classes {
        return Err(Error::invalid(
            "majority class",
            format!("{op}: {majority} out of range for {classes} classes"),
        ));
    }
    Ok(classes)
}

// ---- convex family -------------------------------------------------------------------------------

/// What the convex forward and backward share: `weight_cols = 2·N_s`, dictionaries of the same
/// row count, `B·N_s` row indices; returns `N_s`. The backend then checks the indices' range.
pub fn convex_batch<B: Backend>(
    op: &'static str,
    batch: usize,
    weight_cols: usize,
    dict_t: &DictTensor<B>,
    dict_s: &DictTensor<B>,
    rows: &Indices<B>,
) -> Result<usize> {
    if weight_cols == 0 || !weight_cols.is_multiple_of(2) {
        return Err(Error::shape(
            op,
            format!("logits/weights have {weight_cols} columns, expected a positive even 2·N_s"),
        ));
    }
    let ns = weight_cols / 2;
    if dict_t.rows() != dict_s.rows() {
        return Err(Error::shape(
            op,
            format!(
                "dict_t has {} rows but dict_s has {}: row i of both must come from one image",
                dict_t.rows(),
                dict_s.rows()
            ),
        ));
    }
    if rows.len() != batch * ns {
        return Err(Error::shape(
            op,
            format!(
                "rows holds {} indices, expected B·N_s = {batch}·{ns} = {}",
                rows.len(),
                batch * ns
            ),
        ));
    }
    Ok(ns)
}

/// The backward's incoming feature gradients, `B × d_t` and `B × d_s`.
pub fn convex_grads<B: Backend>(
    op: &'static str,
    batch: usize,
    d_f_t: &Tensor<B>,
    d_f_s: &Tensor<B>,
    dict_t: &DictTensor<B>,
    dict_s: &DictTensor<B>,
) -> Result<()> {
    shape(op, "d_f_t", d_f_t, batch, dict_t.cols())?;
    shape(op, "d_f_s", d_f_s, batch, dict_s.cols())
}

// ---- heatmap family ------------------------------------------------------------------------------

/// Returns `(B, K)` from `vis`.
pub fn heatmap_targets<B: Backend>(
    op: &'static str,
    coords: &Tensor<B>,
    vis: &Tensor<B>,
    grid: usize,
    sigma: f64,
) -> Result<(usize, usize)> {
    let (batch, k) = vis.shape();
    shape(op, "coords", coords, batch, 2 * k)?;
    if grid == 0 {
        return Err(Error::invalid("heatmap grid", "must be at least 1 cell"));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid(
            "heatmap sigma",
            format!("{sigma} (must be finite and > 0)"),
        ));
    }
    Ok((batch, k))
}

/// Returns `(B, K, grid²)`: `pred`'s columns are `K` maps of `grid²` cells each.
pub fn heatmap_loss<B: Backend>(
    op: &'static str,
    pred: &Tensor<B>,
    target: &Tensor<B>,
    vis: &Tensor<B>,
) -> Result<(usize, usize, usize)> {
    same_shape(op, pred, target)?;
    let (batch, k) = vis.shape();
    if batch == 0 {
        return Err(Error::shape(op, "empty batch"));
    }
    if pred.rows() != batch {
        return Err(Error::shape(
            op,
            format!("pred has {} rows, vis has {batch}", pred.rows()),
        ));
    }
    // K = 0 (a data set without landmarks) is valid with zero-width maps.
    let cols = pred.cols();
    let per = match cols.checked_div(k) {
        Some(per) if per * k == cols => per,
        None if cols == 0 => 0,
        _ => {
            return Err(Error::shape(
                op,
                format!("pred has {cols} columns, not a multiple of the {k} landmarks in vis"),
            ))
        }
    };
    Ok((batch, k, per))
}

// ---- adam family ---------------------------------------------------------------------------------

pub fn adam_step<B: Backend>(
    op: &'static str,
    param: &Tensor<B>,
    grad: &Tensor<B>,
    m: &Tensor<B>,
    v: &Tensor<B>,
    hyper: &AdamHyper,
) -> Result<()> {
    same_shape(op, param, grad)?;
    same_shape(op, param, m)?;
    same_shape(op, param, v)?;
    if hyper.step == 0 {
        return Err(Error::invalid("adam step", "step is 1-based; got 0"));
    }
    Ok(())
}
