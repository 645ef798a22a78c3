//! Shared support for the `emulated` sections: every CUDA kernel of `kernels/*.cu`, compiled for
//! the host with g++ against the emulation header `tests/ops/emu/cuda_emu.h` (the threads of a
//! block are host threads), so that each family's `emulated` module can run its kernels on small
//! random inputs and compare them with the f64 CPU reference at METHOD.md §7's tolerances: 1e-5 for
//! element-wise ops, 1e-4 for anything with a reduction (softmax, losses, column sums, BatchNorm,
//! the convex combination), 1e-2 with bf16/f16 dictionaries. Outputs start as NaN, so an element a
//! kernel fails to write fails the comparison. Row and sample kernels run with several block sizes
//! (32, 96, 256; some 1024) and sizes that are not multiples of them; flat kernels also run with a
//! grid too small to cover the data, to exercise the grid-stride loop.
//!
//! Each kernel family is built into its own shared library (as NVRTC compiles each family as its
//! own module), cached under the target directory by a hash of the sources. The tests at the end
//! check the emulation itself.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::common::{assert_close, rand_vec};
use convexgan::backend::kernel_abi::{self, Dim3};
use convexgan::backend::prelude::*;
use convexgan::backend::{kernel_src, Cpu, Tensor};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub type Ref = Cpu<f64>;

const FAMILIES: [&str; 7] = [
    "elementwise",
    "layers",
    "adam",
    "losses",
    "lsgan",
    "heatmap",
    "convex",
];

/// METHOD.md §7.
pub const TOL_ELEMENTWISE: f64 = 1e-5;
pub const TOL_REDUCTION: f64 = 1e-4;
pub const TOL_HALF_DICT: f64 = 1e-2;

/// Block sizes for *row* and *sample* kernels: the ABI promises any multiple of 32.
pub const ROW_BLOCKS: [u32; 3] = [32, 96, 256];

pub fn dim(x: u32) -> Dim3 {
    Dim3::x(x)
}

pub fn dim2(x: u32, y: u32) -> Dim3 {
    Dim3::xy(x, y)
}

// ---- building and loading the emulated kernels ----------------------------------------------------

struct Emu {
    libs: Vec<(&'static str, libloading::Library)>,
}

/// Serialises launches: each one starts up to 1024 host threads, and the machine is small.
static LAUNCH: Mutex<()> = Mutex::new(());

fn emu() -> &'static Emu {
    // A failed build is kept too, so that every test reports it instead of rebuilding.
    static EMU: OnceLock<std::result::Result<Emu, String>> = OnceLock::new();
    match EMU.get_or_init(|| {
        std::panic::catch_unwind(build).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "building the emulated kernels panicked".into())
        })
    }) {
        Ok(e) => e,
        Err(msg) => panic!("{msg}"),
    }
}

/// `extern __shared__ T name[];` has no host equivalent that every kernel could share, so it is
/// rewritten into a pointer to the launch's dynamic shared memory. Lines are kept one for one so
/// compiler messages point at the right line of the original file.
fn rewrite_dynamic_shared(file: &str, text: &str) -> String {
    const KEY: &str = "extern __shared__";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at]);
        let after = &rest[at + KEY.len()..];
        let end = after
            .find(';')
            .unwrap_or_else(|| panic!("{file}: `extern __shared__` without `;`"));
        let mut decl = after[..end].to_string();
        while let Some(a) = decl.find("__align__(") {
            let close = decl[a..].find(')').expect("__align__( without )") + a;
            decl.replace_range(a..=close, " ");
        }
        let decl = decl.trim();
        let decl = decl
            .strip_suffix("[]")
            .unwrap_or_else(|| panic!("{file}: cannot parse `extern __shared__{decl};`"))
            .trim();
        let split = decl
            .rfind(|c: char| c.is_whitespace() || c == '*')
            .unwrap_or_else(|| panic!("{file}: cannot parse `extern __shared__ {decl}[];`"));
        let (ty, name) = (decl[..=split].trim(), decl[split + 1..].trim());
        out.push_str(&format!("{ty}* {name} = emu::dynamic_shared<{ty}>()"));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn build() -> Emu {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let edir = root.join("tests").join("ops").join("emu");
    // The sources build.rs embedded, so the test sees exactly what the backend compiles.
    let sources = kernel_src::kernel_sources();
    // Families not written yet are left out here; `every_family_is_emulated` fails for them.
    let families: Vec<&'static str> = FAMILIES
        .into_iter()
        .filter(|fam| kernel_src::families().any(|(f, _)| f == *fam))
        .collect();

    let mut hash = Sha256::new();
    // Bump when the compiler flags below change.
    hash.update(b"emu-build-v2");
    for (name, text) in sources {
        hash.update(name.as_bytes());
        hash.update(text.as_bytes());
    }
    for f in ["cuda_emu.h", "launch.cpp"] {
        hash.update(std::fs::read(edir.join(f)).expect("read tests/ops/emu file"));
    }
    for fam in &families {
        hash.update(kernel_abi::emu_cpp_wrappers(fam).as_bytes());
    }
    let digest: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tmp_root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tmp_root.join(format!("emu-{digest}"));
    // Builds of earlier sources are of no further use (a library still loaded elsewhere stays
    // mapped after its file is removed).
    if let Ok(entries) = std::fs::read_dir(tmp_root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("emu-") && e.path() != out {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let src = out.join("src");
    std::fs::create_dir_all(&src).expect("create emulation build directory");
    for (name, text) in sources {
        let body = format!(
            "#line 1 \"kernels/{name}\"\n{}",
            rewrite_dynamic_shared(name, text)
        );
        std::fs::write(src.join(name), body).expect("write rewritten kernel source");
    }
    // One translation unit per family: the kernels, the launcher, and a prototype plus launcher
    // for each entry point generated from src/backend/kernel_abi.rs. A declaration that disagrees
    // with the kernel's definition is then a compile error ("conflicting declaration of C
    // function"), not a silent mismatch.
    for fam in &families {
        let unit = format!(
            "#include \"{fam}.cu\"\n#include \"launch.cpp\"\n#line 1 \"src/backend/kernel_abi.rs ({fam})\"\n{}",
            kernel_abi::emu_cpp_wrappers(fam)
        );
        std::fs::write(src.join(format!("{fam}_emu.cpp")), unit).expect("write emulation unit");
    }

    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let tool = cc::Build::new()
        .cpp(true)
        .opt_level(2)
        .target(&target)
        .host(&target)
        .out_dir(&out)
        .cargo_metadata(false)
        .get_compiler();
    let compile = |fam: &str| -> PathBuf {
        let lib = out.join(format!("lib{fam}.so"));
        if lib.is_file() {
            return lib;
        }
        // Built under a private name and renamed, so concurrent test binaries never load half a file.
        let tmp = out.join(format!("lib{fam}.so.{}", std::process::id()));
        let mut cmd = tool.to_command();
        let include = |p: &Path| -> OsString {
            let mut s = OsString::from("-I");
            s.push(p);
            s
        };
        cmd.args([
            "-std=c++20",
            "-shared",
            "-fPIC",
            "-pthread",
            "-Wall",
            "-Wno-unused-function",
            "-DCONVEXGAN_HOST_EMU=1",
        ])
        .arg(include(&src))
        .arg(include(&edir))
        .arg("-include")
        .arg(edir.join("cuda_emu.h"))
        .args(["-x", "c++"])
        .arg(src.join(format!("{fam}_emu.cpp")))
        .arg("-o")
        .arg(&tmp);
        let res = cmd.output().expect("run the C++ compiler");
        assert!(
            res.status.success(),
            "compiling kernels/{fam}.cu for the host failed:\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::rename(&tmp, &lib).expect("move the built library into place");
        lib
    };
    // Two compilers at a time: the families are independent.
    let libs: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = families
            .chunks(families.len().div_ceil(2).max(1))
            .map(|chunk| s.spawn(move || chunk.iter().map(|f| compile(f)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let libs = families
        .iter()
        .zip(libs)
        .map(|(fam, path)| {
            // SAFETY: the library is ours, built above; its initialisers only set up statics.
            let lib = unsafe { libloading::Library::new(&path) }
                .unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
            (*fam, lib)
        })
        .collect();
    Emu { libs }
}

/// The launcher `emu_<name>`, from whichever family defines it. `F` must be the kernel's exact
/// `extern "C"` signature, prefixed by `(Dim3 grid, Dim3 block, u32 shared_bytes)`.
pub fn kernel<F: Copy>(name: &str) -> F {
    let sym = format!("emu_{name}\0");
    for (_, lib) in &emu().libs {
        // SAFETY: the caller states the signature; the symbol lives as long as the static `Emu`.
        if let Ok(f) = unsafe { lib.get::<F>(sym.as_bytes()) } {
            return *f;
        }
    }
    panic!("no emulated kernel `{name}` (is it declared in src/backend/kernel_abi.rs?)");
}

pub fn launch<R>(f: impl FnOnce() -> R) -> R {
    let _guard = LAUNCH.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

// ---- data helpers -----------------------------------------------------------------------------------

/// Random f32 values; the reference gets exactly these values, widened, so input rounding is not
/// part of the measured error.
pub fn rand_f32(r: &mut ChaCha8Rng, n: usize, scale: f64) -> Vec<f32> {
    rand_vec(r, n, scale)
        .into_iter()
        .map(|x| x as f32)
        .collect()
}

pub fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

pub fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

pub fn up(v: &[f32], rows: usize, cols: usize) -> Tensor<Ref> {
    Ref::new().upload(&wide(v), rows, cols).expect("upload")
}

pub fn down(t: &Tensor<Ref>) -> Vec<f64> {
    Ref::new().download(t).expect("download")
}

pub fn check(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_close(what, &wide(got), want, tol);
}

fn flat_grid(n: usize, block: u32) -> u32 {
    (n as u32).div_ceil(block).max(1)
}

/// The flat launch configurations every element-wise kernel is run with: the wrappers' (256
/// threads, enough blocks) and one whose grid covers only part of the data.
pub fn flat_configs(n: usize) -> [(Dim3, Dim3); 2] {
    [(dim(flat_grid(n, 256)), dim(256)), (dim(2), dim(64))]
}

/// Host sum of per-row losses in f64, scaled like the wrappers' `sum_scaled_f32` launch.
pub fn loss_of(rows: &[f32], scale: f64) -> f64 {
    scale * rows.iter().map(|&x| x as f64).sum::<f64>()
}

// ---- the emulation itself -------------------------------------------------------------------------

#[test]
fn every_family_is_emulated() {
    for fam in FAMILIES {
        assert!(
            kernel_src::families().any(|(f, _)| f == fam),
            "kernels/{fam}.cu is missing: every family must be emulated"
        );
    }
    let loaded: Vec<&str> = emu().libs.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        loaded, FAMILIES,
        "every family's emulation library is loaded"
    );
}

/// The generated prototypes are a compile-time ABI check: one that swaps two arguments of a kernel
/// does not compile beside the kernel's definition.
#[test]
fn emulation_abi_rejects_a_prototype_that_disagrees_with_the_kernel() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let edir = root.join("tests").join("ops").join("emu");
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in kernel_src::kernel_sources() {
        std::fs::write(dir.path().join(name), rewrite_dynamic_shared(name, text)).unwrap();
    }
    let good = kernel_abi::emu_cpp_wrappers("elementwise");
    let axpy =
        "EMU_KERNEL(axpy_f32, (float* y, const float* x, float alpha, int n), (y, x, alpha, n))";
    assert!(good.contains(axpy), "{good}");
    let swapped = good.replace(
        axpy,
        "EMU_KERNEL(axpy_f32, (float* y, float alpha, const float* x, int n), (y, alpha, x, n))",
    );
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let compiler = cc::Build::new()
        .cpp(true)
        .target(&target)
        .host(&target)
        .opt_level(0)
        .cargo_metadata(false)
        .get_compiler();
    let compiles = |wrappers: &str| {
        let unit = dir.path().join("unit.cpp");
        std::fs::write(
            &unit,
            format!("#include \"elementwise.cu\"\n#include \"launch.cpp\"\n{wrappers}"),
        )
        .unwrap();
        let out = compiler
            .to_command()
            .args(["-std=c++20", "-fsyntax-only", "-DCONVEXGAN_HOST_EMU=1"])
            .arg(format!("-I{}", dir.path().display()))
            .arg(format!("-I{}", edir.display()))
            .arg("-include")
            .arg(edir.join("cuda_emu.h"))
            .args(["-x", "c++"])
            .arg(&unit)
            .output()
            .expect("run the C++ compiler");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, log) = compiles(&good);
    assert!(ok, "the declared prototypes do not compile:\n{log}");
    let (ok, log) = compiles(&swapped);
    assert!(!ok, "a swapped prototype compiled");
    assert!(log.contains("axpy_f32"), "{log}");
}

#[test]
fn dynamic_shared_rewrite() {
    let src = "a\n  extern __shared__ __align__(16) unsigned char smem[];\nb extern __shared__ float s2[]; c";
    let got = rewrite_dynamic_shared("x.cu", src);
    assert_eq!(
        got,
        "a\n  unsigned char* smem = emu::dynamic_shared<unsigned char>();\nb float* s2 = emu::dynamic_shared<float>(); c"
    );
}
