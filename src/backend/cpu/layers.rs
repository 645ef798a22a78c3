//! Reference for the layers family: bias + activation, column sums, BatchNorm1d.

use super::Cpu;
use crate::backend::{Activation, BnCache, Scalar, Tensor};
use crate::error::Result;

pub fn bias_act_fwd<T: Scalar>(
    x: &Tensor<Cpu<T>>,
    bias: Option<&Tensor<Cpu<T>>>,
    act: Activation,
) -> Result<Tensor<Cpu<T>>> {
    todo!("{:?}{:?}{:?}", x, bias, act)
}

pub fn act_bwd<T: Scalar>(
    y: &Tensor<Cpu<T>>,
    dy: &Tensor<Cpu<T>>,
    act: Activation,
) -> Result<Tensor<Cpu<T>>> {
    todo!("{:?}{:?}{:?}", y, dy, act)
}

pub fn col_sum<T: Scalar>(x: &Tensor<Cpu<T>>) -> Result<Tensor<Cpu<T>>> {
    todo!("{:?}", x)
}

pub fn batchnorm_fwd_train<T: Scalar>(
    x: &Tensor<Cpu<T>>,
    gamma: &Tensor<Cpu<T>>,
    beta: &Tensor<Cpu<T>>,
    running_mean: &mut Tensor<Cpu<T>>,
    running_var: &mut Tensor<Cpu<T>>,
    momentum: f64,
    eps: f64,
) -> Result<(Tensor<Cpu<T>>, BnCache<Cpu<T>>)> {
    todo!(
        "{:?}{:?}{:?}{:?}{:?}{momentum}{eps}",
        x,
        gamma,
        beta,
        running_mean,
        running_var
    )
}

pub fn batchnorm_fwd_infer<T: Scalar>(
    x: &Tensor<Cpu<T>>,
    gamma: &Tensor<Cpu<T>>,
    beta: &Tensor<Cpu<T>>,
    running_mean: &Tensor<Cpu<T>>,
    running_var: &Tensor<Cpu<T>>,
    eps: f64,
) -> Result<Tensor<Cpu<T>>> {
    todo!(
        "{:?}{:?}{:?}{:?}{:?}{eps}",
        x,
        gamma,
        beta,
        running_mean,
        running_var
    )
}

pub fn batchnorm_bwd<T: Scalar>(
    dy: &Tensor<Cpu<T>>,
    cache: &BnCache<Cpu<T>>,
    gamma: &Tensor<Cpu<T>>,
) -> Result<(Tensor<Cpu<T>>, Tensor<Cpu<T>>, Tensor<Cpu<T>>)> {
    todo!("{:?}{:?}{:?}", dy, cache.xhat, gamma)
}
