//! The CPU reference backend on `ndarray`, generic over f32 and f64. It is the oracle every other
//! backend is checked against, so it favours plain, exact loops over cleverness; the ones that
//! cost (the convex family, Adam) are split over threads by whole rows or elements
//! (`cpu::parallel`), so a result never depends on the thread count. This file is the
//! [`Device`] half; each op family implements its trait of [`super::ops`] in the file of the same
//! name as its CUDA kernel (`kernels/<family>.cu`).
//!
//! Tensors are `ndarray::Array2<T>` ([`arr`], [`tensor`] convert), index vectors `Vec<u32>` and
//! dictionaries the [`HostRows`] themselves, so uploads and downloads are plain copies and nothing
//! is asynchronous.

#[doc(hidden)]
pub mod adam;
#[doc(hidden)]
pub mod convex;
#[doc(hidden)]
pub mod elementwise;
#[doc(hidden)]
pub mod heatmap;
#[doc(hidden)]
pub mod layers;
#[doc(hidden)]
pub mod losses;
#[doc(hidden)]
pub mod lsgan;
#[doc(hidden)]
pub mod matmul;
#[doc(hidden)]
pub mod parallel;

use std::marker::PhantomData;

use ndarray::Array2;

use super::{check, DictTensor, HostRows, Indices, Precision, Scalar, Tensor};
use crate::backend::prelude::*;
use crate::error::{Error, Result};

/// Lets the CPU backend use every CPU the process may run on, unless `MATMUL_NUM_THREADS` is
/// already set (it sizes the backend's one pool, `cpu::parallel`, which without the variable takes
/// every CPU anyway; the call makes the choice visible to child processes and to anything else that
/// reads the variable). Takes effect only before the first op (the pool is made once) and only
/// from a single thread: the command line calls it first thing in `main`, the Python module when
/// it is imported.
pub fn use_all_cores() {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        if let Ok(n) = std::thread::available_parallelism() {
            std::env::set_var("MATMUL_NUM_THREADS", n.get().to_string());
        }
    }
}

/// The CPU backend computing in `T` (f32 for training, f64 for gradient checks); `T` is `f32` or
/// `f64` (see [`Scalar`]). A stateless unit value: every `Cpu<T>` is the same backend.
#[derive(Debug)]
pub struct Cpu<T>(PhantomData<T>);

impl<T> Cpu<T> {
    /// The backend (free to make; holds nothing).
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

/// The CPU backend in f32, what training runs on without a GPU.
pub type CpuF32 = Cpu<f32>;
/// The CPU backend in f64, the oracle of the gradient and GPU checks (METHOD.md §7).
pub type CpuF64 = Cpu<f64>;

/// View a CPU tensor as an ndarray (`rows × cols`).
pub fn arr<T: Scalar>(t: &Tensor<Cpu<T>>) -> &Array2<T> {
    &t.buf
}

/// Wrap an ndarray as a CPU tensor of the same shape.
pub fn tensor<T: Scalar>(a: Array2<T>) -> Tensor<Cpu<T>> {
    let (rows, cols) = a.dim();
    Tensor { buf: a, rows, cols }
}

impl<T: Scalar> Device for Cpu<T> {
    type Elem = T;
    type Buf = Array2<T>;
    type IdxBuf = Vec<u32>;
    type DictBuf = HostRows;

    fn name(&self) -> String {
        format!("cpu-{}", T::NAME)
    }

    fn buf_fits(buf: &Array2<T>, rows: usize, cols: usize) -> bool {
        // The ops read rows as contiguous slices.
        buf.dim() == (rows, cols) && buf.is_standard_layout()
    }

    fn idx_buf_fits(buf: &Vec<u32>, len: usize) -> bool {
        buf.len() == len
    }

    fn dict_buf_fits(buf: &HostRows, rows: usize, cols: usize, precision: Precision) -> bool {
        rows.checked_mul(cols) == Some(buf.len()) && buf.precision() == precision
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
}
