//! The element types a backend computes in. The CPU reference is generic over f32 and f64 so that the
//! finite-difference checks run in f64 on the very code the trainer runs in f32.

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point compute type of a backend ([`Device::Elem`](super::Device::Elem)):
/// implemented for `f32` and `f64` only. The bounds are what the CPU reference needs from
/// `ndarray` and `bytemuck`; the conversions let generic code pass f64 hyper-parameters and read
/// results back whatever the type.
pub trait Scalar:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + bytemuck::Pod
    + Default
    + Debug
    + Send
    + Sync
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + std::fmt::Display
    + 'static
{
    /// The type's name, `"f32"` or `"f64"` (used in [`Device::name`](super::Device::name)).
    const NAME: &'static str;
    /// `x` converted to this type (rounded to nearest for f32).
    fn of(x: f64) -> Self;
    /// The value as f64 (exact).
    fn as_f64(self) -> f64;
    /// `x` converted to this type (exact).
    fn of_f32(x: f32) -> Self;
    /// The value as f32 (rounded to nearest for f64).
    fn as_f32(self) -> f32;
}

impl Scalar for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn of_f32(x: f32) -> Self {
        x
    }
    fn as_f32(self) -> f32 {
        self
    }
}

impl Scalar for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
    fn of_f32(x: f32) -> Self {
        x as f64
    }
    fn as_f32(self) -> f32 {
        self as f32
    }
}
