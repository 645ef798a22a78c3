//! The GPU path: a [`Chain`] executed with cuDNN, f32 NCHW, on a [`CudaBackend`]'s context and
//! stream.
//!
//! Nothing is linked at build time: libcuda and libcudnn are loaded when the chain is created.
//! cudarc's loader panics when a library or a function is missing, so [`CudnnChain::on_backend`]
//! first checks that cuDNN loads (a plain `dlopen` of each candidate name), that it is version 9
//! and exports every function used here ([`CUDNN_SYMBOLS`], through the shared [`probe`]), and
//! catches any panic left; [`CudaBackend::new`] has done the same for libcuda. A machine without
//! a GPU, a driver or cuDNN gets an [`Error::Cuda`] saying which.
//!
//! All calls go through cudarc's `cudnn::result` and `cudnn::sys` layers with small owning
//! wrappers (`descriptors`): the safe layer keeps its handle and descriptors private to cudarc,
//! and it lacks AddTensor, BatchNormalizationForwardInference, SetTensor, TransformTensor and
//! OpTensor, which need the same handle and descriptors as the convolutions.
//!
//! Per op:
//! - Conv: `cudnnConvolutionForward` (cross-correlation, groups, dilations) in FMA math, so that
//!   Ampere and Hopper GPUs do not switch f32 convolutions to TF32 (about 1e-3 relative error).
//!   The algorithm is cuDNN's heuristic choice (`cudnnGetConvolutionForwardAlgorithm_v7`), the
//!   first one it reports usable without tensor cores and within [`WORKSPACE_LIMIT`]; implicit
//!   GEMM (no workspace) otherwise. The bias is added with `cudnnAddTensor`.
//! - Relu: `cudnnActivationForward`.
//! - MaxPool / AveragePool with symmetric pads smaller than the window and no dilation:
//!   `cudnnPoolingForward` (max; average including or excluding the padding).
//!   Other windows (asymmetric pads, dilated max pooling): the input is copied into an explicitly
//!   padded buffer (−∞ for max, 0 for average) and the window's taps, each a strided view of that
//!   buffer, are combined with `cudnnOpTensor` (max, or sum then a per-cell 1/count).
//! - GlobalAveragePool: `cudnnPoolingForward` with the whole plane as the window.
//! - BatchNormalization: `cudnnBatchNormalizationForwardInference`, spatial mode.
//! - Flatten: nothing moves; later ops see `[n, c·h·w, 1, 1]`.
//!
//! Modules: `descriptors` (the handle and descriptor wrappers), `layers` (weights uploaded
//! once, when the chain is created), `plan` (descriptors, algorithms and buffers per input
//! shape, made on the first `run` with that shape and kept), `execute` (queuing a planned run).

mod descriptors;
mod execute;
mod layers;
mod plan;

pub use plan::WORKSPACE_LIMIT;

use cudarc::cudnn::result as dnn;
use cudarc::cudnn::sys;
use cudarc::driver::DriverError;

use super::graph::{Chain, Op};
use super::FeatureMap;
use crate::backend::cuda::{probe, CudaBackend};
use crate::error::{Error, Result};
use descriptors::{ActDesc, Handle};
use layers::Layer;
use plan::Plan;

/// Every cuDNN function this module calls ([`probe::cudnn`] checks them all before any is called).
pub const CUDNN_SYMBOLS: &[&str] = &[
    "cudnnGetVersion",
    "cudnnOpsVersionCheck",
    "cudnnCnnVersionCheck",
    "cudnnCreate",
    "cudnnDestroy",
    "cudnnSetStream",
    "cudnnCreateTensorDescriptor",
    "cudnnSetTensor4dDescriptorEx",
    "cudnnDestroyTensorDescriptor",
    "cudnnCreateFilterDescriptor",
    "cudnnSetFilter4dDescriptor",
    "cudnnDestroyFilterDescriptor",
    "cudnnCreateConvolutionDescriptor",
    "cudnnSetConvolution2dDescriptor",
    "cudnnSetConvolutionGroupCount",
    "cudnnSetConvolutionMathType",
    "cudnnDestroyConvolutionDescriptor",
    "cudnnGetConvolutionForwardAlgorithm_v7",
    "cudnnGetConvolutionForwardWorkspaceSize",
    "cudnnConvolutionForward",
    "cudnnAddTensor",
    "cudnnCreateActivationDescriptor",
    "cudnnSetActivationDescriptor",
    "cudnnDestroyActivationDescriptor",
    "cudnnActivationForward",
    "cudnnCreatePoolingDescriptor",
    "cudnnSetPoolingNdDescriptor",
    "cudnnDestroyPoolingDescriptor",
    "cudnnPoolingForward",
    "cudnnBatchNormalizationForwardInference",
    "cudnnSetTensor",
    "cudnnTransformTensor",
    "cudnnCreateOpTensorDescriptor",
    "cudnnSetOpTensorDescriptor",
    "cudnnDestroyOpTensorDescriptor",
    "cudnnOpTensor",
];

/// A [`Chain`] on the GPU through cuDNN, queued on a [`CudaBackend`]'s stream (so it orders with
/// the backend's own work). Not `Send`: a cuDNN handle belongs to one thread at a time, and the
/// chain is meant to be created and run on the extraction thread.
pub struct CudnnChain {
    // Fields drop in declaration order: device memory and descriptors before the cuDNN handle,
    // the handle before the backend, whose clone keeps the stream and the context alive.
    plan: Option<Plan>,
    layers: Vec<Layer>,
    chain: Chain,
    relu: ActDesc,
    handle: Handle,
    be: CudaBackend,
    version: usize,
}

impl std::fmt::Debug for CudnnChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudnnChain({} ops to `{}`, {}, cuDNN {})",
            self.chain.ops.len(),
            self.chain.output,
            self.be.device_name(),
            self.version
        )
    }
}

impl CudnnChain {
    /// Opens CUDA device 0 as a [`CudaBackend`] of its own and puts the chain on it; see
    /// [`on_backend`](Self::on_backend).
    pub fn new(chain: &Chain) -> Result<Self> {
        Self::on_backend(&CudaBackend::new(0)?, chain)
    }

    /// Puts the chain on `be`'s device, context and stream: checks that libcudnn loads and is
    /// cuDNN 9 with every function used here, creates a cuDNN handle on the backend's stream, and
    /// uploads the chain's weights. The chain keeps a clone of `be` (a shared reference).
    pub fn on_backend(be: &CudaBackend, chain: &Chain) -> Result<Self> {
        probe::cudnn()?;
        let ordinal = be.context().ordinal();
        probe::guarded(
            &format!(
                "cuDNN initialisation on CUDA device {ordinal} ({})",
                be.device_name()
            ),
            || Self::init(be, chain),
        )
    }

    fn init(be: &CudaBackend, chain: &Chain) -> Result<Self> {
        // The status codes cudarc's bindings know are cuDNN 9's; an older library would return
        // codes they cannot represent, so the version is checked before anything returns one.
        let version = dnn::get_version();
        if version < 90000 {
            return Err(Error::Cuda(format!(
                "cuDNN {} found; the GPU backbone needs cuDNN 9",
                version_string(version)
            )));
        }
        // Everything here runs on the backend's one stream, in order, so cudarc's per-allocation
        // events have no cross-stream use to order; the backend turned them off for its context,
        // and without them raw pointers can be taken from the slices for the cuDNN calls without
        // bookkeeping (`execute`'s `addr`). A context with them on would break that.
        if be.context().is_event_tracking() {
            return Err(Error::Cuda(
                "internal: the cuDNN backbone needs a context without event tracking".into(),
            ));
        }
        // cuDNN creates the handle on the calling thread's current context.
        be.context()
            .bind_to_thread()
            .map_err(drv_err("bind context"))?;
        // cuDNN 9 loads its op and convolution sub-libraries on demand; a missing one is better
        // reported here than on the first convolution.
        // SAFETY: plain version queries.
        unsafe { sys::cudnnOpsVersionCheck() }
            .result()
            .map_err(|e| Error::Cuda(format!("cuDNN ops library (libcudnn_ops): {e}")))?;
        // SAFETY: as above.
        unsafe { sys::cudnnCnnVersionCheck() }
            .result()
            .map_err(|e| Error::Cuda(format!("cuDNN convolution library (libcudnn_cnn): {e}")))?;
        // SAFETY: the stream belongs to `be`, whose clone the chain holds in a field declared
        // after the handle, so the stream outlives the handle.
        let handle = unsafe { Handle::on_stream(be.stream()) }?;
        let relu = ActDesc::relu()?;
        let layers = chain
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| Layer::new(op, be).map_err(|e| in_op(e, i, op)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CudnnChain {
            plan: None,
            layers,
            chain: chain.clone(),
            relu,
            handle,
            be: be.clone(),
            version,
        })
    }

    /// The device's name and the cuDNN version, for logs.
    pub fn describe(&self) -> String {
        format!(
            "{} (cuDNN {})",
            self.be.device_name(),
            version_string(self.version)
        )
    }

    /// The backend whose context and stream the chain runs on.
    pub fn backend(&self) -> &CudaBackend {
        &self.be
    }

    /// Runs the chain on `n` images of per-sample shape `chw = [c, h, w]` (NCHW, row-major
    /// `input`) and returns the chain's output. A shape the chain cannot take, or one too large
    /// for cuDNN's 32-bit sizes, is an error, as is any failed cuDNN call.
    pub fn run(&mut self, input: &[f32], n: usize, chw: [usize; 3]) -> Result<FeatureMap> {
        let per = chw.iter().product::<usize>();
        if input.len() != n * per {
            return Err(Error::shape(
                "backbone input",
                format!(
                    "{} values for {n} images of shape {chw:?} ({} expected)",
                    input.len(),
                    n * per
                ),
            ));
        }
        let shapes = self.chain.shapes(chw)?;
        let out = shapes.last().copied().unwrap_or(chw);
        if n == 0 {
            return Ok(FeatureMap {
                data: Vec::new(),
                n,
                c: out[0],
                h: out[1],
                w: out[2],
            });
        }
        if let Some(s) = std::iter::once(&chw)
            .chain(&shapes)
            .find(|s| s.contains(&0))
        {
            return Err(Error::shape(
                "cuDNN backbone",
                format!("an activation of shape {s:?} is empty; cuDNN needs every size ≥ 1"),
            ));
        }
        self.be
            .context()
            .bind_to_thread()
            .map_err(drv_err("bind context"))?;
        if self.plan.as_ref().is_none_or(|p| p.n != n || p.chw != chw) {
            // Free the old plan's buffers before allocating the new ones.
            self.plan = None;
            self.plan = Some(self.plan(n, chw, &shapes)?);
        }
        let plan = self.plan.as_mut().expect("planned above");
        let stream = self.be.stream();
        stream
            .memcpy_htod(input, &mut plan.bufs[0].slice_mut(..input.len()))
            .map_err(drv_err("copy the input to the GPU"))?;
        let cur = execute::execute(
            &self.handle,
            stream,
            &self.relu,
            &self.layers,
            &self.chain,
            plan,
        )?;
        let len = n * out.iter().product::<usize>();
        let data = stream
            .clone_dtoh(&plan.bufs[cur].slice(..len))
            .map_err(drv_err("copy the output from the GPU"))?;
        // Asynchronous kernel failures surface here rather than on the next call.
        stream
            .synchronize()
            .map_err(drv_err("cuDNN backbone on the GPU"))?;
        Ok(FeatureMap {
            data,
            n,
            c: out[0],
            h: out[1],
            w: out[2],
        })
    }
}

fn drv_err(what: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| Error::Cuda(format!("{what}: {e}"))
}

/// The error of a device allocation of `bytes` for `what`: the backend's
/// ([`CudaBackend::alloc_err`]: running out of memory said in words, with the size asked for and
/// what is free), said to be the backbone's.
fn alloc_err<'a>(
    be: &'a CudaBackend,
    bytes: usize,
    what: &'static str,
) -> impl Fn(DriverError) -> Error + 'a {
    move |e| match be.alloc_err_advising(bytes, "lower extract's --batch")(e) {
        Error::Cuda(m) => Error::Cuda(format!("cuDNN backbone, {what}: {m}")),
        other => other,
    }
}

fn version_string(v: usize) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

fn in_op(e: Error, i: usize, op: &Op) -> Error {
    match e {
        Error::Cuda(m) => Error::Cuda(format!("op {i} ({}): {m}", op.name())),
        other => other,
    }
}
