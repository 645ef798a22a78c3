//! The backend trait: every numerical op the trainer needs, with its hand-written backward.
//!
//! The trainer is written once against [`Backend`] and never sees an `ndarray` or a `CudaSlice`.
//! Data crosses between host and device only through `upload*` / `download*` / `read_scalars`.
//! All matrices are row-major 2-D; a vector is a `1 × n` tensor. Losses are returned as `1 × 1`
//! tensors so that a GPU iteration does not have to synchronise to log them.
//!
//! Two backends ship: [`Cpu`] (the f32/f64 reference every other backend is tested against) and,
//! with the `cuda` feature, `cuda::CudaBackend`. A new backend implements [`Device`] and the eight
//! op-family traits of [`ops`]; [`Backend`] then follows by a blanket impl. See [`Backend`] for
//! the contract every op keeps.

#[doc(hidden)]
pub mod check;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod device;
mod dict;
#[doc(hidden)]
pub mod kernel_abi;
#[doc(hidden)]
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

use crate::error::{Error, Result};

/// A dense row-major `rows × cols` matrix of `B::Elem` living on backend `B`; a vector is
/// `1 × n`, a scalar (a loss) `1 × 1`. Cloning clones `B::Buf`, a full copy of the elements on both
/// shipped backends. Only the backend reads the elements; the host gets them with
/// [`Device::download`].
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
    /// Number of rows (the batch axis wherever a tensor holds one sample per row).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Element count, `rows · cols`.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// Whether the tensor has no elements (either dimension 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Backend storage, for backend implementations.
    pub fn buf(&self) -> &B::Buf {
        &self.buf
    }
    /// Backend storage, mutable, for backend implementations of in-place ops
    /// ([`ElementwiseOps::axpy`], [`AdamOps::adam_step`]), through `f`. Afterwards the storage
    /// must still fit the tensor's shape ([`Device::buf_fits`]); if `f` replaced it with storage
    /// that does not, the tensor becomes `0 × 0` (so no op can read past the end of the new
    /// buffer) and an [`Error::Shape`] is returned. Otherwise `f`'s result.
    pub fn with_buf_mut<R>(&mut self, f: impl FnOnce(&mut B::Buf) -> R) -> Result<R> {
        let r = f(&mut self.buf);
        if !B::buf_fits(&self.buf, self.rows, self.cols) {
            let shape = (self.rows, self.cols);
            self.rows = 0;
            self.cols = 0;
            return Err(Error::shape(
                "Tensor::with_buf_mut",
                format!(
                    "the storage no longer fits the tensor's {}×{} shape",
                    shape.0, shape.1
                ),
            ));
        }
        Ok(r)
    }
    /// Wrap backend storage as a `rows × cols` tensor, for backend implementations.
    ///
    /// # Errors
    /// [`Error::Shape`] when `buf` cannot back that shape
    /// ([`Device::buf_fits`]: the CPU backend's `Array2` must have exactly that shape in standard
    /// layout; a CUDA buffer must hold at least `rows · cols` elements).
    pub fn from_parts(buf: B::Buf, rows: usize, cols: usize) -> Result<Self> {
        if !B::buf_fits(&buf, rows, cols) {
            return Err(Error::shape(
                "Tensor::from_parts",
                format!(
                    "the storage cannot back a {rows}×{cols} tensor on {}",
                    std::any::type_name::<B>()
                ),
            ));
        }
        Ok(Tensor { buf, rows, cols })
    }
    /// [`from_parts`](Self::from_parts) for storage the backend allocated itself for this shape.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn from_parts_unchecked(buf: B::Buf, rows: usize, cols: usize) -> Self {
        Tensor { buf, rows, cols }
    }
}

/// A vector of `u32` living on backend `B`: class labels (`0 … N_C−1`, one per batch row) or
/// global dictionary row indices (see [`DictTensor`]). Made with [`Device::upload_indices`]; the
/// ops that take one check its values' range and fail with [`Error::Shape`]
/// rather than read out of bounds.
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
    /// Number of indices.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Backend storage, for backend implementations.
    pub fn buf(&self) -> &B::IdxBuf {
        &self.buf
    }
    /// Wrap backend storage holding `len` indices, for backend implementations.
    ///
    /// # Errors
    /// [`Error::Shape`] when `buf` cannot hold `len` indices
    /// ([`Device::idx_buf_fits`]).
    pub fn from_parts(buf: B::IdxBuf, len: usize) -> Result<Self> {
        if !B::idx_buf_fits(&buf, len) {
            return Err(Error::shape(
                "Indices::from_parts",
                format!(
                    "the storage cannot back {len} indices on {}",
                    std::any::type_name::<B>()
                ),
            ));
        }
        Ok(Indices { buf, len })
    }
}

/// The rows of every class's dictionary for one stream (`L_t` or `L_s` of the paper's Eq. 2),
/// concatenated class after class: a row-major `rows × cols` matrix kept in its storage
/// [`Precision`] (METHOD.md §3), widened to the compute type only inside the ops that read it
/// ([`ConvexOps`]). Ops address rows by global row index (class offset + row within class). Row
/// `i` of the texture and of the shape dictionary come from the same image. Made with
/// [`Device::upload_dict`]; read-only afterwards.
pub struct DictTensor<B: Device> {
    pub(crate) buf: B::DictBuf,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) precision: Precision,
}

impl<B: Device> DictTensor<B> {
    /// Total row count `R` over all classes.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Row width (`d_t` or `d_s`).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The storage precision of the rows.
    pub fn precision(&self) -> Precision {
        self.precision
    }
    /// Backend storage, for backend implementations.
    pub fn buf(&self) -> &B::DictBuf {
        &self.buf
    }
    /// Wrap backend storage of `rows × cols` values stored as `precision`, for backend
    /// implementations.
    ///
    /// # Errors
    /// [`Error::Shape`] when `buf` cannot back that shape in that precision
    /// ([`Device::dict_buf_fits`]).
    pub fn from_parts(
        buf: B::DictBuf,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> Result<Self> {
        if !B::dict_buf_fits(&buf, rows, cols, precision) {
            return Err(Error::shape(
                "DictTensor::from_parts",
                format!(
                    "the storage cannot back a {rows}×{cols} {} dictionary on {}",
                    precision.name(),
                    std::any::type_name::<B>()
                ),
            ));
        }
        Ok(Self::from_parts_unchecked(buf, rows, cols, precision))
    }
    /// [`from_parts`](Self::from_parts) for storage the backend allocated itself for this shape.
    pub(crate) fn from_parts_unchecked(
        buf: B::DictBuf,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> Self {
        DictTensor {
            buf,
            rows,
            cols,
            precision,
        }
    }
}

/// Element-wise activation applied after a bias add ([`LayerOps::bias_act_fwd`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `y = x`.
    Identity,
    /// `y = max(x, 0)`.
    Relu,
    /// LeakyReLU with negative slope `alpha`: `y = x` for `x > 0`, else `alpha·x`. `alpha` must be
    /// finite and > 0 (the backward reads the sign of `x` from `y`); 0.2 in G and D (METHOD.md §4).
    LeakyRelu(f64),
}

/// The classifier loss on `p = softmax(ℓ)` of a row of logits `ℓ` against its integer target `c`
/// ([`LossOps::class_loss`], METHOD.md §4). Every variant is a mean over the batch; the formulas
/// are per row.
#[derive(Debug)]
pub enum ClassLoss<'a, B: Device> {
    /// Cross-entropy, `−log p_c`.
    Ce,
    /// `Σ_j (p_j − onehot(c)_j)²` (the paper's baseline).
    Mse,
    /// Focal loss, `−(1 − p_c)^γ log p_c` (Lin et al. 2017); `γ = 0` is cross-entropy.
    Focal {
        /// Focusing exponent `γ`, finite and ≥ 0 (2 by default).
        gamma: f64,
    },
    /// Cross-entropy of `s·(ℓ − Δ·onehot(c))` (Cao et al. 2019).
    Ldam {
        /// Per-class margins `Δ`, `1 × N_C`: `Δ_j = m·n_j^{−1/4} / max_i n_i^{−1/4}`, `m = 0.5`.
        margins: &'a Tensor<B>,
        /// Logit scale `s`, finite (30 by default).
        s: f64,
    },
}

impl<B: Device> Clone for ClassLoss<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Device> Copy for ClassLoss<'_, B> {}

/// What BatchNorm1d's backward ([`LayerOps::batchnorm_bwd`]) needs from its training-mode forward
/// ([`LayerOps::batchnorm_fwd_train`]), for an input of `B` rows and `C` columns.
#[derive(Clone)]
pub struct BnCache<B: Device> {
    /// Normalised input, `B × C`.
    pub xhat: Tensor<B>,
    /// `1 / sqrt(var_batch + eps)`, `1 × C`.
    pub inv_std: Tensor<B>,
}

/// Outputs of the fused convex combination ([`ConvexOps::convex_combine_fwd`]; the paper's Eq. 3,
/// METHOD.md §4).
pub struct ConvexOut<B: Device> {
    /// Generated texture features, `B × d_t`.
    pub f_t: Tensor<B>,
    /// Generated shape features, `B × d_s`.
    pub f_s: Tensor<B>,
    /// Convex weights `[w_t | w_s]`, `B × 2N_s`: each half is the row softmax of its half of G's
    /// logits, so each half of a row sums to 1 (kept for the backward).
    pub w: Tensor<B>,
}

/// Outputs of the generator loss ([`LsganOps::lsgan_g_loss`]; the paper's Eq. 4).
pub struct GenLossOut<B: Device> {
    /// Mean loss `L_G`, `1 × 1`.
    pub loss: Tensor<B>,
    /// Gradient of `L_G` with respect to Q's logits, `B × N_C` (through the softmax).
    pub d_q_logits: Tensor<B>,
    /// Gradient with respect to D's raw output, `B × 1`.
    pub d_d_out: Tensor<B>,
}

/// One Adam step's hyper-parameters ([`AdamOps::adam_step`]); `step` is 1-based (bias correction
/// uses it).
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    /// Learning rate `α`.
    pub lr: f64,
    /// Decay of the first-moment average, `β₁` (0.9 in the trainer).
    pub beta1: f64,
    /// Decay of the second-moment average, `β₂` (0.999 in the trainer).
    pub beta2: f64,
    /// `ε` added to `√v̂` in the denominator (1e-8 in the trainer).
    pub eps: f64,
    /// The step number `t ≥ 1` of this update; 0 is an error.
    pub step: u64,
}

/// Everything the trainer needs: the [`Device`] and every op family of [`ops`], each with its
/// hand-written backward. Implemented automatically for any type that implements them all; a new
/// backend implements [`Device`] and the eight family traits ([`ElementwiseOps`], [`MatmulOps`],
/// [`LayerOps`], [`LossOps`], [`LsganOps`], [`ConvexOps`], [`HeatmapOps`], [`AdamOps`]).
///
/// # Contract of every op
///
/// - **Shapes.** Tensors are row-major `rows × cols`; in batched ops row `b` is sample `b` and
///   `B` is the row count. Each method's doc gives the shapes it takes and returns. Outputs are
///   freshly allocated; only `&mut` operands are written.
/// - **What to compute.** The [`Cpu`] backend is the reference: a new backend must agree with
///   `Cpu<f64>` within METHOD.md §7's tolerances (1e-5 relative for element-wise ops, 1e-4 for
///   reductions and products, 1e-2 for convex ops on bf16/f16 dictionaries) and accumulate in f32
///   or wider. Softmax-based ops must stay finite for large logits (subtract the row maximum).
///   Losses are means over the batch returned as `1 × 1` tensors, and their gradients already
///   include the `1/B`.
/// - **Errors.** Operands that disagree in shape, and index values out of range (labels ≥ `N_C`,
///   row indices ≥ the row count), are [`Error::Shape`]; an argument out of
///   its domain (LeakyReLU slope ≤ 0, Adam step 0, focal `γ < 0`, heatmap `σ ≤ 0`, a majority
///   class ≥ `N_C`) is [`Error::Invalid`]; a failure of the device itself is
///   the backend's own (the CUDA backend's is [`Error::Cuda`]). A backend
///   returns an error rather than panicking or reading out of bounds. The `check` module of each
///   family (e.g. [`ops::convex::check`]) holds the shape and argument checks as functions; call
///   them in the order their docs give, before touching the data, and every backend reports the
///   same first error (with, for these checks, the same message). Checks of index ranges are the
///   backend's (they need the data); do them where those docs say.
/// - **Determinism.** Each shipped backend gives the same bits for the same inputs on every call
///   (no order-dependent atomics in reductions, nothing depends on a thread count), which is what
///   makes a run reproducible from its seed; a new backend should keep that.
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
