//! Planning the chain for one input shape `n × c × h × w`: the tensor descriptors of every step,
//! the convolution algorithms and their workspace, the explicit padding of windows cuDNN cannot
//! take, and the device buffers, all sized once and kept until the shape changes.

use std::ffi::c_int;

use cudarc::cudnn::result as dnn;
use cudarc::cudnn::sys;
use cudarc::driver::CudaSlice;

use super::super::graph::Window;
use super::descriptors::{
    dnn_err, ConvDesc, FilterDesc, Handle, OpTensorDesc, PoolDesc, TensorDesc,
};
use super::layers::Layer;
use super::{alloc_err, in_op, CudnnChain};
use crate::error::Result;

/// The largest convolution workspace the algorithm choice may ask for.
pub const WORKSPACE_LIMIT: usize = 1 << 30;

pub(super) const IMPLICIT_GEMM: sys::cudnnConvolutionFwdAlgo_t =
    sys::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;

/// Copying an activation into a larger buffer filled with `fill`, at `offset` elements
/// ([`apply`](Pad::apply) does it).
pub(super) struct Pad {
    /// The packed input.
    pub(super) x: TensorDesc,
    /// The packed padded buffer `[n, c, hp, wp]`, `hp = h + top + bottom`, `wp = w + left +
    /// right`.
    pub(super) padded: TensorDesc,
    /// The input's place inside it: input dims, padded strides.
    pub(super) interior: TensorDesc,
    pub(super) offset: usize,
    pub(super) fill: f32,
    /// Elements of the padded buffer.
    pub(super) len: usize,
    hp: usize,
    wp: usize,
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
}

/// One op's shape-dependent part, matched against its [`Layer`] when the chain runs.
pub(super) enum Step {
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

/// Everything one input shape needs, kept between runs of that shape.
pub(super) struct Plan {
    pub(super) n: usize,
    pub(super) chw: [usize; 3],
    pub(super) steps: Vec<Step>,
    /// Ping-pong activations, each large enough for the largest activation.
    pub(super) bufs: [CudaSlice<f32>; 2],
    /// The explicitly padded input, when some step pads.
    pub(super) padded: Option<CudaSlice<f32>>,
    /// One gathered window tap, when some pooling goes tap by tap.
    pub(super) tap: Option<CudaSlice<f32>>,
    pub(super) workspace: Option<CudaSlice<u8>>,
}

impl CudnnChain {
    /// Plans `n` images of shape `chw`, whose activations after each op are `shapes`.
    pub(super) fn plan(&self, n: usize, chw: [usize; 3], shapes: &[[usize; 3]]) -> Result<Plan> {
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
        let what = "the activations";
        let alloc = |len: usize| -> Result<CudaSlice<f32>> {
            self.be
                .stream()
                .alloc_zeros::<f32>(len.max(1))
                .map_err(alloc_err(&self.be, 4 * len, what))
        };
        let bufs = [alloc(largest)?, alloc(largest)?];
        let padded = (padded_len > 0).then(|| alloc(padded_len)).transpose()?;
        let tap = (tap_len > 0).then(|| alloc(tap_len)).transpose()?;
        let workspace = (workspace > 0)
            .then(|| {
                self.be
                    .stream()
                    .alloc_zeros::<u8>(workspace)
                    .map_err(alloc_err(&self.be, workspace, "the convolution workspace"))
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
                    let vals = self.be.stream().clone_htod(&inv).map_err(alloc_err(
                        &self.be,
                        4 * inv.len(),
                        "the window counts",
                    ))?;
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
