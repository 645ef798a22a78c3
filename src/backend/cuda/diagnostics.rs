//! What `convexgan gpu-info` prints: the CUDA libraries this process actually loaded (file and
//! version), the device, whether it supports stream-ordered allocation (every op output comes from
//! it), how each kernel family was loaded (cubin or JIT-compiled PTX), and one kernel and one
//! cuBLAS product run and checked. On a GPU machine that has never run this crate, this is the
//! first thing to read.

use cudarc::driver::sys::CUdevice_attribute;

use super::{nvrtc, probe, CudaBackend};
use crate::backend::prelude::*;
use crate::error::{Error, Result};

/// The outcome of [`gpu_info`]: `key: value` lines, and whether a device was there to use.
pub struct GpuInfo {
    pub lines: Vec<(String, String)>,
    pub status: Status,
}

/// Whether the device opened and ran the checks.
pub enum Status {
    /// Opened, and the kernel and cuBLAS checks gave the right numbers.
    Ok,
    /// No driver library or no device: nothing to check on this machine.
    NoDevice(String),
    /// A driver is there but something failed: a library lacks functions, the device did not
    /// open, a kernel did not load or gave a wrong result.
    Failed(Error),
}

/// Looks at the libraries and device `ordinal`, and runs the smoke checks.
pub fn gpu_info(ordinal: usize) -> GpuInfo {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| lines.push((k.to_string(), v));

    if !probe::candidates("cuda").iter().any(|n| {
        // SAFETY: only loads the library (its initialisers run); nothing in it is called.
        unsafe { libloading::Library::new(n) }.is_ok()
    }) {
        let why = format!(
            "no CUDA driver library (libcuda): none of {} loads",
            probe::candidates("cuda").join(", ")
        );
        add("libcuda", "not found".into());
        return GpuInfo {
            lines,
            status: Status::NoDevice(why),
        };
    }
    let driver = match probe::driver() {
        Ok(f) => f,
        Err(e) => {
            add("libcuda", e.to_string());
            return GpuInfo {
                lines,
                status: Status::Failed(e),
            };
        }
    };
    let version = probe::guarded("cuDriverGetVersion", || {
        let mut v = 0;
        // SAFETY: one valid out-pointer; the symbol was probed.
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
            .result()
            .map_err(super::cuda_err)?;
        Ok(v)
    });
    add(
        "libcuda",
        match version {
            Ok(v) => format!(
                "{} (driver API {}.{})",
                driver.describe(),
                v / 1000,
                (v % 1000) / 10
            ),
            Err(e) => format!("{} (version unknown: {e})", driver.describe()),
        },
    );
    add(
        "libnvrtc",
        match probe::nvrtc().and_then(|f| Ok((f, nvrtc::version()?))) {
            Ok((f, (major, minor))) => format!("{} ({major}.{minor})", f.describe()),
            Err(e) => format!("not usable ({e}); kernels must come from the cache"),
        },
    );
    let cublas = probe::cublas();
    add(
        "libcublas",
        match &cublas {
            Ok(f) => format!("{} ({})", f.describe(), cublas_version()),
            Err(e) => e.to_string(),
        },
    );
    #[cfg(feature = "cudnn")]
    add(
        "libcudnn",
        match probe::cudnn() {
            // SAFETY: a plain version query; the symbol was probed.
            Ok(f) => format!("{} ({})", f.describe(), unsafe {
                cudarc::cudnn::sys::cudnnGetVersion()
            }),
            Err(e) => format!("not usable ({e})"),
        },
    );
    if let Err(e) = cublas {
        return GpuInfo {
            lines,
            status: Status::Failed(e),
        };
    }

    let be = match CudaBackend::new(ordinal) {
        Ok(be) => be,
        Err(e) => {
            let msg = e.to_string();
            add("device", msg.clone());
            let status = if msg.contains("CUDA_ERROR_NO_DEVICE") {
                Status::NoDevice(msg)
            } else {
                Status::Failed(e)
            };
            return GpuInfo { lines, status };
        }
    };
    let ctx = be.context();
    let attr = |a: CUdevice_attribute| ctx.attribute(a).ok();
    let cc = ctx
        .compute_capability()
        .map(|(a, b)| format!("sm_{a}{b}"))
        .unwrap_or_else(|_| "?".into());
    let sms = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map(|n| format!(", {n} SMs"))
        .unwrap_or_default();
    let mem = be
        .device_memory()
        .map(|(free, total)| {
            format!(
                ", {:.1} GiB ({:.1} GiB free)",
                total as f64 / (1u64 << 30) as f64,
                free as f64 / (1u64 << 30) as f64
            )
        })
        .unwrap_or_default();
    add(
        &format!("device {ordinal}"),
        format!("{} ({cc}{sms}{mem})", be.device_name()),
    );
    add(
        "stream-ordered allocation",
        match attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED) {
            Some(1) => "supported (memory pools)".into(),
            Some(_) => "NOT supported: op outputs use cuMemAllocAsync, which needs it".into(),
            None => "unknown".into(),
        },
    );
    for (family, image) in be.module_images() {
        add(&format!("kernels/{family}.cu"), image.to_string());
    }
    let checks = smoke(&be);
    add(
        "smoke",
        match &checks {
            Ok(()) => "scale_f32 and a cuBLAS SGEMM gave the exact results".into(),
            Err(e) => format!("FAILED: {e}"),
        },
    );
    let status = match checks {
        Ok(()) => Status::Ok,
        Err(e) => Status::Failed(e),
    };
    GpuInfo { lines, status }
}

/// cuBLAS's version from `cublasGetProperty` (no handle needed).
fn cublas_version() -> String {
    use cudarc::cublas::sys::{cublasGetProperty, libraryPropertyType_t as P};
    let get = |p: P| {
        let mut v = 0;
        // SAFETY: one valid out-pointer.
        let ok = unsafe { cublasGetProperty(p, &mut v) }.result().is_ok();
        ok.then_some(v)
    };
    let parts = probe::guarded("cublasGetProperty", || {
        Ok([P::MAJOR_VERSION, P::MINOR_VERSION, P::PATCH_LEVEL].map(get))
    });
    match parts {
        Ok([Some(a), Some(b), Some(c)]) => format!("{a}.{b}.{c}"),
        _ => "version unknown".into(),
    }
}

/// One hand-written kernel and one cuBLAS product on values whose results are exact in f32.
fn smoke(be: &CudaBackend) -> Result<()> {
    let x = be.upload(&[1.0, -2.0, 3.5, 0.25], 2, 2)?;
    let y = be.download(&be.scale(&x, 2.0)?)?;
    if y != [2.0, -4.0, 7.0, 0.5] {
        return Err(Error::Cuda(format!(
            "scale_f32 of [1, -2, 3.5, 0.25] by 2 gave {y:?}"
        )));
    }
    let p = be.download(&be.matmul(&x, false, &x, false)?)?;
    // [[1, -2], [3.5, 0.25]]² = [[1 - 7, -2 - 0.5], [3.5 + 0.875, -7 + 0.0625]]
    let want = [-6.0, -2.5, 4.375, -6.9375];
    if p != want {
        return Err(Error::Cuda(format!(
            "cuBLAS SGEMM of a 2 × 2 matrix by itself gave {p:?}, not {want:?}"
        )));
    }
    be.synchronize()
}
