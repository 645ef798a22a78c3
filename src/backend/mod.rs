//! The backend trait: every numerical op the trainer needs, with its hand-written backward.
//!
//! The trainer is written once against [`Backend`] and never sees an `ndarray` or a `CudaSlice`.
//! Data crosses between host and device only through `upload*` / `download*` / `read_scalars`.
//! All matrices are row-major 2-D; a vector is a `1 × n` tensor. Losses are returned as `1 × 1`
//! tensors so that a GPU iteration does not have to synchronise to log them.

pub mod check;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod dict;
pub mod kernel_abi;
pub mod kernel_src;
mod scalar;

pub use cpu::Cpu;
pub use dict::{HostRows, Precision};
pub use scalar::Scalar;

use crate::error::Result;

/// A dense row-major matrix living on backend `B`.
pub struct Tensor<B: Backend> {
    pub(crate) buf: B::Buf,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl<B: Backend> Clone for Tensor<B> {
    fn clone(&self) -> Self {
        Tensor {
            buf: self.buf.clone(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<B: Backend> std::fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor[{}×{}]", self.rows, self.cols)
    }
}

impl<B: Backend> Tensor<B> {
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Backend storage, for backend implementations.
    pub fn buf(&self) -> &B::Buf {
        &self.buf
    }
    pub fn buf_mut(&mut self) -> &mut B::Buf {
        &mut self.buf
    }
    /// Wrap backend storage; the caller guarantees it holds `rows * cols` elements.
    pub fn from_parts(buf: B::Buf, rows: usize, cols: usize) -> Self {
        Tensor { buf, rows, cols }
    }
}

/// A vector of `u32` (class labels, dictionary row indices) living on backend `B`.
pub struct Indices<B: Backend> {
    pub(crate) buf: B::IdxBuf,
    pub(crate) len: usize,
}

impl<B: Backend> Clone for Indices<B> {
    fn clone(&self) -> Self {
        Indices {
            buf: self.buf.clone(),
            len: self.len,
        }
    }
}

impl<B: Backend> Indices<B> {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn buf(&self) -> &B::IdxBuf {
        &self.buf
    }
    pub fn from_parts(buf: B::IdxBuf, len: usize) -> Self {
        Indices { buf, len }
    }
}

/// The rows of every class's dictionary for one stream, concatenated class after class, in their
/// storage precision. Ops address rows by global row index (class offset + row within class).
pub struct DictTensor<B: Backend> {
    pub(crate) buf: B::DictBuf,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) precision: Precision,
}

impl<B: Backend> DictTensor<B> {
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn precision(&self) -> Precision {
        self.precision
    }
    pub fn buf(&self) -> &B::DictBuf {
        &self.buf
    }
    pub fn from_parts(buf: B::DictBuf, rows: usize, cols: usize, precision: Precision) -> Self {
        DictTensor {
            buf,
            rows,
            cols,
            precision,
        }
    }
}

/// Element-wise activation applied after a bias add.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    /// LeakyReLU with negative slope `alpha` (> 0).
    LeakyRelu(f64),
}

/// The classifier loss on softmax of logits, against integer targets. Every variant is a mean over
/// the batch.
#[derive(Debug)]
pub enum ClassLoss<'a, B: Backend> {
    /// Cross-entropy.
    Ce,
    /// `Σ_j (softmax_j − onehot(c)_j)²` (the paper's baseline).
    Mse,
    /// `−(1 − p_c)^γ log p_c`.
    Focal { gamma: f64 },
    /// Cross-entropy of `s·(z − Δ·onehot(c))`; `margins` is `1 × N_C` (Cao et al. 2019).
    Ldam { margins: &'a Tensor<B>, s: f64 },
}

impl<B: Backend> Clone for ClassLoss<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend> Copy for ClassLoss<'_, B> {}

/// What BatchNorm1d's backward needs from its training-mode forward.
#[derive(Clone)]
pub struct BnCache<B: Backend> {
    /// Normalised input, `B × C`.
    pub xhat: Tensor<B>,
    /// `1 / sqrt(var_batch + eps)`, `1 × C`.
    pub inv_std: Tensor<B>,
}

/// Outputs of the fused convex combination (SPEC §4, Eq. 3).
pub struct ConvexOut<B: Backend> {
    /// Generated texture features, `B × d_t`.
    pub f_t: Tensor<B>,
    /// Generated shape features, `B × d_s`.
    pub f_s: Tensor<B>,
    /// Convex weights `[w_t | w_s]`, `B × 2N_s`, each half a softmax (kept for the backward).
    pub w: Tensor<B>,
}

/// Outputs of the generator loss (Eq. 4).
pub struct GenLossOut<B: Backend> {
    /// Mean loss, `1 × 1`.
    pub loss: Tensor<B>,
    /// Gradient with respect to Q's logits, `B × N_C`.
    pub d_q_logits: Tensor<B>,
    /// Gradient with respect to D's raw output, `B × 1`.
    pub d_d_out: Tensor<B>,
}

/// One Adam step's hyper-parameters; `step` is 1-based (bias correction uses it).
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step: u64,
}

pub trait Backend: Sized + Clone + Send + Sync + 'static {
    /// The element type the host exchanges with this backend.
    type Elem: Scalar;
    type Buf: Clone + Send + Sync;
    type IdxBuf: Clone + Send + Sync;
    type DictBuf: Send + Sync;

    fn name(&self) -> String;

    // ---- host <-> backend --------------------------------------------------------------------
    fn upload(&self, data: &[Self::Elem], rows: usize, cols: usize) -> Result<Tensor<Self>>;
    fn download(&self, t: &Tensor<Self>) -> Result<Vec<Self::Elem>>;
    fn upload_indices(&self, data: &[u32]) -> Result<Indices<Self>>;
    fn download_indices(&self, t: &Indices<Self>) -> Result<Vec<u32>>;
    fn upload_dict(&self, rows: &HostRows, n_rows: usize, cols: usize) -> Result<DictTensor<Self>>;
    /// Read many `1 × 1` tensors (losses) with one synchronisation.
    fn read_scalars(&self, ts: &[&Tensor<Self>]) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            let v = self.download(t)?;
            out.push(v.first().map(|x| x.as_f64()).unwrap_or(f64::NAN));
        }
        Ok(out)
    }
    fn upload_f32(&self, data: &[f32], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        let v: Vec<Self::Elem> = data.iter().map(|&x| Self::Elem::of_f32(x)).collect();
        self.upload(&v, rows, cols)
    }
    fn download_f32(&self, t: &Tensor<Self>) -> Result<Vec<f32>> {
        Ok(self.download(t)?.into_iter().map(|x| x.as_f32()).collect())
    }
    /// Free and total bytes of the memory the backend's tensors live in, when that is a device of
    /// its own; `None` for host memory (the CPU backend). Used to refuse a run that cannot fit
    /// before it allocates.
    fn device_memory(&self) -> Option<(u64, u64)> {
        None
    }

    /// Wait for all queued work (a no-op on the CPU).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    // ---- elementwise family (kernels/elementwise.cu) ------------------------------------------
    fn zeros(&self, rows: usize, cols: usize) -> Result<Tensor<Self>>;
    fn fill(&self, rows: usize, cols: usize, value: f64) -> Result<Tensor<Self>>;
    /// `y ← y + alpha·x`.
    fn axpy(&self, y: &mut Tensor<Self>, alpha: f64, x: &Tensor<Self>) -> Result<()>;
    /// `alpha·x`.
    fn scale(&self, x: &Tensor<Self>, alpha: f64) -> Result<Tensor<Self>>;
    /// Columns of `parts` side by side; all parts have the same row count.
    fn concat_cols(&self, parts: &[&Tensor<Self>]) -> Result<Tensor<Self>>;
    /// Inverse of `concat_cols`: consecutive column blocks of the given widths (summing to `cols`).
    fn split_cols(&self, x: &Tensor<Self>, widths: &[usize]) -> Result<Vec<Tensor<Self>>>;
    /// `rows[i]`-th row of `x` for each `i`.
    fn gather_rows(&self, x: &Tensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;
    /// `labels.len() × n` one-hot matrix; a label ≥ n is an error.
    fn onehot(&self, labels: &Indices<Self>, n: usize) -> Result<Tensor<Self>>;

    // ---- matrix products (cuBLAS on the GPU) --------------------------------------------------
    /// `op(a)·op(b)` where `op` transposes when the flag is set.
    fn matmul(
        &self,
        a: &Tensor<Self>,
        trans_a: bool,
        b: &Tensor<Self>,
        trans_b: bool,
    ) -> Result<Tensor<Self>>;

    // ---- layers family (kernels/layers.cu) ----------------------------------------------------
    /// `act(x + bias)` with `bias` broadcast over rows (`1 × cols`), or `act(x)` without it.
    fn bias_act_fwd(
        &self,
        x: &Tensor<Self>,
        bias: Option<&Tensor<Self>>,
        act: Activation,
    ) -> Result<Tensor<Self>>;
    /// Gradient through `act`, from its *output* `y` (valid for ReLU and LeakyReLU with α > 0).
    fn act_bwd(&self, y: &Tensor<Self>, dy: &Tensor<Self>, act: Activation)
        -> Result<Tensor<Self>>;
    /// Column sums, `1 × cols` (bias gradients).
    fn col_sum(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// BatchNorm1d in training mode: batch statistics (biased variance) normalise `x`; the running
    /// averages move by `momentum` toward the batch mean and the *unbiased* batch variance
    /// (PyTorch's convention).
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_fwd_train(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &mut Tensor<Self>,
        running_var: &mut Tensor<Self>,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tensor<Self>, BnCache<Self>)>;
    /// BatchNorm1d in inference mode with the running averages.
    fn batchnorm_fwd_infer(
        &self,
        x: &Tensor<Self>,
        gamma: &Tensor<Self>,
        beta: &Tensor<Self>,
        running_mean: &Tensor<Self>,
        running_var: &Tensor<Self>,
        eps: f64,
    ) -> Result<Tensor<Self>>;
    /// Returns `(dx, dgamma, dbeta)`.
    fn batchnorm_bwd(
        &self,
        dy: &Tensor<Self>,
        cache: &BnCache<Self>,
        gamma: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>, Tensor<Self>)>;

    // ---- losses family (kernels/losses.cu) ----------------------------------------------------
    /// Row-wise softmax, stable for large logits.
    fn softmax_rows(&self, x: &Tensor<Self>) -> Result<Tensor<Self>>;
    /// Mean classifier loss over the batch and its gradient with respect to the logits.
    fn class_loss(
        &self,
        logits: &Tensor<Self>,
        labels: &Indices<Self>,
        loss: ClassLoss<'_, Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Per-landmark visibility BCE on logits against 0/1 targets, `(1/B) Σ_b Σ_k` (same
    /// normalisation as Eq. 1), and its gradient.
    fn bce_logits(
        &self,
        logits: &Tensor<Self>,
        targets: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;

    // ---- lsgan family (kernels/lsgan.cu) -------------------------------------------------------
    /// `mean_b (target − D_b)²` and its gradient with respect to `d_out` (`B × 1`).
    fn lsgan_d_loss(
        &self,
        d_out: &Tensor<Self>,
        target: f64,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;
    /// Eq. 4: `mean_b [ q_{b,c_b}² + Σ_{j≠c_b, j≠c_m} (1 − q_{b,j})² ] + λ·mean_b (1 − D_b)²`,
    /// `q = softmax(q_logits)`, fused with the softmax.
    fn lsgan_g_loss(
        &self,
        q_logits: &Tensor<Self>,
        d_out: &Tensor<Self>,
        labels: &Indices<Self>,
        majority: usize,
        lambda: f64,
    ) -> Result<GenLossOut<Self>>;

    // ---- convex family (kernels/convex.cu) -----------------------------------------------------
    /// Eq. 3 for a batch: `logits` is `B × 2N_s` (G's output), `rows` holds `B·N_s` global row
    /// indices (sample `b`'s rows at `b·N_s ..`), the same rows for both streams.
    fn convex_combine_fwd(
        &self,
        logits: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<ConvexOut<Self>>;
    /// Gradient with respect to G's logits (the dictionaries are constants).
    fn convex_combine_bwd(
        &self,
        w: &Tensor<Self>,
        d_f_t: &Tensor<Self>,
        d_f_s: &Tensor<Self>,
        dict_t: &DictTensor<Self>,
        dict_s: &DictTensor<Self>,
        rows: &Indices<Self>,
    ) -> Result<Tensor<Self>>;
    /// Dictionary rows `rows[i]`, widened to the compute type (real samples of Phase 2).
    fn dict_gather(&self, dict: &DictTensor<Self>, rows: &Indices<Self>) -> Result<Tensor<Self>>;

    // ---- heatmap family (kernels/heatmap.cu) ---------------------------------------------------
    /// Gaussian ground truth (peak 1, `sigma` in cells) on a `grid × grid` map per landmark:
    /// `coords` is `B × 2K` (x, y in grid cells, column then row), `vis` is `B × K` (1 visible);
    /// invisible landmarks get an all-zero map. Output `B × K·grid²`.
    fn heatmap_targets(
        &self,
        coords: &Tensor<Self>,
        vis: &Tensor<Self>,
        grid: usize,
        sigma: f64,
    ) -> Result<Tensor<Self>>;
    /// Eq. 1: `(1/B) Σ_b Σ_k v_{b,k} Σ_{ij} (M − M̂)²` and its gradient with respect to `pred`.
    fn heatmap_loss(
        &self,
        pred: &Tensor<Self>,
        target: &Tensor<Self>,
        vis: &Tensor<Self>,
    ) -> Result<(Tensor<Self>, Tensor<Self>)>;

    // ---- adam family (kernels/adam.cu) ---------------------------------------------------------
    /// One Adam update with bias correction, in place.
    fn adam_step(
        &self,
        param: &mut Tensor<Self>,
        grad: &Tensor<Self>,
        m: &mut Tensor<Self>,
        v: &mut Tensor<Self>,
        hyper: &AdamHyper,
    ) -> Result<()>;
}
