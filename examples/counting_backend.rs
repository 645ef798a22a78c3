//! A backend written outside the crate: `Counting` wraps the CPU backend, counts how many times
//! each method of `Backend` is called, and delegates every call to the inner `Cpu<f32>`.
//!
//! It implements `Device` and the eight op-family traits with the crate's public API only; the
//! blanket impl then makes it a `Backend`, so the library's generic code (here the oversampler of
//! `convexgan::sampler`) runs on it unchanged. The wrapper copies no data: its buffer types are the
//! inner backend's own tensors (`Tensor<Counting>` holds a `Tensor<Cpu<f32>>`), so an op unwraps
//! its operands with `buf()` (in-place ops through `with_buf_mut`) and wraps its results with
//! `from_parts`, which checks them against the three `*_fits` methods of `Device`. The example fits and resamples
//! a small two-class data set on both backends (and runs a `convexgan::nn::BatchNorm1d` layer, which
//! the sampler's networks do not use), asserts that the results are bit-identical, prints the calls
//! per op and checks that the method's core ops were called.
//!
//! `cargo run --release --example counting_backend`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use convexgan::backend::prelude::*;
use convexgan::backend::{
    Activation, AdamHyper, BnCache, ClassLoss, ConvexOut, Cpu, DictTensor, GenLossOut, HostRows,
    Indices, Precision, Tensor,
};
use convexgan::data::arrays::Matrix;
use convexgan::nn::{BatchNorm1d, Mode};
use convexgan::sampler::{fit, SamplerOptions, Strategy};
use convexgan::Result;

/// The backend being wrapped.
type Inner = Cpu<f32>;

/// Every method of `Device` and of the op families, in the order of their traits. The count map
/// starts with all of them at zero, so the table also shows the ops a run never called.
const OPS: &[&str] = &[
    // Device
    "name",
    "upload",
    "download",
    "upload_indices",
    "download_indices",
    "upload_dict",
    "read_scalars",
    "upload_f32",
    "download_f32",
    "device_memory",
    "synchronize",
    // ElementwiseOps
    "zeros",
    "fill",
    "axpy",
    "scale",
    "concat_cols",
    "split_cols",
    "gather_rows",
    "onehot",
    // MatmulOps
    "matmul",
    // LayerOps
    "bias_act_fwd",
    "act_bwd",
    "col_sum",
    "batchnorm_fwd_train",
    "batchnorm_fwd_infer",
    "batchnorm_bwd",
    // LossOps
    "softmax_rows",
    "class_loss",
    "bce_logits",
    // LsganOps
    "lsgan_d_loss",
    "lsgan_g_loss",
    // ConvexOps
    "convex_combine_fwd",
    "convex_combine_bwd",
    "dict_gather",
    // HeatmapOps
    "heatmap_targets",
    "heatmap_loss",
    // AdamOps
    "adam_step",
];

/// Counts calls per method and delegates them to `inner`. Clones share one count map, as
/// `Device` requires `Clone + Send + Sync + 'static`.
#[derive(Clone)]
struct Counting {
    inner: Inner,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Counting {
    fn new() -> Self {
        Counting {
            inner: Cpu::new(),
            counts: Arc::new(Mutex::new(OPS.iter().map(|&op| (op, 0)).collect())),
        }
    }

    fn tick(&self, op: &'static str) {
        let mut counts = self.counts.lock().unwrap();
        *counts.get_mut(op).expect("every method is listed in OPS") += 1;
    }

    /// The counts so far, and zero them.
    fn take_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = self.counts.lock().unwrap();
        let out = counts.clone();
        counts.values_mut().for_each(|c| *c = 0);
        out
    }
}

// Wrapping the inner backend's values (`from_parts` checks them against `Device::buf_fits` and
// its two siblings below); unwrapping is `buf()` / `with_buf_mut()`.

fn wrap(t: Tensor<Inner>) -> Result<Tensor<Counting>> {
    let (rows, cols) = t.shape();
    Tensor::from_parts(t, rows, cols)
}

fn wrap2((a, b): (Tensor<Inner>, Tensor<Inner>)) -> Result<(Tensor<Counting>, Tensor<Counting>)> {
    Ok((wrap(a)?, wrap(b)?))
}

fn wrap_indices(i: Indices<Inner>) -> Result<Indices<Counting>> {
    let len = i.len();
    Indices::from_parts(i, len)
}

fn wrap_dict(d: DictTensor<Inner>) -> Result<DictTensor<Counting>> {
    let (rows, cols, precision) = (d.rows(), d.cols(), d.precision());
    DictTensor::from_parts(d, rows, cols, precision)
}

fn inner_all<'a>(ts: &[&'a Tensor<Counting>]) -> Vec<&'a Tensor<Inner>> {
    ts.iter().map(|t| t.buf()).collect()
}

fn inner_loss(loss: ClassLoss<'_, Counting>) -> ClassLoss<'_, Inner> {
    match loss {
        ClassLoss::Ce => ClassLoss::Ce,
        ClassLoss::Mse => ClassLoss::Mse,
        ClassLoss::Focal { gamma } => ClassLoss::Focal { gamma },
        ClassLoss::Ldam { margins, s } => ClassLoss::Ldam {
            margins: margins.buf(),
            s,
        },
    }
}

impl Device for Counting {
    type Elem = f32;
    type Buf = Tensor<Inner>;
    type IdxBuf = Indices<Inner>;
    type DictBuf = DictTensor<Inner>;

    // The inner values are whole tensors, already checked when the inner backend made them; they
    // fit when their shape is the outer one.
    fn buf_fits(buf: &Tensor<Inner>, rows: usize, cols: usize) -> bool {
        buf.shape() == (rows, cols)
    }
    fn idx_buf_fits(buf: &Indices<Inner>, len: usize) -> bool {
        buf.len() == len
    }
    fn dict_buf_fits(
        buf: &DictTensor<Inner>,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> bool {
        (buf.rows(), buf.cols(), buf.precision()) == (rows, cols, precision)
    }

    fn name(&self) -> String {
        self.tick("name");
        format!("counting({})", self.inner.name())
    }
    fn upload(&self, data: &[f32], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        self.tick("upload");
        wrap(self.inner.upload(data, rows, cols)?)
    }
    fn download(&self, t: &Tensor<Self>) -> Result<Vec<f32>> {
        self.tick("download");
        self.inner.download(t.buf())
    }
    fn upload_indices(&self, data: &[u32]) -> Result<Indices<Self>> {
        self.tick("upload_indices");
        wrap_indices(self.inner.upload_indices(data)?)
    }
    fn download_indices(&self, t: &Indices<Self>) -> Result<Vec<u32>> {
        self.tick("download_indices");
        self.inner.download_indices(t.buf())
    }
    fn upload_dict(&self, rows: &HostRows, n_rows: usize, cols: usize) -> Result<DictTensor<Self>> {
        self.tick("upload_dict");
        wrap_dict(self.inner.upload_dict(rows, n_rows, cols)?)
    }
    // The defaults below would work through `upload` / `download`; delegating keeps the inner
    // backend's own versions (one synchronisation for `read_scalars` on a GPU backend).
    fn read_scalars(&self, ts: &[&Tensor<Self>]) -> Result<Vec<f64>> {
        self.tick("read_scalars");
        self.inner.read_scalars(&inner_all(ts))
    }
    fn upload_f32(&self, data: &[f32], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        self.tick("upload_f32");
        wrap(self.inner.upload_f32(data, rows, cols)?)
    }
    fn download_f32(&self, t: &Tensor<Self>) -> Result<Vec<f32>> {
        self.tick("download_f32");
        self.inner.download_f32(t.buf())
    }
    fn device_memory(&self) -> Option<(u64, u64)> {
        self.tick("device_memory");
        self.inner.device_memory()
    }
    fn synchronize(&self) -> Result<()> {
        self.tick("synchronize");
        self.inner.synchronize()
    }
}

impl ElementwiseOps for Counting {
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Self>> {
        self.tick("zeros");
        wrap(self.inner.zeros(rows, cols)?)
    }
    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Self>> {
        self.tick("fill");
        wrap(self.inner.fill(rows, cols, value)?)
    }
    fn axpy(&self, y: &mut Tensor<Self>, alpha: f64, x: &Tensor<Self>) -> Result<()> {
        self.tick("axpy");
        // In-place ops reach the storage through `with_buf_mut`, which checks that it still fits.
        y.with_buf_mut(|y| self.inner.axpy(y, alpha, x.buf()))?
    }
    fn scale(&self, x: &Tensor<Self>, alpha: f64) -> Result<Tensor<Self>> {
        self.tick("scale");
        wrap(self.inner.scale(x.buf(), alpha)?)
    }
    fn concat_cols(&self, parts: &[&Tensor<Self>]) -> Result<Tensor<Self>> {
        self.tick("concat_cols");
        wrap(self.inner.concat_cols(&inner_all(parts))?)
    }
    fn split_cols(&self, x: &Tensor<Self>, widths: &[usize]) -> Result<Vec<Tensor<Self>>> {
        self.tick("split_cols");
        let parts = self.inner.split_cols(x.buf(), widths)?;
        parts.into_iter().map(wrap).collect()
    }
    fn gather_rows(&self, x: &Tensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>> {
        self.tick("gather_rows");
        wrap(self.inner.gather_rows(x.buf(), rows.buf())?)
    }
    fn onehot(&self, labels: &Indices<Self>, n: usize) -> Result<Tensor<Self>> {
        self.tick("onehot");
        wrap(self.inner.onehot(labels.buf(), n)?)
    }
}

impl MatmulOps for Counting {
    fn matmul(
        &self,
        a: &Tensor<Self>,
        trans_a: bool,
        b: &Tensor<Self>,
        trans_b: bool,
    ) -> Result<Tensor<Self>> {
        self.tick("matmul");
        wrap(self.inner.matmul(a.buf(), trans_a, b.buf(), trans_b)?)
    }
}

impl LayerOps for Counting {
    fn bias_act_fwd(
        &self,
        x: &Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<Tensor<Self>> {
        self.tick("bias_act_fwd");
        let bias = bias.map(|b| b.buf());
        wrap(self.inner.bias_act_fwd(x.buf(), bias, act)?)
    }
    fn act_bwd(
        &self,
        y: &Tensor<Self>,
        dy: &Tensor<Self>,
        act: Activation,
    ) -> Result<Tensor<Self>> {
        self.tick("act_bwd");
        wrap(self.inner.act_bwd(y.buf(), dy.buf(), act)?)
    }
    fn col_sum(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        self.tick("col_sum");
        wrap(self.inner.col_sum(x.buf())?)
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
        self.tick("batchnorm_fwd_train");
        let (y, cache) = running_mean.with_buf_mut(|mean| {
            running_var.with_buf_mut(|var| {
                let (x, gamma, beta) = (x.buf(), gamma.buf(), beta.buf());
                self.inner
                    .batchnorm_fwd_train(x, gamma, beta, mean, var, momentum, eps)
            })
        })???;
        let cache = BnCache {
            xhat: wrap(cache.xhat)?,
            inv_std: wrap(cache.inv_std)?,
        };
        Ok((wrap(y)?, cache))
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
        self.tick("batchnorm_fwd_infer");
        wrap(self.inner.batchnorm_fwd_infer(
            x.buf(),
            gamma.buf(),
            beta.buf(),
            running_mean.buf(),
            running_var.buf(),
            eps,
        )?)
    }
    fn batchnorm_bwd(
        &self,
        dy: &Tensor<Self>,
        cache: &BnCache<Self>,
        gamma: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>, Tensor<Self>)> {
        self.tick("batchnorm_bwd");
        // The one copy of the wrapper: `BnCache` owns its tensors and the op takes
        // `&BnCache<Inner>`, so the borrowed cache's two tensors are cloned to build one.
        let cache = BnCache {
            xhat: cache.xhat.buf().clone(),
            inv_std: cache.inv_std.buf().clone(),
        };
        let (dx, dgamma, dbeta) = self.inner.batchnorm_bwd(dy.buf(), &cache, gamma.buf())?;
        Ok((wrap(dx)?, wrap(dgamma)?, wrap(dbeta)?))
    }
}

impl LossOps for Counting {
    fn softmax_rows(&self, x: &Tensor<Self>) -> Result<Tensor<Self>> {
        self.tick("softmax_rows");
        wrap(self.inner.softmax_rows(x.buf())?)
    }
    fn class_loss(
        &self,
        logits: &Tensor<Self>,
        labels: &Indices<Self>,
        loss: ClassLoss<'_, Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        self.tick("class_loss");
        let out = self
            .inner
            .class_loss(logits.buf(), labels.buf(), inner_loss(loss))?;
        wrap2(out)
    }
    fn bce_logits(
        &self,
        logits: &Tensor<Self>,
        targets: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        self.tick("bce_logits");
        wrap2(self.inner.bce_logits(logits.buf(), targets.buf())?)
    }
}

impl LsganOps for Counting {
    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<Self>,
        target: f64,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        self.tick("lsgan_d_loss");
        wrap2(self.inner.lsgan_d_loss(d_out.buf(), target)?)
    }
    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<Self>,
        d_out: &Tensor<Self>,
        labels: &Indices<Self>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<Self>> {
        self.tick("lsgan_g_loss");
        let out =
            self.inner
                .lsgan_g_loss(q_logits.buf(), d_out.buf(), labels.buf(), majority, lambda)?;
        Ok(GenLossOut {
            loss: wrap(out.loss)?,
            d_q_logits: wrap(out.d_q_logits)?,
            d_d_out: wrap(out.d_d_out)?,
        })
    }
}

impl ConvexOps for Counting {
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<ConvexOut<Self>> {
        self.tick("convex_combine_fwd");
        let out =
            self.inner
                .convex_combine_fwd(logits.buf(), dict_t.buf(), dict_s.buf(), rows.buf())?;
        Ok(ConvexOut {
            f_t: wrap(out.f_t)?,
            f_s: wrap(out.f_s)?,
            w: wrap(out.w)?,
        })
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
        self.tick("convex_combine_bwd");
        wrap(self.inner.convex_combine_bwd(
            w.buf(),
            d_f_t.buf(),
            d_f_s.buf(),
            dict_t.buf(),
            dict_s.buf(),
            rows.buf(),
        )?)
    }
    fn dict_gather(&self, dict: &DictTensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>> {
        self.tick("dict_gather");
        wrap(self.inner.dict_gather(dict.buf(), rows.buf())?)
    }
}

impl HeatmapOps for Counting {
    fn heatmap_targets(
        &self,
        coords: &Tensor<Self>,
        vis: &Tensor<Self>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<Self>> {
        self.tick("heatmap_targets");
        wrap(
            self.inner
                .heatmap_targets(coords.buf(), vis.buf(), grid, sigma)?,
        )
    }
    fn heatmap_loss(
        &self,
        pred: &Tensor<Self>,
        target: &Tensor<Self>,
        vis: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)> {
        self.tick("heatmap_loss");
        wrap2(
            self.inner
                .heatmap_loss(pred.buf(), target.buf(), vis.buf())?,
        )
    }
}

impl AdamOps for Counting {
    fn adam_step(
        &self,
        param: &mut Tensor<Self>,
        grad: &Tensor<Self>,
        m: &mut Tensor<Self>,
        v: &mut Tensor<Self>,
        hyper: &AdamHyper,
    ) -> Result<()> {
        self.tick("adam_step");
        param.with_buf_mut(|p| {
            m.with_buf_mut(|m| v.with_buf_mut(|v| self.inner.adam_step(p, grad.buf(), m, v, hyper)))
        })???
    }
}

/// Two clusters in 4-D: 64 rows of class 0 around 0 and 12 of class 1 around 5.
fn two_clusters() -> (Matrix, Vec<u32>) {
    let (rows, cols) = (76, 4);
    let (mut data, mut y) = (Vec::with_capacity(rows * cols), Vec::with_capacity(rows));
    for i in 0..rows {
        let c = u32::from(i >= 64);
        for j in 0..cols {
            let jitter = ((i * 7 + j * 3) % 11) as f32 * 0.1;
            data.push(c as f32 * 5.0 + jitter);
        }
        y.push(c);
    }
    (Matrix { data, rows, cols }, y)
}

/// The sampler's networks have no BatchNorm; this runs the BatchNorm1d layer of `convexgan::nn`
/// (training forward, backward, inference forward) on any backend, so that the wrapper's
/// batchnorm ops are checked too. Returns `y`, `dx`, `dγ`, `dβ` and the inference output.
fn batchnorm_round<B: Backend<Elem = f32>>(be: &B, x: &Matrix) -> Result<Vec<Vec<f32>>> {
    let mut bn = BatchNorm1d::new(be, "bn", x.cols, Activation::LeakyRelu(0.2))?;
    let xt = be.upload_f32(&x.data, x.rows, x.cols)?;
    let y = bn.forward(be, &xt, Mode::Train)?;
    let dy = be.scale(&y, -0.5)?;
    let dx = bn.backward(be, &dy)?;
    let eval = bn.forward(be, &xt, Mode::Eval)?;
    let dgamma = bn.gamma.grad.as_ref().expect("backward sets dγ");
    let dbeta = bn.beta.grad.as_ref().expect("backward sets dβ");
    [&y, &dx, dgamma, dbeta, &eval]
        .into_iter()
        .map(|t| be.download_f32(t))
        .collect()
}

fn main() -> Result<()> {
    let (x, y) = two_clusters();
    let options = SamplerOptions {
        seed: 11,
        iterations: Some(20),
        q_epochs: 1,
        batch: 32,
        ..Default::default()
    };

    // The reference: the plain CPU backend.
    let cpu = Cpu::<f32>::new();
    let fitted_cpu = fit(&cpu, &x, &y, &options, false)?;
    let (xr_cpu, yr_cpu) = fitted_cpu.resample(&cpu, &x, &y, &Strategy::Auto)?;

    // The same calls through the wrapper, counting the fit and the resampling apart.
    let counting = Counting::new();
    let fitted = fit(&counting, &x, &y, &options, false)?;
    let fit_counts = counting.take_counts();
    let (xr, yr) = fitted.resample(&counting, &x, &y, &Strategy::Auto)?;
    let resample_counts = counting.take_counts();

    // Same seed, same inner backend: the same networks, losses and synthetic rows, bit for bit.
    assert!(
        fitted == fitted_cpu,
        "the fits differ between Counting and Cpu<f32>"
    );
    assert_eq!(yr, yr_cpu);
    assert_eq!((xr.rows, xr.cols), (xr_cpu.rows, xr_cpu.cols));
    let bits = |m: &Matrix| m.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&xr), bits(&xr_cpu), "resampled rows differ");
    let synthetic = xr.rows - x.rows;
    assert_eq!(
        synthetic,
        64 - 12,
        "Strategy::Auto brings class 1 to 64 rows"
    );

    // Direct layer use through `convexgan::nn`, counted apart as well.
    let bn_cpu = batchnorm_round(&cpu, &x)?;
    let bn = batchnorm_round(&counting, &x)?;
    let bn_counts = counting.take_counts();
    assert_eq!(
        bn, bn_cpu,
        "BatchNorm1d differs between Counting and Cpu<f32>"
    );
    for op in [
        "batchnorm_fwd_train",
        "batchnorm_bwd",
        "batchnorm_fwd_infer",
    ] {
        assert_eq!(bn_counts[op], 1, "{op}");
    }

    println!(
        "{} rows in, {} out ({synthetic} synthetic of class 1), identical on {} and {}",
        x.rows,
        xr.rows,
        cpu.name(),
        Counting::new().name()
    );
    // Calls per op in each part, the most called in all first; ties by name.
    let parts = [&fit_counts, &resample_counts, &bn_counts];
    let mut table: Vec<(&str, [u64; 3])> =
        OPS.iter().map(|&op| (op, parts.map(|c| c[op]))).collect();
    let sum = |c: &[u64; 3]| c.iter().sum::<u64>();
    table.sort_by(|a, b| sum(&b.1).cmp(&sum(&a.1)).then(a.0.cmp(b.0)));
    println!(
        "{:<22}{:>8}{:>10}{:>11}",
        "op", "fit", "resample", "batchnorm"
    );
    for (op, [f, r, b]) in &table {
        println!("{op:<22}{f:>8}{r:>10}{b:>11}");
    }
    let [f, r, b] = parts.map(|c| c.values().sum::<u64>());
    println!("{:<22}{f:>8}{r:>10}{b:>11}", "total");

    // The method's core ops: products, Eq. 3's convex combination and its backward, Eq. 4's
    // generator loss, Adam; the resampling runs G and the convex combination only.
    for op in [
        "matmul",
        "convex_combine_fwd",
        "convex_combine_bwd",
        "lsgan_g_loss",
        "adam_step",
    ] {
        assert!(fit_counts[op] > 0, "{op} was not called during the fit");
    }
    for op in ["matmul", "convex_combine_fwd"] {
        assert!(
            resample_counts[op] > 0,
            "{op} was not called while resampling"
        );
    }
    assert_eq!(resample_counts["adam_step"], 0, "resampling trains nothing");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_runs() {
        super::main().unwrap();
    }
}
