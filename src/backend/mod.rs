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
mod device;
mod dict;
pub mod kernel_abi;
pub mod kernel_src;
pub mod ops;
mod scalar;

pub use cpu::Cpu;
pub use device::Device;
pub use dict::{HostRows, Precision};
pub use ops::{
    AdamOps, ConvexOps, ElementwiseOps, HeatmapOps, LayerOps, LossOps, LsganOps, MatmulOps,
};
pub use scalar::Scalar;

/// A dense row-major matrix living on backend `B`.
pub struct Tensor<B: Device> {
    pub(crate) buf: B::Buf,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl<B: Device> Clone for Tensor<B> {
    fn clone(&self) -> Self {
        Tensor {
            buf: self.buf.clone(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl<B: Device> std::fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor[{}×{}]", self.rows, self.cols)
    }
}

impl<B: Device> Tensor<B> {
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
pub struct Indices<B: Device> {
    pub(crate) buf: B::IdxBuf,
    pub(crate) len: usize,
}

impl<B: Device> Clone for Indices<B> {
    fn clone(&self) -> Self {
        Indices {
            buf: self.buf.clone(),
            len: self.len,
        }
    }
}

impl<B: Device> Indices<B> {
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
pub struct DictTensor<B: Device> {
    pub(crate) buf: B::DictBuf,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) precision: Precision,
}

impl<B: Device> DictTensor<B> {
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
pub enum ClassLoss<'a, B: Device> {
    /// Cross-entropy.
    Ce,
    /// `Σ_j (softmax_j − onehot(c)_j)²` (the paper's baseline).
    Mse,
    /// `−(1 − p_c)^γ log p_c`.
    Focal { gamma: f64 },
    /// Cross-entropy of `s·(z − Δ·onehot(c))`; `margins` is `1 × N_C` (Cao et al. 2019).
    Ldam { margins: &'a Tensor<B>, s: f64 },
}

impl<B: Device> Clone for ClassLoss<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Device> Copy for ClassLoss<'_, B> {}

/// What BatchNorm1d's backward needs from its training-mode forward.
#[derive(Clone)]
pub struct BnCache<B: Device> {
    /// Normalised input, `B × C`.
    pub xhat: Tensor<B>,
    /// `1 / sqrt(var_batch + eps)`, `1 × C`.
    pub inv_std: Tensor<B>,
}

/// Outputs of the fused convex combination (METHOD.md §4, Eq. 3).
pub struct ConvexOut<B: Device> {
    /// Generated texture features, `B × d_t`.
    pub f_t: Tensor<B>,
    /// Generated shape features, `B × d_s`.
    pub f_s: Tensor<B>,
    /// Convex weights `[w_t | w_s]`, `B × 2N_s`, each half a softmax (kept for the backward).
    pub w: Tensor<B>,
}

/// Outputs of the generator loss (Eq. 4).
pub struct GenLossOut<B: Device> {
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

/// Everything the trainer needs: the [`Device`] and every op family of [`ops`], each with its
/// hand-written backward. Implemented automatically for any type that implements them all; a new
/// backend implements [`Device`] and the eight family traits.
pub trait Backend:
    Device
    + ElementwiseOps
    + MatmulOps
    + LayerOps
    + LossOps
    + LsganOps
    + ConvexOps
    + HeatmapOps
    + AdamOps
{
}

impl<B> Backend for B where
    B: Device
        + ElementwiseOps
        + MatmulOps
        + LayerOps
        + LossOps
        + LsganOps
        + ConvexOps
        + HeatmapOps
        + AdamOps
{
}

/// The traits a caller needs in scope to call ops on a concrete backend (`Cpu::<f64>::new().matmul(..)`).
pub mod prelude {
    pub use super::ops::{
        AdamOps, ConvexOps, ElementwiseOps, HeatmapOps, LayerOps, LossOps, LsganOps, MatmulOps,
    };
    pub use super::{Backend, Device};
}
