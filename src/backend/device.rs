//! Where a backend's tensors live: the host ⇄ backend copies, synchronisation and memory.

use super::{DictTensor, HostRows, Indices, Scalar, Tensor};
use crate::error::Result;

/// The storage half of a backend (after candle's device/storage split): its buffer types and the
/// only places data crosses between host and backend. The op families build on it
/// ([`ops`](super::ops)); [`Backend`](super::Backend) is the sum.
pub trait Device: Sized + Clone + Send + Sync + 'static {
    /// The element type the host exchanges with this backend.
    type Elem: Scalar;
    type Buf: Clone + Send + Sync;
    type IdxBuf: Clone + Send + Sync;
    type DictBuf: Send + Sync;

    fn name(&self) -> String;

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
}
