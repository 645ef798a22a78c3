//! Host-side dictionary rows in the precision they are stored in (METHOD.md §3 Choice: f32, bf16 or f16;
//! every sum accumulates in f32 or wider).

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 | Precision::F16 => 2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// Row-major matrix of dictionary rows held in their storage precision.
#[derive(Clone, Debug, PartialEq)]
pub enum HostRows {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

impl HostRows {
    /// Round `values` to `precision` (round-to-nearest-even, as `half` does).
    pub fn from_f32(values: &[f32], precision: Precision) -> Self {
        match precision {
            Precision::F32 => HostRows::F32(values.to_vec()),
            Precision::Bf16 => HostRows::Bf16(values.iter().map(|&x| bf16::from_f32(x)).collect()),
            Precision::F16 => HostRows::F16(values.iter().map(|&x| f16::from_f32(x)).collect()),
        }
    }
    pub fn precision(&self) -> Precision {
        match self {
            HostRows::F32(_) => Precision::F32,
            HostRows::Bf16(_) => Precision::Bf16,
            HostRows::F16(_) => Precision::F16,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            HostRows::F32(v) => v.len(),
            HostRows::Bf16(v) => v.len(),
            HostRows::F16(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i`, widened to f32.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            HostRows::F32(v) => v[i],
            HostRows::Bf16(v) => v[i].to_f32(),
            HostRows::F16(v) => v[i].to_f32(),
        }
    }
    pub fn to_f32_vec(&self) -> Vec<f32> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
    /// The raw little-endian bytes, for safetensors.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HostRows::F32(v) => bytemuck::cast_slice(v),
            HostRows::Bf16(v) => bytemuck::cast_slice(v),
            HostRows::F16(v) => bytemuck::cast_slice(v),
        }
    }
}
