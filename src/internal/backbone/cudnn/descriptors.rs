//! Owning wrappers of the cuDNN handle and descriptors, and the conventions every cuDNN call here
//! shares (f32 data, NaN propagation, 32-bit sizes, scaling factors and device addresses passed
//! as raw pointers).
//!
//! Each wrapper destroys what it holds in `drop`; destruction errors are ignored: there is nothing
//! to do about them in `drop`.

use std::ffi::{c_int, c_void};

use cudarc::cudnn::result::{self as dnn, CudnnError};
use cudarc::cudnn::sys;
use cudarc::driver::CudaStream;

use super::super::graph::Window;
use crate::error::{Error, Result};

pub(super) const F32: sys::cudnnDataType_t = sys::cudnnDataType_t::CUDNN_DATA_FLOAT;
pub(super) const NAN: sys::cudnnNanPropagation_t = sys::cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN;

pub(super) fn dnn_err(what: &'static str) -> impl Fn(CudnnError) -> Error {
    move |e| Error::Cuda(format!("cuDNN {what}: {e}"))
}

pub(super) fn int(v: usize) -> Result<c_int> {
    c_int::try_from(v).map_err(|_| {
        Error::shape(
            "cuDNN backbone",
            format!("size {v} exceeds cuDNN's 32-bit limit; lower the batch"),
        )
    })
}

pub(super) fn ints<const N: usize>(v: [usize; N]) -> Result<[c_int; N]> {
    let mut out = [0; N];
    for (o, &x) in out.iter_mut().zip(&v) {
        *o = int(x)?;
    }
    Ok(out)
}

/// The scaling factors cuDNN reads through pointers (f32 for f32 tensors).
pub(super) static ONE: ScalarF32 = ScalarF32(1.0);
pub(super) static ZERO: ScalarF32 = ScalarF32(0.0);

pub(super) struct ScalarF32(f32);
impl ScalarF32 {
    pub(super) fn as_ptr(&self) -> *const c_void {
        &self.0 as *const f32 as *const c_void
    }
}

/// The address `offset` floats past device address `base`, as cuDNN takes it.
pub(super) fn at(base: u64, offset: usize) -> *mut c_void {
    (base + 4 * offset as u64) as *mut c_void
}

/// A cuDNN handle whose work is queued on one stream.
pub(super) struct Handle(pub(super) sys::cudnnHandle_t);
impl Handle {
    /// Creates a handle on the current thread's context and sets its stream.
    ///
    /// # Safety
    /// `stream` must outlive the handle (in [`CudnnChain`](super::CudnnChain), the backend that
    /// owns the stream is a field declared after the handle).
    pub(super) unsafe fn on_stream(stream: &CudaStream) -> Result<Self> {
        let handle = Handle(dnn::create_handle().map_err(dnn_err("create handle"))?);
        // SAFETY: the handle was just created; the caller keeps the stream alive longer.
        unsafe { dnn::set_stream(handle.0, stream.cu_stream() as sys::cudaStream_t) }
            .map_err(dnn_err("set stream"))?;
        Ok(handle)
    }
}
impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created in `on_stream` and destroyed only here.
        let _ = unsafe { dnn::destroy_handle(self.0) };
    }
}

/// A 4-D f32 tensor descriptor.
pub(super) struct TensorDesc(pub(super) sys::cudnnTensorDescriptor_t);
impl TensorDesc {
    pub(super) fn strided(dims: [usize; 4], strides: [usize; 4]) -> Result<Self> {
        // cuDNN's legacy API indexes tensors with 32-bit integers.
        let span = 1 + dims
            .iter()
            .zip(&strides)
            .map(|(d, s)| (d.max(&1) - 1) * s)
            .sum::<usize>();
        int(span)?;
        let d = TensorDesc(dnn::create_tensor_descriptor().map_err(dnn_err("tensor descriptor"))?);
        // SAFETY: `d.0` was just created.
        unsafe { dnn::set_tensor4d_descriptor_ex(d.0, F32, ints(dims)?, ints(strides)?) }.map_err(
            |e| {
                Error::Cuda(format!(
                    "cuDNN tensor descriptor {dims:?} strides {strides:?}: {e}"
                ))
            },
        )?;
        Ok(d)
    }
    pub(super) fn packed(dims: [usize; 4]) -> Result<Self> {
        let [_, c, h, w] = dims;
        Self::strided(dims, [c * h * w, h * w, w, 1])
    }
}
impl Drop for TensorDesc {
    fn drop(&mut self) {
        // SAFETY: created in `strided`, destroyed only here.
        let _ = unsafe { dnn::destroy_tensor_descriptor(self.0) };
    }
}

/// An f32 NCHW filter (convolution weight) descriptor.
pub(super) struct FilterDesc(pub(super) sys::cudnnFilterDescriptor_t);
impl FilterDesc {
    pub(super) fn new(shape: [usize; 4]) -> Result<Self> {
        let filter =
            FilterDesc(dnn::create_filter_descriptor().map_err(dnn_err("filter descriptor"))?);
        // SAFETY: `filter.0` was just created.
        unsafe {
            dnn::set_filter4d_descriptor(
                filter.0,
                F32,
                sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                ints(shape)?,
            )
        }
        .map_err(|e| Error::Cuda(format!("cuDNN filter descriptor {shape:?}: {e}")))?;
        Ok(filter)
    }
}
impl Drop for FilterDesc {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed only here.
        let _ = unsafe { dnn::destroy_filter_descriptor(self.0) };
    }
}

/// A 2-D cross-correlation in f32 FMA math.
pub(super) struct ConvDesc(pub(super) sys::cudnnConvolutionDescriptor_t);
impl ConvDesc {
    /// `window`'s strides and dilations with the symmetric `pads` (top/left = bottom/right).
    pub(super) fn new(window: &Window, pads: [usize; 2], group: usize) -> Result<Self> {
        let conv = ConvDesc(
            dnn::create_convolution_descriptor().map_err(dnn_err("convolution descriptor"))?,
        );
        let [ph, pw] = ints(pads)?;
        let [sh, sw] = ints(window.strides)?;
        let [dh, dw] = ints(window.dilations)?;
        // SAFETY: `conv.0` was just created.
        unsafe {
            dnn::set_convolution2d_descriptor(
                conv.0,
                ph,
                pw,
                sh,
                sw,
                dh,
                dw,
                sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                F32,
            )
        }
        .map_err(|e| Error::Cuda(format!("cuDNN convolution {window:?}: {e}")))?;
        // SAFETY: as above.
        unsafe { dnn::set_convolution_group_count(conv.0, int(group)?) }
            .map_err(dnn_err("convolution group count"))?;
        // Without this, Ampere and later GPUs may run f32 convolutions in TF32.
        // SAFETY: as above.
        unsafe { dnn::set_convolution_math_type(conv.0, sys::cudnnMathType_t::CUDNN_FMA_MATH) }
            .map_err(dnn_err("convolution math type"))?;
        Ok(conv)
    }
}
impl Drop for ConvDesc {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed only here.
        let _ = unsafe { dnn::destroy_convolution_descriptor(self.0) };
    }
}

pub(super) struct PoolDesc(pub(super) sys::cudnnPoolingDescriptor_t);
impl PoolDesc {
    pub(super) fn new(
        mode: sys::cudnnPoolingMode_t,
        kernel: [usize; 2],
        pads: [usize; 2],
        strides: [usize; 2],
    ) -> Result<Self> {
        let d = PoolDesc(dnn::create_pooling_descriptor().map_err(dnn_err("pooling descriptor"))?);
        let (k, p, s) = (ints(kernel)?, ints(pads)?, ints(strides)?);
        // SAFETY: `d.0` was just created; the slices hold two values each, as `nb_dims` says.
        unsafe { dnn::set_pooling_descriptor(d.0, mode, NAN, 2, &k, &p, &s) }.map_err(|e| {
            Error::Cuda(format!(
                "cuDNN pooling {mode:?} window {kernel:?} pads {pads:?} strides {strides:?}: {e}"
            ))
        })?;
        Ok(d)
    }
}
impl Drop for PoolDesc {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed only here.
        let _ = unsafe { sys::cudnnDestroyPoolingDescriptor(self.0) };
    }
}

pub(super) struct ActDesc(pub(super) sys::cudnnActivationDescriptor_t);
impl ActDesc {
    pub(super) fn relu() -> Result<Self> {
        let relu =
            ActDesc(dnn::create_activation_descriptor().map_err(dnn_err("activation descriptor"))?);
        // SAFETY: `relu.0` was just created.
        unsafe {
            dnn::set_activation_descriptor(
                relu.0,
                sys::cudnnActivationMode_t::CUDNN_ACTIVATION_RELU,
                NAN,
                0.0,
            )
        }
        .map_err(dnn_err("activation descriptor"))?;
        Ok(relu)
    }
}
impl Drop for ActDesc {
    fn drop(&mut self) {
        // SAFETY: created in `relu`, destroyed only here.
        let _ = unsafe { sys::cudnnDestroyActivationDescriptor(self.0) };
    }
}

pub(super) struct OpTensorDesc(pub(super) sys::cudnnOpTensorDescriptor_t);
impl OpTensorDesc {
    pub(super) fn new(op: sys::cudnnOpTensorOp_t) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer.
        unsafe { sys::cudnnCreateOpTensorDescriptor(&mut raw) }
            .result()
            .map_err(dnn_err("op-tensor descriptor"))?;
        let d = OpTensorDesc(raw);
        // SAFETY: `d.0` was just created.
        unsafe { sys::cudnnSetOpTensorDescriptor(d.0, op, F32, NAN) }
            .result()
            .map_err(dnn_err("op-tensor descriptor"))?;
        Ok(d)
    }
}
impl Drop for OpTensorDesc {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed only here.
        let _ = unsafe { sys::cudnnDestroyOpTensorDescriptor(self.0) };
    }
}
