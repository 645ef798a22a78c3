//! Host-side dictionary rows in the precision they are stored in (METHOD.md §3 Choice: f32, bf16 or f16;
//! every sum accumulates in f32 or wider).

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

/// The storage type of dictionary rows (`dict.precision`, `--dict-precision`; written as `f32`,
/// `bf16` or `f16`). Only storage: every op widens the values and accumulates in f32 or wider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE single precision, 4 bytes (the default; exact).
    #[default]
    F32,
    /// bfloat16, 2 bytes: f32's exponent range, 8 significant bits.
    Bf16,
    /// IEEE half precision, 2 bytes: 11 significant bits, largest finite value 65 504.
    F16,
}

impl Precision {
    /// Bytes per stored element.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 | Precision::F16 => 2,
        }
    }
    /// The lower-case name used in configurations, on the command line and in the dictionary
    /// file's `precision` metadata.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// Row-major matrix of dictionary rows held on the host in their storage precision; the row width
/// is kept alongside (it is not stored here). What [`Device::upload_dict`](super::Device::upload_dict)
/// takes and what the CPU backend computes from directly.
#[derive(Clone, Debug, PartialEq)]
pub enum HostRows {
    /// Rows stored as f32.
    F32(Vec<f32>),
    /// Rows stored as bfloat16.
    Bf16(Vec<bf16>),
    /// Rows stored as IEEE half precision.
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
    /// The storage precision (the variant).
    pub fn precision(&self) -> Precision {
        match self {
            HostRows::F32(_) => Precision::F32,
            HostRows::Bf16(_) => Precision::Bf16,
            HostRows::F16(_) => Precision::F16,
        }
    }
    /// Number of stored elements, `rows · cols` (not the row count).
    pub fn len(&self) -> usize {
        match self {
            HostRows::F32(v) => v.len(),
            HostRows::Bf16(v) => v.len(),
            HostRows::F16(v) => v.len(),
        }
    }
    /// Whether no element is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i` (flat row-major index), widened to f32 (exactly). Panics when `i ≥ len()`.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            HostRows::F32(v) => v[i],
            HostRows::Bf16(v) => v[i].to_f32(),
            HostRows::F16(v) => v[i].to_f32(),
        }
    }
    /// Every element widened to f32, in order.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
    /// The raw bytes in native byte order, for safetensors (which wants little-endian, the order
    /// of x86-64 and AArch64): [`Precision::bytes`] per element.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HostRows::F32(v) => bytemuck::cast_slice(v),
            HostRows::Bf16(v) => bytemuck::cast_slice(v),
            HostRows::F16(v) => bytemuck::cast_slice(v),
        }
    }
}
