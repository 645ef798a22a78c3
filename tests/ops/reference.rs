//! The f64 CPU reference the `grad` sections check, with the few conveniences they share.

use convexgan::backend::cpu::CpuF64;
use convexgan::backend::prelude::*;
use convexgan::backend::Tensor;
use convexgan::Error;

/// A tensor of the reference.
pub type T = Tensor<CpuF64>;

pub fn be() -> CpuF64 {
    CpuF64::new()
}

/// `v` as a `r × c` reference tensor.
pub fn up(v: &[f64], r: usize, c: usize) -> T {
    be().upload(v, r, c).unwrap()
}

pub fn down(t: &T) -> Vec<f64> {
    be().download(t).unwrap()
}

/// Whether an op refused its operands with a shape error.
pub fn is_shape_err<X>(r: convexgan::Result<X>) -> bool {
    matches!(r, Err(Error::Shape { .. }))
}
