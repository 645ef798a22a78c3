//! Running a planned chain: every step queued on the handle's stream in order, the activations
//! ping-ponging between the plan's two buffers.

use std::ffi::c_void;

use cudarc::cudnn::result::{self as dnn, CudnnError};
use cudarc::cudnn::sys;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};

use super::super::graph::Chain;
use super::descriptors::{at, dnn_err, ActDesc, Handle, PoolDesc, TensorDesc, ONE, ZERO};
use super::layers::Layer;
use super::plan::{Pad, Plan, Step, IMPLICIT_GEMM};
use crate::error::{Error, Result};

/// A slice's device address. Event tracking is off for the backend's context (checked in
/// [`CudnnChain::on_backend`](super::CudnnChain::on_backend)), so the returned guard records
/// nothing and may drop at once.
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
pub(super) fn execute(
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
