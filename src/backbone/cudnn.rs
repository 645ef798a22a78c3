//! The GPU path: a [`Chain`] executed with cuDNN, f32 NCHW, on one stream.
//!
//! Nothing is linked at build time: libcuda and libcudnn are loaded when [`CudnnChain::new`] runs.
//! cudarc's loader panics when a library or a function is missing, so `new` first checks that
//! both libraries load (a plain `dlopen` of each candidate name), then that the cuDNN found is
//! version 9 and exports every function used here, and catches any panic left; a machine without
//! a GPU, a driver or cuDNN gets an [`Error::Cuda`] saying which.
//!
//! All calls go through cudarc's `cudnn::result` and `cudnn::sys` layers with small owning
//! wrappers here: the safe layer keeps its handle and descriptors private to cudarc, and it lacks
//! AddTensor, BatchNormalizationForwardInference, SetTensor, TransformTensor and OpTensor, which
//! need the same handle and descriptors as the convolutions.
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
//! Weights are uploaded once in `new`; descriptors, buffers and algorithms are planned per input
//! shape on the first `run` with that shape and kept.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use cudarc::cudnn::result::{self as dnn, CudnnError};
use cudarc::cudnn::sys;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DriverError};

use super::graph::{Chain, Op, Window};
use super::FeatureMap;
use crate::backend::cuda::probe;
use crate::error::{Error, Result};

/// The largest convolution workspace the algorithm choice may ask for.
pub const WORKSPACE_LIMIT: usize = 1 << 30;

const F32: sys::cudnnDataType_t = sys::cudnnDataType_t::CUDNN_DATA_FLOAT;
const NAN: sys::cudnnNanPropagation_t = sys::cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN;
const IMPLICIT_GEMM: sys::cudnnConvolutionFwdAlgo_t =
    sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
/// cuDNN 7 rejected batch-norm epsilons below 1e-5 (`CUDNN_BN_MIN_EPSILON`); later versions
/// allow 0. Smaller epsilons are moved into the variance so either accepts the call.
const BN_MIN_EPSILON: f64 = 1e-5;

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

fn dnn_err(what: &'static str) -> impl Fn(CudnnError) -> Error {
    move |e| Error::Cuda(format!("cuDNN {what}: {e}"))
}

fn drv_err(what: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| Error::Cuda(format!("{what}: {e}"))
}

fn int(v: usize) -> Result<c_int> {
    c_int::try_from(v).map_err(|_| {
        Error::shape(
            "cuDNN backbone",
            format!("size {v} exceeds cuDNN's 32-bit limit; lower the batch"),
        )
    })
}

fn ints<const N: usize>(v: [usize; N]) -> Result<[c_int; N]> {
    let mut out = [0; N];
    for (o, &x) in out.iter_mut().zip(&v) {
        *o = int(x)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Owning wrappers. Destruction errors are ignored: there is nothing to do about them in `drop`.

struct Handle(sys::cudnnHandle_t);
impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by `create_handle` and destroyed only here.
        let _ = unsafe { dnn::destroy_handle(self.0) };
    }
}

/// A 4-D f32 tensor descriptor.
struct TensorDesc(sys::cudnnTensorDescriptor_t);
impl TensorDesc {
    fn strided(dims: [usize; 4], strides: [usize; 4]) -> Result<Self> {
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
    fn packed(dims: [usize; 4]) -> Result<Self> {
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

struct FilterDesc(sys::cudnnFilterDescriptor_t);
impl Drop for FilterDesc {
    fn drop(&mut self) {
        // SAFETY: created in `Layer::conv`, destroyed only here.
        let _ = unsafe { dnn::destroy_filter_descriptor(self.0) };
    }
}

struct ConvDesc(sys::cudnnConvolutionDescriptor_t);
impl Drop for ConvDesc {
    fn drop(&mut self) {
        // SAFETY: created in `Layer::conv`, destroyed only here.
        let _ = unsafe { dnn::destroy_convolution_descriptor(self.0) };
    }
}

struct PoolDesc(sys::cudnnPoolingDescriptor_t);
impl PoolDesc {
    fn new(
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

struct ActDesc(sys::cudnnActivationDescriptor_t);
impl Drop for ActDesc {
    fn drop(&mut self) {
        // SAFETY: created in `CudnnChain::init`, destroyed only here.
        let _ = unsafe { sys::cudnnDestroyActivationDescriptor(self.0) };
    }
}

struct OpTensorDesc(sys::cudnnOpTensorDescriptor_t);
impl OpTensorDesc {
    fn new(op: sys::cudnnOpTensorOp_t) -> Result<Self> {
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

// ---------------------------------------------------------------------------------------------
// Layers (per op, shape-independent, built once) and plans (per input shape).

enum Layer {
    Conv {
        filter: FilterDesc,
        conv: ConvDesc,
        weight: CudaSlice<f32>,
        /// `[1, out_c, 1, 1]` and the values.
        bias: Option<(TensorDesc, CudaSlice<f32>)>,
        /// `Some(pads)` when they differ top/bottom or left/right: cuDNN pads symmetrically, so
        /// the input is padded explicitly and the convolution pads nothing.
        explicit_pads: Option<[usize; 4]>,
    },
    Relu,
    Pool {
        window: Window,
        max: bool,
        count_include_pad: bool,
        /// cuDNN's own pooling, when it can do the window.
        native: Option<PoolDesc>,
    },
    GlobalAveragePool,
    BatchNorm {
        /// `[1, c, 1, 1]`.
        param: TensorDesc,
        scale: CudaSlice<f32>,
        bias: CudaSlice<f32>,
        mean: CudaSlice<f32>,
        var: CudaSlice<f32>,
        epsilon: f64,
    },
    Flatten,
}

/// Copying an activation into a larger buffer filled with `fill`, at `offset` elements.
struct Pad {
    /// The packed input.
    x: TensorDesc,
    /// The packed padded buffer `[n, c, hp, wp]`, `hp = h + top + bottom`, `wp = w + left +
    /// right`.
    padded: TensorDesc,
    /// The input's place inside it: input dims, padded strides.
    interior: TensorDesc,
    offset: usize,
    fill: f32,
    /// Elements of the padded buffer.
    len: usize,
    hp: usize,
    wp: usize,
}

enum Step {
    Conv {
        x: TensorDesc,
        y: TensorDesc,
        pad: Option<Pad>,
        algo: sys::cudnnConvolutionFwdAlgo_t,
        workspace: usize,
    },
    /// Relu and BatchNorm: same shape in and out.
    Same {
        x: TensorDesc,
    },
    Pool {
        x: TensorDesc,
        y: TensorDesc,
        /// GlobalAveragePool's window depends on the input; other pools use their layer's.
        own: Option<PoolDesc>,
    },
    Taps {
        pad: Pad,
        y: TensorDesc,
        /// One window tap: output dims, strides stepping through the padded buffer.
        tap: TensorDesc,
        /// Where each tap starts in the padded buffer, in elements.
        offsets: Vec<usize>,
        combine: OpTensorDesc,
        /// Average pooling: `[1, 1, oh, ow]` of 1/count and the multiply that applies it.
        scale: Option<(TensorDesc, CudaSlice<f32>, OpTensorDesc)>,
    },
    Flatten,
}

struct Plan {
    n: usize,
    chw: [usize; 3],
    steps: Vec<Step>,
    /// Ping-pong activations, each large enough for the largest activation.
    bufs: [CudaSlice<f32>; 2],
    /// The explicitly padded input, when some step pads.
    padded: Option<CudaSlice<f32>>,
    /// One gathered window tap, when some pooling goes tap by tap.
    tap: Option<CudaSlice<f32>>,
    workspace: Option<CudaSlice<u8>>,
}

/// A [`Chain`] on the GPU through cuDNN. Not `Send`: a cuDNN handle belongs to one thread at a
/// time, and the chain is meant to be created and run on the extraction thread.
pub struct CudnnChain {
    // Fields drop in declaration order: device memory and descriptors before the cuDNN handle,
    // the handle before the stream and the context.
    plan: Option<Plan>,
    layers: Vec<Layer>,
    chain: Chain,
    relu: ActDesc,
    handle: Handle,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    device: String,
    version: usize,
}

impl std::fmt::Debug for CudnnChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudnnChain({} ops to `{}`, {}, cuDNN {})",
            self.chain.ops.len(),
            self.chain.output,
            self.device,
            self.version
        )
    }
}

impl CudnnChain {
    /// Opens CUDA device 0 and uploads the chain's weights; see [`on_device`](Self::on_device).
    pub fn new(chain: &Chain) -> Result<Self> {
        Self::on_device(chain, 0)
    }

    /// Opens CUDA device `ordinal`: checks that libcuda and libcudnn load, creates the context,
    /// stream and cuDNN handle (cuDNN 9 required), and uploads the chain's weights.
    pub fn on_device(chain: &Chain, ordinal: usize) -> Result<Self> {
        probe::driver()?;
        probe::cudnn()?;
        probe::guarded(
            &format!("cuDNN initialisation on CUDA device {ordinal}"),
            || Self::init(chain, ordinal),
        )
    }

    fn init(chain: &Chain, ordinal: usize) -> Result<Self> {
        // The status codes cudarc's bindings know are cuDNN 9's; an older library would return
        // codes they cannot represent, so the version is checked before anything returns one.
        let version = dnn::get_version();
        if version < 90000 {
            return Err(Error::Cuda(format!(
                "cuDNN {} found; the GPU backbone needs cuDNN 9",
                version_string(version)
            )));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| Error::Cuda(format!("cannot open CUDA device {ordinal}: {e}")))?;
        let device = ctx.name().unwrap_or_else(|_| "unknown device".into());
        // SAFETY: everything runs on the one stream below, in order, so cudarc's per-allocation
        // events have no cross-stream use to order; without them, raw pointers can be taken
        // from the slices for the cuDNN calls without bookkeeping.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
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
        let handle = Handle(dnn::create_handle().map_err(dnn_err("create handle"))?);
        // SAFETY: the handle was just created; the stream outlives it (field order).
        unsafe { dnn::set_stream(handle.0, stream.cu_stream() as sys::cudaStream_t) }
            .map_err(dnn_err("set stream"))?;
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
        let layers = chain
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| Layer::new(op, &stream).map_err(|e| in_op(e, i, op)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CudnnChain {
            plan: None,
            layers,
            chain: chain.clone(),
            relu,
            handle,
            stream,
            ctx,
            device,
            version,
        })
    }

    /// The device's name and the cuDNN version, for logs.
    pub fn describe(&self) -> String {
        format!("{} (cuDNN {})", self.device, version_string(self.version))
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
        self.ctx.bind_to_thread().map_err(drv_err("bind context"))?;
        if self.plan.as_ref().is_none_or(|p| p.n != n || p.chw != chw) {
            // Free the old plan's buffers before allocating the new ones.
            self.plan = None;
            self.plan = Some(self.plan(n, chw, &shapes)?);
        }
        let plan = self.plan.as_mut().expect("planned above");
        self.stream
            .memcpy_htod(input, &mut plan.bufs[0].slice_mut(..input.len()))
            .map_err(drv_err("copy the input to the GPU"))?;
        let cur = execute(
            &self.handle,
            &self.stream,
            &self.relu,
            &self.layers,
            &self.chain,
            plan,
        )?;
        let len = n * out.iter().product::<usize>();
        let data = self
            .stream
            .clone_dtoh(&plan.bufs[cur].slice(..len))
            .map_err(drv_err("copy the output from the GPU"))?;
        // Asynchronous kernel failures surface here rather than on the next call.
        self.stream
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

    fn plan(&self, n: usize, chw: [usize; 3], shapes: &[[usize; 3]]) -> Result<Plan> {
        let largest = std::iter::once(&chw)
            .chain(shapes)
            .map(|s| n * s.iter().product::<usize>())
            .max()
            .unwrap_or(0);
        let (mut padded_len, mut tap_len, mut workspace) = (0usize, 0usize, 0usize);
        let mut steps = Vec::with_capacity(self.layers.len());
        let mut s = chw;
        for (i, (layer, &o)) in self.layers.iter().zip(shapes).enumerate() {
            let op = &self.chain.ops[i];
            let step = self
                .step(
                    layer,
                    n,
                    s,
                    o,
                    &mut padded_len,
                    &mut tap_len,
                    &mut workspace,
                )
                .map_err(|e| in_op(e, i, op))?;
            steps.push(step);
            s = o;
        }
        let alloc = |len: usize| -> Result<CudaSlice<f32>> {
            self.stream
                .alloc_zeros::<f32>(len.max(1))
                .map_err(|e| oom(&self.device, 4 * len, e))
        };
        let bufs = [alloc(largest)?, alloc(largest)?];
        let padded = (padded_len > 0).then(|| alloc(padded_len)).transpose()?;
        let tap = (tap_len > 0).then(|| alloc(tap_len)).transpose()?;
        let workspace = (workspace > 0)
            .then(|| {
                self.stream
                    .alloc_zeros::<u8>(workspace)
                    .map_err(|e| oom(&self.device, workspace, e))
            })
            .transpose()?;
        Ok(Plan {
            n,
            chw,
            steps,
            bufs,
            padded,
            tap,
            workspace,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        layer: &Layer,
        n: usize,
        [c, h, w]: [usize; 3],
        [oc, oh, ow]: [usize; 3],
        padded_len: &mut usize,
        tap_len: &mut usize,
        workspace: &mut usize,
    ) -> Result<Step> {
        let x = TensorDesc::packed([n, c, h, w])?;
        let y = || TensorDesc::packed([n, oc, oh, ow]);
        Ok(match layer {
            Layer::Conv {
                filter,
                conv,
                explicit_pads,
                ..
            } => {
                let pad = explicit_pads
                    .map(|p| Pad::new(n, [c, h, w], p, 0.0))
                    .transpose()?;
                if let Some(p) = &pad {
                    *padded_len = (*padded_len).max(p.len);
                }
                let y = y()?;
                let xd = pad.as_ref().map_or(&x, |p| &p.padded);
                let (algo, ws, fallback_ws) = pick_algorithm(&self.handle, xd, filter, conv, &y)?;
                // Room for implicit GEMM too, the fallback should the chosen algorithm fail.
                *workspace = (*workspace).max(ws).max(fallback_ws);
                Step::Conv {
                    x,
                    y,
                    pad,
                    algo,
                    workspace: ws,
                }
            }
            Layer::Relu | Layer::BatchNorm { .. } => Step::Same { x },
            Layer::Flatten => Step::Flatten,
            Layer::GlobalAveragePool => Step::Pool {
                x,
                y: y()?,
                own: Some(PoolDesc::new(
                    sys::cudnnPoolingMode_t::CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                    [h, w],
                    [0, 0],
                    [h, w],
                )?),
            },
            Layer::Pool {
                native: Some(_), ..
            } => Step::Pool {
                x,
                y: y()?,
                own: None,
            },
            Layer::Pool {
                window,
                max,
                count_include_pad,
                native: None,
            } => {
                let fill = if *max { f32::NEG_INFINITY } else { 0.0 };
                let pad = Pad::new(n, [c, h, w], window.pads, fill)?;
                *padded_len = (*padded_len).max(pad.len);
                *tap_len = (*tap_len).max(n * c * oh * ow);
                let (hp, wp) = (pad.hp, pad.wp);
                let tap = TensorDesc::strided(
                    [n, c, oh, ow],
                    [
                        c * hp * wp,
                        hp * wp,
                        window.strides[0] * wp,
                        window.strides[1],
                    ],
                )?;
                let [kh, kw] = window.kernel;
                let offsets = (0..kh)
                    .flat_map(|ky| {
                        (0..kw)
                            .map(move |kx| ky * window.dilations[0] * wp + kx * window.dilations[1])
                    })
                    .collect();
                let combine = OpTensorDesc::new(if *max {
                    sys::cudnnOpTensorOp_t::CUDNN_OP_TENSOR_MAX
                } else {
                    sys::cudnnOpTensorOp_t::CUDNN_OP_TENSOR_ADD
                })?;
                let scale = if *max {
                    None
                } else {
                    let inv = inverse_counts(window, [h, w], [oh, ow], *count_include_pad);
                    let vals = self
                        .stream
                        .clone_htod(&inv)
                        .map_err(|e| oom(&self.device, 4 * inv.len(), e))?;
                    Some((
                        TensorDesc::packed([1, 1, oh, ow])?,
                        vals,
                        OpTensorDesc::new(sys::cudnnOpTensorOp_t::CUDNN_OP_TENSOR_MUL)?,
                    ))
                };
                Step::Taps {
                    pad,
                    y: y()?,
                    tap,
                    offsets,
                    combine,
                    scale,
                }
            }
        })
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

fn oom(device: &str, bytes: usize, e: DriverError) -> Error {
    Error::Cuda(format!(
        "allocating {:.1} MiB on {device} for the cuDNN backbone failed ({e}); lower the batch",
        bytes as f64 / (1u64 << 20) as f64
    ))
}

/// `1 / count` per output cell of an average pool: the window's area when the padding counts,
/// else the number of its taps inside the input.
fn inverse_counts(
    window: &Window,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    include_pad: bool,
) -> Vec<f32> {
    let [kh, kw] = window.kernel;
    let inside = |o: usize, a: usize, len: usize, k: usize| {
        (0..k)
            .filter(|&t| {
                let i = (o * window.strides[a] + t * window.dilations[a]) as isize
                    - window.pads[a] as isize;
                (0..len as isize).contains(&i)
            })
            .count()
    };
    let mut out = Vec::with_capacity(oh * ow);
    for oy in 0..oh {
        for ox in 0..ow {
            let count = if include_pad {
                kh * kw
            } else {
                inside(oy, 0, h, kh) * inside(ox, 1, w, kw)
            };
            out.push((1.0 / count as f64) as f32);
        }
    }
    out
}

/// cuDNN's heuristic ranking; the first algorithm that is usable in FMA math within the
/// workspace limit, else implicit GEMM, which handles nearly every configuration. Returns the
/// algorithm, its workspace and implicit GEMM's workspace (the fallback should the choice fail to
/// launch; 0 where implicit GEMM cannot take the configuration).
fn pick_algorithm(
    handle: &Handle,
    x: &TensorDesc,
    filter: &FilterDesc,
    conv: &ConvDesc,
    y: &TensorDesc,
) -> Result<(sys::cudnnConvolutionFwdAlgo_t, usize, usize)> {
    const N: usize = sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_COUNT as usize;
    let size = |algo| {
        // SAFETY: live handle and descriptors.
        unsafe {
            dnn::get_convolution_forward_workspace_size(handle.0, x.0, filter.0, conv.0, y.0, algo)
        }
    };
    let fallback = size(IMPLICIT_GEMM);
    // SAFETY: every field of the perf struct is an integer, a float or a C enum whose zero is a
    // valid value.
    let mut perf: [sys::cudnnConvolutionFwdAlgoPerf_t; N] = unsafe { std::mem::zeroed() };
    let mut count: c_int = 0;
    // SAFETY: live handle and descriptors; `perf` holds `N` entries, as requested.
    unsafe {
        dnn::get_convolution_forward_algorithm(
            handle.0,
            x.0,
            filter.0,
            conv.0,
            y.0,
            N as c_int,
            &mut count,
            perf.as_mut_ptr(),
        )
    }
    .map_err(dnn_err("convolution algorithm heuristics"))?;
    use sys::cudnnMathType_t::{CUDNN_TENSOR_OP_MATH, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION};
    for p in &perf[..(count.max(0) as usize).min(N)] {
        if p.status != sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS
            || matches!(
                p.mathType,
                CUDNN_TENSOR_OP_MATH | CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
            )
        {
            continue;
        }
        // The size for the descriptor's own (FMA) math, which is what runs.
        if let Ok(ws) = size(p.algo) {
            if ws <= WORKSPACE_LIMIT {
                return Ok((p.algo, ws, *fallback.as_ref().unwrap_or(&0)));
            }
        }
    }
    let ws = fallback.map_err(dnn_err(
        "no convolution algorithm fits (heuristics and implicit GEMM)",
    ))?;
    Ok((IMPLICIT_GEMM, ws, ws))
}

/// The scaling factors cuDNN reads through pointers (f32 for f32 tensors).
static ONE: ScalarF32 = ScalarF32(1.0);
static ZERO: ScalarF32 = ScalarF32(0.0);

struct ScalarF32(f32);
impl ScalarF32 {
    fn as_ptr(&self) -> *const c_void {
        &self.0 as *const f32 as *const c_void
    }
}

/// The address `offset` floats past device address `base`, as cuDNN takes it.
fn at(base: u64, offset: usize) -> *mut c_void {
    (base + 4 * offset as u64) as *mut c_void
}

/// A slice's device address. Event tracking is off for this context (see `init`), so the
/// returned guard records nothing and may drop at once.
fn addr<T>(s: &CudaSlice<T>, stream: &CudaStream) -> u64 {
    s.device_ptr(stream).0
}

/// # Safety
/// `x` and `y` hold the tensors `xd` and `yd` describe.
unsafe fn pool_forward(
    handle: &Handle,
    pd: &PoolDesc,
    xd: &TensorDesc,
    x: u64,
    yd: &TensorDesc,
    y: u64,
) -> std::result::Result<(), CudnnError> {
    dnn::pooling_forward(
        handle.0,
        pd.0,
        ONE.as_ptr(),
        xd.0,
        at(x, 0),
        ZERO.as_ptr(),
        yd.0,
        at(y, 0),
    )
}

/// Queues every step; returns which of the two buffers holds the output.
fn execute(
    handle: &Handle,
    stream: &CudaStream,
    relu: &ActDesc,
    layers: &[Layer],
    chain: &Chain,
    plan: &mut Plan,
) -> Result<usize> {
    let bufs = [addr(&plan.bufs[0], stream), addr(&plan.bufs[1], stream)];
    let padded = plan.padded.as_ref().map_or(0, |s| addr(s, stream));
    let tap_buf = plan.tap.as_ref().map_or(0, |s| addr(s, stream));
    let (ws, ws_len) = plan
        .workspace
        .as_ref()
        .map_or((std::ptr::null_mut(), 0), |s| {
            (at(addr(s, stream), 0), s.len())
        });
    let (one, zero) = (ONE.as_ptr(), ZERO.as_ptr());
    let mut cur = 0;
    for (i, (layer, step)) in layers.iter().zip(plan.steps.iter_mut()).enumerate() {
        let (x, y) = (bufs[cur], bufs[1 - cur]);
        let fail = |what: &'static str| {
            move |e: CudnnError| {
                Error::Cuda(format!(
                    "op {i} ({}): cuDNN {what}: {e}",
                    chain.ops[i].name()
                ))
            }
        };
        // SAFETY (whole match): the handle, descriptors and device buffers are alive for the
        // call, and the plan sized every buffer for the descriptors that address it: `bufs` for
        // every activation, `padded` for every `Pad::len`, `tap_buf` for every tap, the
        // workspace for every step's algorithm.
        unsafe {
            match (layer, step) {
                (
                    Layer::Conv {
                        filter,
                        conv,
                        weight,
                        bias,
                        ..
                    },
                    Step::Conv {
                        x: xd,
                        y: yd,
                        pad,
                        algo,
                        workspace,
                    },
                ) => {
                    let (src, src_desc) = match pad {
                        Some(p) => {
                            p.apply(handle, x, padded)?;
                            (padded, &p.padded)
                        }
                        None => (x, &*xd),
                    };
                    let w = addr(weight, stream);
                    let launch = |algo, ws_bytes| {
                        dnn::convolution_forward(
                            handle.0,
                            one,
                            src_desc.0,
                            at(src, 0),
                            filter.0,
                            at(w, 0),
                            conv.0,
                            algo,
                            if ws_bytes > 0 {
                                ws
                            } else {
                                std::ptr::null_mut()
                            },
                            ws_bytes,
                            zero,
                            yd.0,
                            at(y, 0),
                        )
                    };
                    if let Err(e) = launch(*algo, *workspace) {
                        // The heuristic's choice can still be refused for this configuration;
                        // implicit GEMM handles nearly every one (its workspace is in the plan).
                        if *algo == IMPLICIT_GEMM {
                            return Err(fail("convolution")(e));
                        }
                        launch(IMPLICIT_GEMM, ws_len).map_err(|e2| {
                            let first = format!("{:?} failed ({e})", *algo);
                            Error::Cuda(format!(
                                "op {i} (Conv): cuDNN convolution: {first}, implicit GEMM too: {e2}"
                            ))
                        })?;
                        *algo = IMPLICIT_GEMM;
                        *workspace = ws_len;
                    }
                    if let Some((bd, b)) = bias {
                        // C = 1·bias (broadcast over n, h, w) + 1·C.
                        sys::cudnnAddTensor(
                            handle.0,
                            one,
                            bd.0,
                            at(addr(b, stream), 0),
                            one,
                            yd.0,
                            at(y, 0),
                        )
                        .result()
                        .map_err(fail("bias add"))?;
                    }
                    cur = 1 - cur;
                }
                (Layer::Relu, Step::Same { x: d }) => {
                    dnn::activation_forward(
                        handle.0,
                        relu.0,
                        one,
                        d.0,
                        at(x, 0),
                        zero,
                        d.0,
                        at(y, 0),
                    )
                    .map_err(fail("ReLU"))?;
                    cur = 1 - cur;
                }
                (
                    Layer::BatchNorm {
                        param,
                        scale,
                        bias,
                        mean,
                        var,
                        epsilon,
                    },
                    Step::Same { x: d },
                ) => {
                    sys::cudnnBatchNormalizationForwardInference(
                        handle.0,
                        sys::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL,
                        one,
                        zero,
                        d.0,
                        at(x, 0),
                        d.0,
                        at(y, 0),
                        param.0,
                        at(addr(scale, stream), 0),
                        at(addr(bias, stream), 0),
                        at(addr(mean, stream), 0),
                        at(addr(var, stream), 0),
                        *epsilon,
                    )
                    .result()
                    .map_err(fail("batch normalisation"))?;
                    cur = 1 - cur;
                }
                (
                    Layer::Pool {
                        native: Some(pd), ..
                    },
                    Step::Pool {
                        x: xd,
                        y: yd,
                        own: None,
                    },
                ) => {
                    pool_forward(handle, pd, xd, x, yd, y).map_err(fail("pooling"))?;
                    cur = 1 - cur;
                }
                (
                    Layer::GlobalAveragePool,
                    Step::Pool {
                        x: xd,
                        y: yd,
                        own: Some(pd),
                    },
                ) => {
                    pool_forward(handle, pd, xd, x, yd, y).map_err(fail("global pooling"))?;
                    cur = 1 - cur;
                }
                (
                    Layer::Pool { native: None, .. },
                    Step::Taps {
                        pad,
                        y: yd,
                        tap,
                        offsets,
                        combine,
                        scale,
                    },
                ) => {
                    pad.apply(handle, x, padded)?;
                    for (t, &off) in offsets.iter().enumerate() {
                        // The first tap initialises the output; the others are gathered, then
                        // combined into it (A and C may be the same tensor in cudnnOpTensor).
                        let dst = if t == 0 { y } else { tap_buf };
                        sys::cudnnTransformTensor(
                            handle.0,
                            one,
                            tap.0,
                            at(padded, off),
                            zero,
                            yd.0,
                            at(dst, 0),
                        )
                        .result()
                        .map_err(fail("gather a window tap"))?;
                        if t > 0 {
                            sys::cudnnOpTensor(
                                handle.0,
                                combine.0,
                                one,
                                yd.0,
                                at(y, 0),
                                one,
                                yd.0,
                                at(tap_buf, 0),
                                zero,
                                yd.0,
                                at(y, 0),
                            )
                            .result()
                            .map_err(fail("combine window taps"))?;
                        }
                    }
                    if let Some((sd, s, mul)) = scale {
                        sys::cudnnOpTensor(
                            handle.0,
                            mul.0,
                            one,
                            yd.0,
                            at(y, 0),
                            one,
                            sd.0,
                            at(addr(s, stream), 0),
                            zero,
                            yd.0,
                            at(y, 0),
                        )
                        .result()
                        .map_err(fail("average the window"))?;
                    }
                    cur = 1 - cur;
                }
                (Layer::Flatten, Step::Flatten) => {}
                _ => {
                    return Err(Error::Cuda(format!(
                        "internal: op {i}'s plan does not match its layer"
                    )))
                }
            }
        }
    }
    Ok(cur)
}

impl Pad {
    fn new(n: usize, [c, h, w]: [usize; 3], pads: [usize; 4], fill: f32) -> Result<Self> {
        let (hp, wp) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
        Ok(Pad {
            x: TensorDesc::packed([n, c, h, w])?,
            padded: TensorDesc::packed([n, c, hp, wp])?,
            interior: TensorDesc::strided([n, c, h, w], [c * hp * wp, hp * wp, wp, 1])?,
            offset: pads[0] * wp + pads[1],
            fill,
            len: n * c * hp * wp,
            hp,
            wp,
        })
    }

    /// Fills the padded buffer at `dst` and copies the packed input `x` into its interior.
    ///
    /// # Safety
    /// `x` holds the input and `dst` at least `self.len` floats, both on the handle's device.
    unsafe fn apply(&self, handle: &Handle, x: u64, dst: u64) -> Result<()> {
        sys::cudnnSetTensor(
            handle.0,
            self.padded.0,
            at(dst, 0),
            &self.fill as *const f32 as *const c_void,
        )
        .result()
        .map_err(dnn_err("fill the padded input"))?;
        sys::cudnnTransformTensor(
            handle.0,
            ONE.as_ptr(),
            self.x.0,
            at(x, 0),
            ZERO.as_ptr(),
            self.interior.0,
            at(dst, self.offset),
        )
        .result()
        .map_err(dnn_err("copy into the padded input"))
    }
}

impl Layer {
    fn new(op: &Op, stream: &Arc<CudaStream>) -> Result<Self> {
        let upload = |v: &[f32]| {
            stream
                .clone_htod(v)
                .map_err(drv_err("uploading backbone weights"))
        };
        Ok(match op {
            Op::Conv {
                weight,
                weight_shape,
                bias,
                window,
                group,
            } => {
                let filter = FilterDesc(
                    dnn::create_filter_descriptor().map_err(dnn_err("filter descriptor"))?,
                );
                // SAFETY: `filter.0` was just created.
                unsafe {
                    dnn::set_filter4d_descriptor(
                        filter.0,
                        F32,
                        sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                        ints(*weight_shape)?,
                    )
                }
                .map_err(|e| {
                    Error::Cuda(format!("cuDNN filter descriptor {weight_shape:?}: {e}"))
                })?;
                let p = window.pads;
                let symmetric = p[0] == p[2] && p[1] == p[3];
                let conv_pads = if symmetric { [p[0], p[1]] } else { [0, 0] };
                let conv = ConvDesc(
                    dnn::create_convolution_descriptor()
                        .map_err(dnn_err("convolution descriptor"))?,
                );
                let [ph, pw] = ints(conv_pads)?;
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
                unsafe { dnn::set_convolution_group_count(conv.0, int(*group)?) }
                    .map_err(dnn_err("convolution group count"))?;
                // Without this, Ampere and later GPUs may run f32 convolutions in TF32.
                // SAFETY: as above.
                unsafe {
                    dnn::set_convolution_math_type(conv.0, sys::cudnnMathType_t::CUDNN_FMA_MATH)
                }
                .map_err(dnn_err("convolution math type"))?;
                let bias = bias
                    .as_ref()
                    .map(|b| -> Result<_> {
                        Ok((TensorDesc::packed([1, b.len(), 1, 1])?, upload(b)?))
                    })
                    .transpose()?;
                Layer::Conv {
                    filter,
                    conv,
                    weight: upload(weight)?,
                    bias,
                    explicit_pads: (!symmetric).then_some(p),
                }
            }
            Op::Relu => Layer::Relu,
            Op::MaxPool { window } | Op::AveragePool { window, .. } => {
                let (max, count_include_pad) = match op {
                    Op::AveragePool {
                        count_include_pad, ..
                    } => (false, *count_include_pad),
                    _ => (true, false),
                };
                let p = window.pads;
                let native_ok = p[0] == p[2]
                    && p[1] == p[3]
                    && p[0] < window.kernel[0]
                    && p[1] < window.kernel[1]
                    && window.dilations == [1, 1];
                let mode = match (max, count_include_pad) {
                    (true, _) => sys::cudnnPoolingMode_t::CUDNN_POOLING_MAX,
                    (false, true) => {
                        sys::cudnnPoolingMode_t::CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                    }
                    (false, false) => {
                        sys::cudnnPoolingMode_t::CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING
                    }
                };
                let native = native_ok
                    .then(|| PoolDesc::new(mode, window.kernel, [p[0], p[1]], window.strides))
                    .transpose()?;
                Layer::Pool {
                    window: window.clone(),
                    max,
                    count_include_pad,
                    native,
                }
            }
            Op::GlobalAveragePool => Layer::GlobalAveragePool,
            Op::BatchNorm {
                scale,
                bias,
                mean,
                var,
                epsilon,
            } => {
                let eps = *epsilon as f64;
                let used = eps.max(BN_MIN_EPSILON);
                // var + eps == var' + used, so the normalisation is unchanged.
                let var: Vec<f32> = var
                    .iter()
                    .map(|&v| (v as f64 + eps - used) as f32)
                    .collect();
                Layer::BatchNorm {
                    param: TensorDesc::packed([1, scale.len(), 1, 1])?,
                    scale: upload(scale)?,
                    bias: upload(bias)?,
                    mean: upload(mean)?,
                    var: upload(&var)?,
                    epsilon: used,
                }
            }
            Op::Flatten => Layer::Flatten,
        })
    }
}
