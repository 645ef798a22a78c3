//! The CPU reference backend on `ndarray`, generic over f32 and f64. It is the oracle every other
//! backend is checked against, so it favours plain, exact loops over cleverness; each op family
//! lives in the file of the same name as its CUDA kernel (`kernels/<family>.cu`).

pub mod adam;
pub mod convex;
pub mod elementwise;
pub mod heatmap;
pub mod layers;
pub mod losses;
pub mod lsgan;
pub mod matmul;

use std::marker::PhantomData;

use ndarray::Array2;

use super::{
    check, Activation, AdamHyper, Backend, BnCache, ClassLoss, ConvexOut, DictTensor, GenLossOut,
    HostRows, Indices, Scalar, Tensor,
};
use crate::error::{Error, Result};

/// The CPU backend computing in `T` (f32 for training, f64 for gradient checks).
#[derive(Debug)]
pub struct Cpu<T>(PhantomData<T>);

impl<T> Cpu<T> {
    pub fn new() -> Self {
        Cpu(PhantomData)
    }
}
impl<T> Default for Cpu<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for Cpu<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

/// Shorthands for the two instantiations.
pub type CpuF32 = Cpu<f32>;
pub type CpuF64 = Cpu<f64>;

/// View a CPU tensor as an ndarray.
pub fn arr<T: Scalar>(t: &Tensor<Cpu<T>>) -> &Array2<T> {
    &t.buf
}

/// Wrap an ndarray as a CPU tensor.
pub fn tensor<T: Scalar>(a: Array2<T>) -> Tensor<Cpu<T>> {
    let (rows, cols) = a.dim();
    Tensor { buf: a, rows, cols }
}

impl<T: Scalar> Backend for Cpu<T> {
    type Elem = T;
    type Buf = Array2<T>;
    type IdxBuf = Vec<u32>;
    type DictBuf = HostRows;

    fn name(&self) -> String {
        format!("cpu-{}", T::NAME)
    }

    fn upload(&self, data: &[T], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        check::upload("upload", data.len(), rows, cols)?;
        let a = Array2::from_shape_vec((rows, cols), data.to_vec())
            .map_err(|e| Error::shape("upload", e.to_string()))?;
        Ok(tensor(a))
    }
    fn download(&self, t: &Tensor<Self>) -> Result<Vec<T>> {
        Ok(t.buf.iter().copied().collect())
    }
    fn upload_indices(&self, data: &[u32]) -> Result<Indices<Self>> {
        Ok(Indices {
            buf: data.to_vec(),
            len: data.len(),
        })
    }
    fn download_indices(&self, t: &Indices<Self>) -> Result<Vec<u32>> {
        Ok(t.buf.clone())
    }
    fn upload_dict(&self, rows: &HostRows, n_rows: usize, cols: usize) -> Result<DictTensor<Self>> {
        check::upload_dict("upload_dict", rows.len(), n_rows, cols)?;
        Ok(DictTensor {
            buf: rows.clone(),
            rows: n_rows,
            cols,
            precision: rows.precision(),
        })
    }

    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Self>> {
        Ok(tensor(Array2::zeros((rows, cols))))
    }
    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Self>> {
        Ok(tensor(Array2::from_elem((rows, cols), T::of(value))))
    }
    fn axpy(&self, y: &mut Tensor<Self>, alpha: f64, x: &Tensor<Self>) -> Result<()> {
        elementwise::axpy(y, alpha, x)
    }
    fn scale(&self, x: &Tensor<Self>, alpha: f64) -> Result<Tensor<Self>> {
        elementwise::scale(x, alpha)
    }
    fn concat_cols(&self, parts: &[&Tensor<Self>]) -> Result<Tensor<Self>> {
        elementwise::concat_cols(parts)
    }
    fn split_cols(&self, x: &Tensor<Self>, widths: &[usize]) -> Result<Vec<Tensor<Self>>> {
        elementwise::split_cols(x, widths)
    }
    fn gather_rows(&self, x: &Tensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>> {
        elementwise::gather_rows(x, rows)
    }
    fn onehot(&self, labels: &Indices<Self>, n: usize) -> Result<Tensor<Self>> {
        elementwise::onehot(labels, n)
    }

    fn matmul(
        &self,
        a: &Tensor<Self>,
        trans_a: bool,
        b: &Tensor<Self>,
        trans_b: bool,
    ) -> Result<Tensor<Self>> {
        matmul::matmul(a, trans_a, b, trans_b)
    }

    fn bias_act_fwd(
        &self,
        x: &Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<Tensor<Self>> {
        layers::bias_act_fwd(x, bias, act)
    }
    fn act_bwd(
        &self,
        y: &Tensor<Self>,
        dy: &Tensor<Self>,
        act: Activation,
    ) -> Result<Tensor<Self>> {
        layers::act_bwd(y, dy, act)
    }
    fn col_sum(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        layers::col_sum(x)
    }
    fn batchnorm_fwd_train(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &mut Tensor<Self>,
        running_var: &mut Tensor<Self>,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tensor<Self>, BnCache<Self>)> {
        layers::batchnorm_fwd_train(x, gamma, beta, running_mean, running_var, momentum, eps)
    }
    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &Tensor<Self>,
        running_var: &Tensor<Self>,
        eps: f64,
    ) -> Result<Tensor<Self>> {
        layers::batchnorm_fwd_infer(x, gamma, beta, running_mean, running_var, eps)
    }
    fn batchnorm_bwd(
        &self,
        dy: &Tensor<Self>,
        cache: &BnCache<Self>,
        gamma: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>, Tensor<Self>)> {
        layers::batchnorm_bwd(dy, cache, gamma)
    }

    fn softmax_rows(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        losses::softmax_rows(x)
    }
    fn class_loss(
        &self,
        logits: &Tensor<Self>,
        labels: &Indices<Self>,
        loss: ClassLoss<'_, Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        losses::class_loss(logits, labels, loss)
    }
    fn bce_logits(
        &self,
        logits: &Tensor<Self>,
        targets: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        losses::bce_logits(logits, targets)
    }

    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<Self>,
        target: f64,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        lsgan::lsgan_d_loss(d_out, target)
    }
    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<Self>,
        d_out: &Tensor<Self>,
        labels: &Indices<Self>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<Self>> {
        lsgan::lsgan_g_loss(q_logits, d_out, labels, majority, lambda)
    }

    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<ConvexOut<Self>> {
        convex::convex_combine_fwd(logits, dict_t, dict_s, rows)
    }
    fn convex_combine_bwd(
        &self,
        w: &Tensor<Self>,
        d_f_t: &Tensor<Self>,
        d_f_s: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<Tensor<Self>> {
        convex::convex_combine_bwd(w, d_f_t, d_f_s, dict_t, dict_s, rows)
    }
    fn dict_gather(&self, dict: &DictTensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>> {
        convex::dict_gather(dict, rows)
    }

    fn heatmap_targets(
        &self,
        coords: &Tensor<Self>,
        vis: &Tensor<Self>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<Self>> {
        heatmap::heatmap_targets(coords, vis, grid, sigma)
    }
    fn heatmap_loss(
        &self,
        pred: &Tensor<Self>,
        target: &Tensor<Self>,
        vis: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        heatmap::heatmap_loss(pred, target, vis)
    }

    fn adam_step(
        &self,
        param: &mut Tensor<Self>,
        grad: &Tensor<Self>,
        m: &mut Tensor<Self>,
        v: &mut Tensor<Self>,
        hyper: &AdamHyper,
    ) -> Result<()> {
        adam::adam_step(param, grad, m, v, hyper)
    }
}
