//! Reference for the layers family: bias + activation, column sums, BatchNorm1d.

use ndarray::{Array2, Axis};

use super::{parallel, tensor, Cpu};
use crate::backend::prelude::*;
use crate::backend::{check, Activation, BnCache, Scalar, Tensor};
use crate::error::{Error, Result};

type Tn<T> = Tensor<Cpu<T>>;

impl<T: Scalar> LayerOps for Cpu<T> {
    fn bias_act_fwd(
        &self,
        x: &Tensor<Cpu<T>>,
        bias: Option<&Tensor<Cpu<T>>>,
        act: Activation,
    ) -> Result<Tensor<Cpu<T>>> {
        let mut y = x.clone();
        self.bias_act_fwd_inplace(&mut y, bias, act)?;
        Ok(y)
    }

    fn bias_act_fwd_inplace(
        &self,
        x: &mut Tensor<Cpu<T>>,
        bias: Option<&Tensor<Cpu<T>>>,
        act: Activation,
    ) -> Result<()> {
        check::bias_act_fwd("bias_act_fwd", x, bias, act)?;
        let cols = x.cols;
        let bias = bias.map(|b| b.buf.as_slice().expect("a standard-layout row"));
        let slope = slope_of::<T>(act).unwrap_or_else(T::zero);
        let out = x
            .buf
            .as_slice_mut()
            .expect("CPU tensors are standard layout");
        // One pass per element: bias, then the activation, each row on one thread.
        parallel::for_rows(out, cols, 2 * cols, |_, rows| {
            for row in rows.chunks_mut(cols) {
                if let Some(b) = bias {
                    row.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
                }
                match act {
                    Activation::Identity => {}
                    // Selects, not branches around a store: these vectorise.
                    Activation::Relu => row
                        .iter_mut()
                        .for_each(|v| *v = if *v > T::zero() { *v } else { T::zero() }),
                    Activation::LeakyRelu(_) => row
                        .iter_mut()
                        .for_each(|v| *v = if *v > T::zero() { *v } else { slope * *v }),
                }
            }
        });
        Ok(())
    }

    fn act_bwd(
        &self,
        y: &Tensor<Cpu<T>>,
        dy: &Tensor<Cpu<T>>,
        act: Activation,
    ) -> Result<Tensor<Cpu<T>>> {
        let mut dx = dy.clone();
        self.act_bwd_inplace(y, &mut dx, act)?;
        Ok(dx)
    }

    fn act_bwd_inplace(
        &self,
        y: &Tensor<Cpu<T>>,
        dy: &mut Tensor<Cpu<T>>,
        act: Activation,
    ) -> Result<()> {
        check::act_bwd("act_bwd", y, dy, act)?;
        let Some(slope) = slope_of::<T>(act) else {
            return Ok(());
        };
        let cols = dy.cols;
        let y = y.buf.as_slice().expect("CPU tensors are standard layout");
        let out = dy
            .buf
            .as_slice_mut()
            .expect("CPU tensors are standard layout");
        parallel::for_rows(out, cols, cols, |first, rows| {
            let y = &y[first * cols..first * cols + rows.len()];
            rows.iter_mut()
                .zip(y)
                .for_each(|(g, &y)| *g = if y > T::zero() { *g } else { slope * *g });
        });
        Ok(())
    }

    fn col_sum(&self, x: &Tensor<Cpu<T>>) -> Result<Tensor<Cpu<T>>> {
        let s = x.buf.sum_axis(Axis(0));
        let n = s.len();
        Ok(tensor(
            s.into_shape_with_order((1, n))
                .map_err(|e| Error::shape("col_sum", e.to_string()))?,
        ))
    }

    fn batchnorm_fwd_train(
        &self,
        x: &Tensor<Cpu<T>>,
        gamma: &Tensor<Cpu<T>>,
        beta: &Tensor<Cpu<T>>,
        running_mean: &mut Tensor<Cpu<T>>,
        running_var: &mut Tensor<Cpu<T>>,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tn<T>, BnCache<Cpu<T>>)> {
        const OP: &str = "batchnorm_fwd_train";
        let (b, c) = check::batchnorm_fwd_train(OP, x, gamma, beta, running_mean, running_var)?;
        // Statistics accumulate in f64 so that the f32 instantiation loses nothing in the reductions.
        let mut mean = vec![0.0f64; c];
        for row in x.buf.rows() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v.as_f64();
            }
        }
        mean.iter_mut().for_each(|m| *m /= b as f64);
        // Two-pass variance: no cancellation when |mean| ≫ std.
        let mut var = vec![0.0f64; c];
        for row in x.buf.rows() {
            for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
                let d = v.as_f64() - m;
                *s += d * d;
            }
        }
        var.iter_mut().for_each(|s| *s /= b as f64);
        let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();

        let mut xhat = Array2::<T>::zeros((b, c));
        let mut y = Array2::<T>::zeros((b, c));
        for ((xr, mut hr), mut yr) in x
            .buf
            .rows()
            .into_iter()
            .zip(xhat.rows_mut())
            .zip(y.rows_mut())
        {
            for j in 0..c {
                let h = (xr[j].as_f64() - mean[j]) * inv_std[j];
                hr[j] = T::of(h);
                yr[j] = T::of(gamma.buf[[0, j]].as_f64() * h + beta.buf[[0, j]].as_f64());
            }
        }

        let unbias = b as f64 / (b as f64 - 1.0);
        for j in 0..c {
            let rm = &mut running_mean.buf[[0, j]];
            *rm = T::of((1.0 - momentum) * rm.as_f64() + momentum * mean[j]);
            let rv = &mut running_var.buf[[0, j]];
            *rv = T::of((1.0 - momentum) * rv.as_f64() + momentum * var[j] * unbias);
        }

        let inv_std = Array2::from_shape_vec((1, c), inv_std.into_iter().map(T::of).collect())
            .map_err(|e| Error::shape(OP, e.to_string()))?;
        Ok((
            tensor(y),
            BnCache {
                xhat: tensor(xhat),
                inv_std: tensor(inv_std),
            },
        ))
    }

    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<Cpu<T>>,
        gamma: &Tensor<Cpu<T>>,
        beta: &Tensor<Cpu<T>>,
        running_mean: &Tensor<Cpu<T>>,
        running_var: &Tensor<Cpu<T>>,
        eps: f64,
    ) -> Result<Tensor<Cpu<T>>> {
        check::batchnorm_params(
            "batchnorm_fwd_infer",
            x,
            gamma,
            beta,
            running_mean,
            running_var,
        )?;
        let c = x.cols;
        // Fold the affine map into one scale and shift per column.
        let mut scale = Vec::with_capacity(c);
        let mut shift = Vec::with_capacity(c);
        for j in 0..c {
            let s = gamma.buf[[0, j]].as_f64() / (running_var.buf[[0, j]].as_f64() + eps).sqrt();
            scale.push(s);
            shift.push(beta.buf[[0, j]].as_f64() - s * running_mean.buf[[0, j]].as_f64());
        }
        let mut y = x.buf.clone();
        for mut row in y.rows_mut() {
            for ((v, s), t) in row.iter_mut().zip(&scale).zip(&shift) {
                *v = T::of(s * v.as_f64() + t);
            }
        }
        Ok(tensor(y))
    }

    fn batchnorm_bwd(
        &self,
        dy: &Tensor<Cpu<T>>,
        cache: &BnCache<Cpu<T>>,
        gamma: &Tensor<Cpu<T>>,
    ) -> Result<(Tn<T>, Tn<T>, Tn<T>)> {
        const OP: &str = "batchnorm_bwd";
        let (b, c) = check::batchnorm_bwd(OP, dy, cache, gamma)?;
        let mut dbeta = vec![0.0f64; c];
        let mut dgamma = vec![0.0f64; c];
        for (gr, hr) in dy.buf.rows().into_iter().zip(cache.xhat.buf.rows()) {
            for j in 0..c {
                let g = gr[j].as_f64();
                dbeta[j] += g;
                dgamma[j] += g * hr[j].as_f64();
            }
        }
        // dx = γ·inv_std/B · (B·dy − Σdy − x̂·Σ(dy·x̂)), the batch statistics' contribution included.
        let bf = b as f64;
        let mut dx = Array2::<T>::zeros((b, c));
        for ((gr, hr), mut dr) in dy
            .buf
            .rows()
            .into_iter()
            .zip(cache.xhat.buf.rows())
            .zip(dx.rows_mut())
        {
            for j in 0..c {
                let k = gamma.buf[[0, j]].as_f64() * cache.inv_std.buf[[0, j]].as_f64() / bf;
                dr[j] = T::of(k * (bf * gr[j].as_f64() - dbeta[j] - hr[j].as_f64() * dgamma[j]));
            }
        }
        let row = |v: Vec<f64>| {
            Array2::from_shape_vec((1, c), v.into_iter().map(T::of).collect())
                .map(tensor)
                .map_err(|e| Error::shape(OP, e.to_string()))
        };
        Ok((tensor(dx), row(dgamma)?, row(dbeta)?))
    }
}

/// The factor of the gradient where an activation's output is not positive (0 for ReLU, α for
/// LeakyReLU), `None` for the identity.
fn slope_of<T: Scalar>(act: Activation) -> Option<T> {
    match act {
        Activation::Identity => None,
        Activation::Relu => Some(T::zero()),
        Activation::LeakyRelu(a) => Some(T::of(a)),
    }
}
