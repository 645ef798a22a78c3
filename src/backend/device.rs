//! Where a backend's tensors live: the host ⇄ backend copies, synchronisation and memory.

use super::{DictTensor, HostRows, Indices, Precision, Scalar, Tensor};
use crate::error::Result;

/// The storage half of a backend (after candle's device/storage split): its buffer types and the
/// only places data crosses between host and backend. The op families build on it
/// ([`ops`](super::ops)); [`Backend`](super::Backend) is the sum.
///
/// A value of the type is a handle on one device; cloning it must share that device (the CPU
/// backend is a unit type). Ops may be queued asynchronously: only the `download*` methods,
/// [`read_scalars`](Self::read_scalars) and [`synchronize`](Self::synchronize) need wait for the
/// device. A failure of the device itself (allocation, copy, driver) is reported as the backend's
/// own error ([`Error::Cuda`](crate::Error::Cuda) on CUDA).
pub trait Device: Sized + Clone + Send + Sync + 'static {
    /// The element type the host exchanges with this backend and the ops compute in (`f32` on
    /// CUDA, `f32` or `f64` on the CPU).
    type Elem: Scalar;
    /// Storage of one [`Tensor`]'s elements (an `ndarray::Array2` on the CPU, a `CudaSlice<f32>`
    /// on CUDA); cloning it copies the elements.
    type Buf: Clone + Send + Sync;
    /// Storage of one [`Indices`] vector of `u32`.
    type IdxBuf: Clone + Send + Sync;
    /// Storage of one [`DictTensor`], in its storage precision (any of [`Precision`](super::Precision)).
    type DictBuf: Send + Sync;

    /// Whether `buf` can back a `rows × cols` [`Tensor`]: it holds at least `rows · cols`
    /// elements, laid out row-major as this backend's ops read them. [`Tensor::from_parts`] and
    /// [`Tensor::with_buf_mut`] refuse storage for which this is false, so that safe code cannot
    /// hand an op a buffer shorter than its tensor's shape says.
    fn buf_fits(buf: &Self::Buf, rows: usize, cols: usize) -> bool;

    /// Whether `buf` can back an [`Indices`] of `len` values ([`Indices::from_parts`]).
    fn idx_buf_fits(buf: &Self::IdxBuf, len: usize) -> bool;

    /// Whether `buf` can back a `rows × cols` [`DictTensor`] stored as `precision`
    /// ([`DictTensor::from_parts`]).
    fn dict_buf_fits(buf: &Self::DictBuf, rows: usize, cols: usize, precision: Precision) -> bool;

    /// A short human-readable name for logs and reports, e.g. `cpu-f32` or
    /// `cuda:0 (NVIDIA H200, compute_90)`.
    fn name(&self) -> String;

    /// Copies `data`, `rows · cols` values in row-major order, into a new `rows × cols` tensor.
    /// [`Error::Shape`](crate::Error::Shape) when `data.len() != rows · cols`.
    fn upload(&self, data: &[Self::Elem], rows: usize, cols: usize) -> Result<Tensor<Self>>;
    /// The `rows · cols` elements of `t` in row-major order; waits for queued work.
    fn download(&self, t: &Tensor<Self>) -> Result<Vec<Self::Elem>>;
    /// Copies `data` (labels or dictionary row indices) into a new [`Indices`] of the same length.
    /// A backend that checks index ranges without reading the device back may note what it needs
    /// here (the CUDA backend records the maximum).
    fn upload_indices(&self, data: &[u32]) -> Result<Indices<Self>>;
    /// The values of `t`, in order; waits for queued work.
    fn download_indices(&self, t: &Indices<Self>) -> Result<Vec<u32>>;
    /// Copies a dictionary of `n_rows` rows of width `cols`, row-major, keeping the storage
    /// precision of `rows` (the result's [`precision`](DictTensor::precision) is
    /// `rows.precision()`). [`Error::Shape`](crate::Error::Shape) when
    /// `rows.len() != n_rows · cols`.
    fn upload_dict(&self, rows: &HostRows, n_rows: usize, cols: usize) -> Result<DictTensor<Self>>;
    /// The first element of each tensor (the `1 × 1` losses), widened to f64, with one
    /// synchronisation for all of them; NaN for an empty tensor. The default downloads each in
    /// turn; a device backend should override it.
    fn read_scalars(&self, ts: &[&Tensor<Self>]) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            let v = self.download(t)?;
            out.push(v.first().map(|x| x.as_f64()).unwrap_or(f64::NAN));
        }
        Ok(out)
    }
    /// [`upload`](Self::upload) from f32 host values, converted to [`Elem`](Self::Elem) (exact
    /// for f32 and f64).
    fn upload_f32(&self, data: &[f32], rows: usize, cols: usize) -> Result<Tensor<Self>> {
        let v: Vec<Self::Elem> = data.iter().map(|&x| Self::Elem::of_f32(x)).collect();
        self.upload(&v, rows, cols)
    }
    /// [`download`](Self::download) converted to f32 (rounded to nearest from f64).
    fn download_f32(&self, t: &Tensor<Self>) -> Result<Vec<f32>> {
        Ok(self.download(t)?.into_iter().map(|x| x.as_f32()).collect())
    }
    /// Free and total bytes of the memory the backend's tensors live in, when that is a device of
    /// its own; `None` for host memory (the CPU backend). Used to refuse a run that cannot fit
    /// before it allocates.
    fn device_memory(&self) -> Option<(u64, u64)> {
        None
    }

    /// Waits for all queued work and reports any error it raised (a no-op on the CPU).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
