//! Finding the CUDA libraries before cudarc calls into them, shared by the CUDA backend and the
//! cuDNN backbone.
//!
//! cudarc loads each library on first use and resolves each function on its first call, panicking
//! when the library or a symbol is missing. Here each library is opened by the same candidate names
//! in the same order cudarc uses (so the file found is the file cudarc will use), every symbol the
//! crate needs is looked up, and anything missing becomes one [`Error::Cuda`] naming the library
//! file and the symbols. Everything that then calls cudarc runs under [`guarded`], so a panic left
//! inside it is an error too, never an abort of the caller.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The driver API functions the backend (directly or through cudarc's safe layer) calls.
pub const CUDA_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetAttribute",
    "cuDeviceGetName",
    "cuDeviceTotalMem_v2",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxSetCurrent",
    "cuCtxGetCurrent",
    "cuCtxSynchronize",
    "cuStreamCreate",
    "cuStreamDestroy_v2",
    "cuStreamSynchronize",
    "cuStreamBeginCapture_v2",
    "cuStreamEndCapture",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuLaunchKernel",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemcpyDtoDAsync_v2",
    "cuMemsetD8Async",
    "cuMemGetInfo_v2",
    "cuGraphInstantiateWithFlags",
    "cuGraphLaunch",
    "cuGraphUpload",
    "cuGraphDestroy",
    "cuGraphExecDestroy",
    "cuGetErrorName",
    "cuGetErrorString",
];

/// NVRTC: compiling to PTX and to cubin, and the version queries.
pub const NVRTC_SYMBOLS: &[&str] = &[
    "nvrtcVersion",
    "nvrtcGetNumSupportedArchs",
    "nvrtcGetSupportedArchs",
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetPTXSize",
    "nvrtcGetPTX",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
    "nvrtcDestroyProgram",
];

/// cuBLAS: the handle, its stream, SGEMM and the version query.
pub const CUBLAS_SYMBOLS: &[&str] = &[
    "cublasCreate_v2",
    "cublasDestroy_v2",
    "cublasSetStream_v2",
    "cublasSgemm_v2",
    "cublasGetProperty",
];

/// A library that loaded with every symbol asked for.
#[derive(Clone, Debug)]
pub struct Found {
    /// The candidate name that loaded, e.g. `libcuda.so.1`.
    pub name: String,
    /// The file the process mapped for it (from `/proc/self/maps`), when it can be told.
    pub path: Option<PathBuf>,
}

impl Found {
    /// The mapped file, else the name that loaded.
    pub fn describe(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => self.name.clone(),
        }
    }
}

/// The Linux file names cudarc tries for `lib`, in its order (its Windows-style names left out).
pub fn candidates(lib: &str) -> Vec<String> {
    let mut names: Vec<String> = cudarc::get_lib_name_candidates(lib)
        .into_iter()
        .filter(|n| n.starts_with(&format!("lib{lib}.so")))
        .collect();
    names.dedup();
    names
}

/// Libraries opened by a probe stay open for the life of the process, as cudarc's own handles do:
/// closing one could unload a file cudarc already resolved functions from.
static KEPT: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());

/// Opens the first of `names` that loads and checks it exports every one of `symbols`.
/// `what` names the library in messages ("the CUDA driver (libcuda)"), `hint` says what to do.
pub fn probe_names(names: &[String], what: &str, hint: &str, symbols: &[&str]) -> Result<Found> {
    guarded(what, || {
        let mut errors = Vec::new();
        for name in names {
            // SAFETY: loading runs the library's initialisers; these are the CUDA libraries the
            // user's environment provides, which cudarc would load the same way.
            let lib = match unsafe { libloading::Library::new(name) } {
                Ok(lib) => lib,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let missing: Vec<&str> = symbols
                .iter()
                .copied()
                // SAFETY: looking a symbol up calls nothing; the type is never used to call it.
                .filter(|s| unsafe { lib.get::<unsafe extern "C" fn()>(s.as_bytes()) }.is_err())
                .collect();
            let found = Found {
                name: name.clone(),
                path: mapped_path(name),
            };
            if !missing.is_empty() {
                return Err(Error::Cuda(format!(
                    "{what} at {} lacks {} of the functions this program calls: {}; {hint}",
                    found.describe(),
                    missing.len(),
                    missing.join(", ")
                )));
            }
            KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(lib);
            return Ok(found);
        }
        let why = errors
            .iter()
            .find(|e| !e.contains("No such file"))
            .map(|e| format!(" (one failed with: {e})"))
            .unwrap_or_default();
        Err(Error::Cuda(format!(
            "{what} not found: none of {} loads{why}; {hint}",
            names.join(", ")
        )))
    })
}

/// [`probe_names`] over cudarc's candidate names for `lib` (`"cuda"`, `"nvrtc"`, ...).
pub fn probe(lib: &str, what: &str, hint: &str, symbols: &[&str]) -> Result<Found> {
    probe_names(&candidates(lib), what, hint, symbols)
}

/// The CUDA driver, with every function the backend calls.
pub fn driver() -> Result<Found> {
    probe(
        "cuda",
        "the CUDA driver library (libcuda)",
        "is an NVIDIA driver installed and its library directory on LD_LIBRARY_PATH?",
        CUDA_SYMBOLS,
    )
}

/// NVRTC, with every function the kernel compiler calls.
pub fn nvrtc() -> Result<Found> {
    probe(
        "nvrtc",
        "NVRTC (libnvrtc)",
        "put the directory of libnvrtc.so (e.g. the pip wheel nvidia-cuda-nvrtc) on LD_LIBRARY_PATH",
        NVRTC_SYMBOLS,
    )
}

/// cuBLAS, with every function the matrix products call.
pub fn cublas() -> Result<Found> {
    probe(
        "cublas",
        "cuBLAS (libcublas)",
        "put the directory of libcublas.so (CUDA toolkit or the pip wheel nvidia-cublas) on \
         LD_LIBRARY_PATH",
        CUBLAS_SYMBOLS,
    )
}

/// cuDNN, with every function the GPU backbone calls.
#[cfg(feature = "cudnn")]
pub fn cudnn() -> Result<Found> {
    probe(
        "cudnn",
        "cuDNN (libcudnn)",
        "install cuDNN 9 (e.g. the pip wheel nvidia-cudnn-cu13) and put its lib/ directory on \
         LD_LIBRARY_PATH",
        crate::internal::backbone::cudnn::CUDNN_SYMBOLS,
    )
}

/// Runs `f`, turning a panic inside it (cudarc's, on a library or symbol it could not load) into
/// an [`Error::Cuda`] that says what was being done.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(Error::Cuda(format!(
            "{what}: {}",
            panic_message(p.as_ref())
        )))
    })
}

/// The text of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The file this process mapped for a library loaded as `name` (e.g. `libcuda.so.1` →
/// `/usr/lib/x86_64-linux-gnu/libcuda.so.580.95.05`), from `/proc/self/maps`.
pub fn mapped_path(name: &str) -> Option<PathBuf> {
    let stem = name.split(".so").next()?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            let file = p.rsplit('/').next().unwrap_or(p);
            file.strip_prefix(stem)
                .is_some_and(|rest| rest.starts_with(".so"))
        })
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_named_with_its_candidates() {
        let names = vec![
            "libconvexgan_absent.so".to_string(),
            "libconvexgan_absent.so.1".to_string(),
        ];
        let e = probe_names(&names, "the test library", "install it", &["f"]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("the test library not found")
                && msg.contains("libconvexgan_absent.so.1")
                && msg.contains("install it"),
            "{msg}"
        );
    }

    #[test]
    fn missing_symbols_are_listed_and_present_ones_are_not() {
        // libm is on every Linux machine: it has `cos`, not the driver's `cuInit`.
        let names = vec!["libm.so.6".to_string()];
        let e = probe_names(
            &names,
            "libm",
            "use a real driver",
            &["cos", "cuInit", "cuLaunchKernel"],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("lacks 2 of the functions"), "{msg}");
        assert!(msg.contains("cuInit, cuLaunchKernel"), "{msg}");
        assert!(!msg.contains("cos,"), "{msg}");
        // The message names the file actually mapped, not just the name asked for.
        assert!(msg.contains('/'), "{msg}");
        let ok = probe_names(&names, "libm", "", &["cos", "sin"]).unwrap();
        assert!(ok.describe().contains("libm"), "{ok:?}");
    }

    #[test]
    fn a_panic_inside_guarded_is_an_error() {
        let r: Result<()> = guarded("opening the test device", || panic!("Missing symbol cuFoo"));
        let msg = r.unwrap_err().to_string();
        assert!(
            msg.contains("opening the test device") && msg.contains("Missing symbol cuFoo"),
            "{msg}"
        );
    }
}
