//! The per-op state that does not depend on the input shape, built once when the chain is
//! created: the weights uploaded to the device and the descriptors of the op itself.

use cudarc::cudnn::sys;
use cudarc::driver::CudaSlice;

use super::super::graph::{Op, Window};
use super::alloc_err;
use super::descriptors::{ConvDesc, FilterDesc, PoolDesc, TensorDesc};
use crate::backend::cuda::CudaBackend;
use crate::error::Result;

/// cuDNN 7 rejected batch-norm epsilons below 1e-5 (`CUDNN_BN_MIN_EPSILON`); later versions
/// allow 0. Smaller epsilons are moved into the variance so either accepts the call.
const BN_MIN_EPSILON: f64 = 1e-5;

pub(super) enum Layer {
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

impl Layer {
    /// The layer of `op`, its weights uploaded on `be`'s stream.
    pub(super) fn new(op: &Op, be: &CudaBackend) -> Result<Self> {
        let upload = |v: &[f32]| {
            be.stream()
                .clone_htod(v)
                .map_err(alloc_err(be, 4 * v.len(), "uploading the weights"))
        };
        Ok(match op {
            Op::Conv {
                weight,
                weight_shape,
                bias,
                window,
                group,
            } => {
                let filter = FilterDesc::new(*weight_shape)?;
                let p = window.pads;
                let symmetric = p[0] == p[2] && p[1] == p[3];
                let conv_pads = if symmetric { [p[0], p[1]] } else { [0, 0] };
                let conv = ConvDesc::new(window, conv_pads, *group)?;
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
