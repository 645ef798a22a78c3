//! Run-time compilation of the kernel families with NVRTC, and the on-disk cache of what it makes.
//!
//! Each `kernels/<family>.cu` is compiled on its own, with every `kernels/*.cuh` handed to NVRTC as
//! an in-memory header (so `#include "common.cuh"` needs no file system). For a device of compute
//! capability X.Y the backend asks for machine code first (`sm_XY`, a cubin: no JIT by the
//! driver, so a driver whose PTX JIT is older than this NVRTC still loads it) and keeps PTX for
//! `compute_XY` as the fallback. Both are cached under `$CONVEXGAN_PTX_CACHE`, else
//! `$XDG_CACHE_HOME/convexgan/ptx`, else `$HOME/.cache/convexgan/ptx`, named by the SHA-256 of the
//! source, the headers and the options (`.cubin` or `.ptx`). A cached image lets a machine without
//! libnvrtc run the backend; `CONVEXGAN_PTX_CACHE=off` disables the cache.

use std::ffi::{c_char, CString};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use cudarc::nvrtc::{result, sys};
use sha2::{Digest, Sha256};

use super::cuda_err;
use crate::backend::kernel_src;
use crate::error::{Error, Result};
// Cache files are written atomically: a concurrent reader sees either no file or all of it.
use crate::internal::io::atomic::write as write_atomic;

/// The NVRTC options every family is compiled with, for a virtual architecture like `compute_90`
/// (PTX) or a real one like `sm_90` (cubin).
/// Precise division and square root stay on (NVRTC's defaults, spelled out so the cache key and the
/// compile test see them): the tolerances of METHOD.md §7 leave no room for fast math.
pub fn compile_options(arch: &str) -> Vec<String> {
    vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".into(),
        "--prec-div=true".into(),
        "--prec-sqrt=true".into(),
        "--fmad=true".into(),
    ]
}

/// Whether libnvrtc loads with every function this module calls; the error names the file and
/// the missing functions, or where it was looked for.
pub fn available() -> Result<()> {
    static PROBED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    PROBED
        .get_or_init(|| super::probe::nvrtc().map(|_| ()).map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Cuda)
}

/// NVRTC's `(major, minor)` version. Needs [`available`].
pub fn version() -> Result<(i32, i32)> {
    available()?;
    super::probe::guarded("nvrtcVersion", || {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: two valid out-pointers to i32.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(cuda_err)?;
        Ok((major, minor))
    })
}

/// The SM versions (e.g. 75, 80, 90) this NVRTC can target. Needs [`available`].
pub fn supported_archs() -> Result<Vec<i32>> {
    available()?;
    super::probe::guarded("nvrtcGetSupportedArchs", || {
        let mut n = 0;
        // SAFETY: a valid out-pointer; then a buffer of exactly the size NVRTC reported.
        unsafe { sys::nvrtcGetNumSupportedArchs(&mut n) }
            .result()
            .map_err(cuda_err)?;
        let mut archs = vec![0i32; n.max(0) as usize];
        // SAFETY: `archs` has room for the `n` entries NVRTC writes.
        unsafe { sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
            .result()
            .map_err(cuda_err)?;
        Ok(archs)
    })
}

/// The virtual architecture for a device of compute capability `cc`: `compute_XY`, lowered to the
/// newest one NVRTC knows when the device is newer than the compiler (PTX runs on later devices).
pub fn arch_for(cc: (i32, i32)) -> String {
    let want = cc.0 * 10 + cc.1;
    let pick = supported_archs()
        .ok()
        .and_then(|archs| archs.into_iter().filter(|&a| a <= want).max())
        .unwrap_or(want);
    format!("compute_{pick}")
}

/// The real architecture `sm_XY` of a device of compute capability `cc`, whose machine code
/// (cubin) runs there without the driver's JIT.
pub fn sm_for(cc: (i32, i32)) -> String {
    format!("sm_{}{}", cc.0, cc.1)
}

/// Whether `arch` names a real architecture (`sm_90`: a cubin) rather than a virtual one
/// (`compute_90`: PTX).
pub fn is_real_arch(arch: &str) -> bool {
    arch.starts_with("sm_")
}

/// Destroys the program when compilation ends, on every path.
struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the program was created by nvrtcCreateProgram and is destroyed once, here.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

fn cstring(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Cuda(format!("{what} contains a NUL byte")))
}

/// The PTX and NVRTC's log (warnings) for one family.
pub struct Compiled {
    pub ptx: String,
    pub log: String,
}

/// Compiles `source` (the file `file`, e.g. `layers.cu`) to PTX for the virtual architecture
/// `arch` with [`compile_options`], the embedded headers available to `#include "<name>.cuh"`. A
/// compile error carries NVRTC's log.
pub fn compile(file: &str, source: &str, arch: &str) -> Result<Compiled> {
    let (image, log) = compile_image(file, source, arch)?;
    Ok(Compiled {
        ptx: String::from_utf8_lossy(&image).into_owned(),
        log,
    })
}

/// Compiles to machine code (a cubin) for the real architecture `sm` (e.g. `sm_90`). Returns the
/// cubin and NVRTC's log.
pub fn compile_cubin(file: &str, source: &str, sm: &str) -> Result<(Vec<u8>, String)> {
    if !is_real_arch(sm) {
        return Err(Error::Cuda(format!(
            "a cubin needs a real architecture like sm_90, not {sm}"
        )));
    }
    compile_image(file, source, sm)
}

/// PTX text (NUL stripped) for a virtual `arch`, cubin bytes for a real one; and the log.
fn compile_image(file: &str, source: &str, arch: &str) -> Result<(Vec<u8>, String)> {
    available()?;
    super::probe::guarded(&format!("NVRTC compiling kernels/{file}"), || {
        compile_unguarded(file, source, arch)
    })
}

fn compile_unguarded(file: &str, source: &str, arch: &str) -> Result<(Vec<u8>, String)> {
    let src = cstring(file, source)?;
    let name = cstring("file name", file)?;
    let headers: Vec<(CString, CString)> = kernel_src::headers()
        .map(|(n, s)| Ok((cstring(n, s)?, cstring("header name", n)?)))
        .collect::<Result<_>>()?;
    let header_srcs: Vec<*const c_char> = headers.iter().map(|(s, _)| s.as_ptr()).collect();
    let header_names: Vec<*const c_char> = headers.iter().map(|(_, n)| n.as_ptr()).collect();

    let mut prog = MaybeUninit::uninit();
    // SAFETY: every pointer is a NUL-terminated string owned by `src`, `name` or `headers`, all of
    // which outlive the program (it is destroyed by `Program`'s drop at the end of this function);
    // the two header arrays have the same length, passed as numHeaders.
    unsafe {
        sys::nvrtcCreateProgram(
            prog.as_mut_ptr(),
            src.as_ptr(),
            name.as_ptr(),
            headers.len() as i32,
            header_srcs.as_ptr(),
            header_names.as_ptr(),
        )
    }
    .result()
    .map_err(|e| Error::Cuda(format!("nvrtcCreateProgram({file}): {e}")))?;
    // SAFETY: nvrtcCreateProgram succeeded, so it wrote the handle.
    let prog = Program(unsafe { prog.assume_init() });

    let options = compile_options(arch);
    // SAFETY: `prog.0` is a live program; options are plain strings.
    let status = unsafe { result::compile_program(prog.0, &options) };
    // SAFETY: `prog.0` is a live program, compiled (successfully or not).
    let log = unsafe { result::get_program_log(prog.0) }
        .map(|v| c_chars_to_string(&v))
        .unwrap_or_default();
    if let Err(e) = status {
        return Err(Error::Cuda(format!(
            "NVRTC failed to compile kernels/{file} for {arch} ({e}):\n{log}"
        )));
    }
    let log = log.trim().to_string();
    if is_real_arch(arch) {
        let mut size = 0usize;
        // SAFETY: `prog.0` compiled for a real architecture, so it has a cubin of this size.
        unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) }
            .result()
            .map_err(cuda_err)?;
        let mut cubin = vec![0u8; size];
        // SAFETY: `cubin` has room for the `size` bytes NVRTC writes.
        unsafe { sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr() as *mut c_char) }
            .result()
            .map_err(cuda_err)?;
        return Ok((cubin, log));
    }
    // SAFETY: the program compiled successfully, so it has PTX.
    let ptx = unsafe { result::get_ptx(prog.0) }.map_err(cuda_err)?;
    Ok((c_chars_to_string(&ptx).into_bytes(), log))
}

fn c_chars_to_string(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where cached PTX lives, or `None` when caching is off or no location is known.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CONVEXGAN_PTX_CACHE") {
        if dir == "off" || dir == "0" || dir.is_empty() {
            return None;
        }
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("convexgan").join("ptx"))
}

/// SHA-256 (hex) of everything that determines the PTX: the source, every header, the options.
pub fn cache_key(file: &str, source: &str, arch: &str) -> String {
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    part(file);
    part(source);
    for (name, src) in kernel_src::headers() {
        part(name);
        part(src);
    }
    for o in compile_options(arch) {
        part(&o);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cached image for this family and architecture (it may not exist): `<key>.ptx` for a
/// virtual architecture, `<key>.cubin` for a real one.
pub fn cache_path(file: &str, source: &str, arch: &str) -> Option<PathBuf> {
    let ext = if is_real_arch(arch) { "cubin" } else { "ptx" };
    cache_dir().map(|d| d.join(format!("{}.{ext}", cache_key(file, source, arch))))
}

/// The cubin for `sm` from the cache, else compiled now (and cached) when NVRTC is there.
/// Returns the cubin and whether it came from the cache.
pub fn cubin_for(file: &str, source: &str, sm: &str) -> Result<(Vec<u8>, bool)> {
    if let Some(path) = cache_path(file, source, sm) {
        if let Ok(bytes) = std::fs::read(&path) {
            // An ELF image; anything else (a truncated or foreign file) is treated as absent.
            if bytes.len() > 64 && bytes.starts_with(b"\x7fELF") {
                return Ok((bytes, true));
            }
        }
    }
    let (cubin, log) = compile_cubin(file, source, sm)?;
    if !log.is_empty() {
        tracing::warn!("NVRTC warnings for kernels/{file} ({sm}):\n{log}");
    }
    if let Some(path) = cache_path(file, source, sm) {
        if let Err(e) = write_atomic(&path, &cubin) {
            tracing::debug!("cubin cache not written ({}): {e}", path.display());
        }
    }
    Ok((cubin, false))
}

/// Cached PTX if present, else compiled now (and cached). Returns the PTX and whether it came
/// from the cache.
pub fn ptx_for(file: &str, source: &str, arch: &str) -> Result<(String, bool)> {
    if let Some(path) = cache_path(file, source, arch) {
        if let Ok(ptx) = std::fs::read_to_string(&path) {
            // A NUL would make cudarc's loader panic; such a file is treated as absent.
            if ptx.contains(".version") && !ptx.contains('\0') {
                return Ok((ptx, true));
            }
        }
    }
    Ok((compile_and_cache(file, source, arch)?, false))
}

/// Compiles and writes the cache (best effort: a read-only cache directory is not an error).
pub fn compile_and_cache(file: &str, source: &str, arch: &str) -> Result<String> {
    let c = compile(file, source, arch)?;
    if !c.log.is_empty() {
        tracing::warn!("NVRTC warnings for kernels/{file}:\n{}", c.log);
    }
    if let Some(path) = cache_path(file, source, arch) {
        if let Err(e) = write_atomic(&path, c.ptx.as_bytes()) {
            tracing::debug!("PTX cache not written ({}): {e}", path.display());
        }
    }
    Ok(c.ptx)
}
