//! Every CUDA kernel of `kernels/*.cu`, compiled for the host with g++ against the emulation header
//! `tests/emu/cuda_emu.h` (the threads of a block are host threads), run on small random inputs and
//! compared with the f64 CPU reference at SPEC §7's tolerances: 1e-5 for element-wise ops, 1e-4 for
//! anything with a reduction (softmax, losses, column sums, BatchNorm, the convex combination),
//! 1e-2 with bf16/f16 dictionaries. Outputs start as NaN, so an element a kernel fails to write
//! fails the comparison. Row and sample kernels run with several block sizes (32, 96, 256; some
//! 1024) and sizes that are not multiples of them; flat kernels also run with a grid too small to
//! cover the data, to exercise the grid-stride loop.
//!
//! Each kernel family is built into its own shared library (as NVRTC compiles each family as its
//! own module), cached under the target directory by a hash of the sources.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use common::{assert_close, rand_labels, rand_vec, rng};
use convexgan::backend::kernel_abi::{self, emu, Dim3};
use convexgan::backend::{
    kernel_src, Activation, AdamHyper, Backend, BnCache, ClassLoss, Cpu, HostRows, Precision,
    Tensor,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

type Ref = Cpu<f64>;

const FAMILIES: [&str; 7] = [
    "elementwise",
    "layers",
    "adam",
    "losses",
    "lsgan",
    "heatmap",
    "convex",
];

/// SPEC §7.
const TOL_ELEMENTWISE: f64 = 1e-5;
const TOL_REDUCTION: f64 = 1e-4;
const TOL_HALF_DICT: f64 = 1e-2;

/// Block sizes for *row* and *sample* kernels: the ABI promises any multiple of 32.
const ROW_BLOCKS: [u32; 3] = [32, 96, 256];

fn dim(x: u32) -> Dim3 {
    Dim3::x(x)
}

fn dim2(x: u32, y: u32) -> Dim3 {
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
    let edir = root.join("tests").join("emu");
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
        hash.update(std::fs::read(edir.join(f)).expect("read tests/emu file"));
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
fn kernel<F: Copy>(name: &str) -> F {
    let sym = format!("emu_{name}\0");
    for (_, lib) in &emu().libs {
        // SAFETY: the caller states the signature; the symbol lives as long as the static `Emu`.
        if let Ok(f) = unsafe { lib.get::<F>(sym.as_bytes()) } {
            return *f;
        }
    }
    panic!("no emulated kernel `{name}` (is it declared in src/backend/kernel_abi.rs?)");
}

fn launch<R>(f: impl FnOnce() -> R) -> R {
    let _guard = LAUNCH.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

// ---- data helpers -----------------------------------------------------------------------------------

/// Random f32 values; the reference gets exactly these values, widened, so input rounding is not
/// part of the measured error.
fn rand_f32(r: &mut ChaCha8Rng, n: usize, scale: f64) -> Vec<f32> {
    rand_vec(r, n, scale)
        .into_iter()
        .map(|x| x as f32)
        .collect()
}

fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

fn up(v: &[f32], rows: usize, cols: usize) -> Tensor<Ref> {
    Ref::new().upload(&wide(v), rows, cols).expect("upload")
}

fn down(t: &Tensor<Ref>) -> Vec<f64> {
    Ref::new().download(t).expect("download")
}

fn check(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_close(what, &wide(got), want, tol);
}

fn flat_grid(n: usize, block: u32) -> u32 {
    (n as u32).div_ceil(block).max(1)
}

/// The flat launch configurations every element-wise kernel is run with: the wrappers' (256
/// threads, enough blocks) and one whose grid covers only part of the data.
fn flat_configs(n: usize) -> [(Dim3, Dim3); 2] {
    [(dim(flat_grid(n, 256)), dim(256)), (dim(2), dim(64))]
}

/// Host sum of per-row losses in f64, scaled like the wrappers' `sum_scaled_f32` launch.
fn loss_of(rows: &[f32], scale: f64) -> f64 {
    scale * rows.iter().map(|&x| x as f64).sum::<f64>()
}

// ---- elementwise ------------------------------------------------------------------------------------

#[test]
fn fill_axpy_scale() {
    let mut r = rng(1);
    let fill: emu::fill_f32 = kernel("fill_f32");
    let axpy: emu::axpy_f32 = kernel("axpy_f32");
    let scale: emu::scale_f32 = kernel("scale_f32");
    for n in [1usize, 255, 1000] {
        for (g, b) in flat_configs(n) {
            let mut y = nan(n);
            launch(|| unsafe { fill(g, b, 0, y.as_mut_ptr(), 0.75, n as i32) });
            check("fill_f32", &y, &vec![0.75; n], TOL_ELEMENTWISE);

            let x = rand_f32(&mut r, n, 2.0);
            let y0 = rand_f32(&mut r, n, 2.0);
            let mut y = y0.clone();
            launch(|| unsafe { axpy(g, b, 0, y.as_mut_ptr(), x.as_ptr(), -1.5, n as i32) });
            let mut want = up(&y0, 1, n);
            Ref::new().axpy(&mut want, -1.5, &up(&x, 1, n)).unwrap();
            check("axpy_f32", &y, &down(&want), TOL_ELEMENTWISE);

            let mut y = nan(n);
            launch(|| unsafe { scale(g, b, 0, y.as_mut_ptr(), x.as_ptr(), 0.3, n as i32) });
            let want = Ref::new().scale(&up(&x, 1, n), 0.3).unwrap();
            check("scale_f32", &y, &down(&want), TOL_ELEMENTWISE);
        }
    }
}

#[test]
fn copy_cols_concat_and_split() {
    let mut r = rng(2);
    let copy: emu::copy_cols_f32 = kernel("copy_cols_f32");
    let rows = 37;
    let widths = [5usize, 64, 1, 30];
    let total: usize = widths.iter().sum();
    let parts: Vec<Vec<f32>> = widths
        .iter()
        .map(|&w| rand_f32(&mut r, rows * w, 1.0))
        .collect();
    let ref_parts: Vec<Tensor<Ref>> = parts
        .iter()
        .zip(widths)
        .map(|(p, w)| up(p, rows, w))
        .collect();
    let want = down(
        &Ref::new()
            .concat_cols(&ref_parts.iter().collect::<Vec<_>>())
            .unwrap(),
    );
    for (g, b) in flat_configs(rows * total) {
        let mut out = nan(rows * total);
        let mut col0 = 0;
        for (p, &w) in parts.iter().zip(&widths) {
            launch(|| unsafe {
                copy(
                    g,
                    b,
                    0,
                    out.as_mut_ptr(),
                    total as i32,
                    col0 as i32,
                    p.as_ptr(),
                    w as i32,
                    0,
                    w as i32,
                    rows as i32,
                )
            });
            col0 += w;
        }
        check("copy_cols_f32 (concat)", &out, &want, TOL_ELEMENTWISE);

        // Split back out of the concatenation.
        let whole: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        let split = Ref::new()
            .split_cols(&up(&whole, rows, total), &widths)
            .unwrap();
        let mut col0 = 0;
        for (w, want_part) in widths.iter().zip(&split) {
            let mut part = nan(rows * w);
            launch(|| unsafe {
                copy(
                    g,
                    b,
                    0,
                    part.as_mut_ptr(),
                    *w as i32,
                    0,
                    whole.as_ptr(),
                    total as i32,
                    col0 as i32,
                    *w as i32,
                    rows as i32,
                )
            });
            check(
                "copy_cols_f32 (split)",
                &part,
                &down(want_part),
                TOL_ELEMENTWISE,
            );
            col0 += w;
        }
    }
}

#[test]
fn gather_rows_and_onehot() {
    let mut r = rng(3);
    let gather: emu::gather_rows_f32 = kernel("gather_rows_f32");
    let onehot: emu::onehot_f32 = kernel("onehot_f32");
    let (src_rows, cols, n) = (23usize, 45usize, 61usize);
    let x = rand_f32(&mut r, src_rows * cols, 3.0);
    let idx = rand_labels(&mut r, n, src_rows);
    let ref_idx = Ref::new().upload_indices(&idx).unwrap();
    let want = down(
        &Ref::new()
            .gather_rows(&up(&x, src_rows, cols), &ref_idx)
            .unwrap(),
    );
    let classes = 13;
    let labels = rand_labels(&mut r, n, classes);
    let ref_labels = Ref::new().upload_indices(&labels).unwrap();
    let want_1h = down(&Ref::new().onehot(&ref_labels, classes).unwrap());
    for (g, b) in flat_configs(n * cols) {
        let mut out = nan(n * cols);
        launch(|| unsafe {
            gather(
                g,
                b,
                0,
                out.as_mut_ptr(),
                x.as_ptr(),
                idx.as_ptr(),
                n as i32,
                cols as i32,
            )
        });
        check("gather_rows_f32", &out, &want, TOL_ELEMENTWISE);
        let mut oh = nan(n * classes);
        launch(|| unsafe {
            onehot(
                g,
                b,
                0,
                oh.as_mut_ptr(),
                labels.as_ptr(),
                n as i32,
                classes as i32,
            )
        });
        check("onehot_f32", &oh, &want_1h, TOL_ELEMENTWISE);
    }
}

#[test]
fn sum_scaled() {
    let mut r = rng(4);
    let sum: emu::sum_scaled_f32 = kernel("sum_scaled_f32");
    for n in [1usize, 31, 1000, 5003] {
        let x = rand_f32(&mut r, n, 1.0);
        let want = 0.25 * wide(&x).iter().sum::<f64>();
        for block in [32u32, 96, 256, 1024] {
            let mut out = nan(1);
            launch(|| unsafe {
                sum(
                    dim(1),
                    dim(block),
                    0,
                    out.as_mut_ptr(),
                    x.as_ptr(),
                    n as i32,
                    0.25,
                )
            });
            check(
                &format!("sum_scaled_f32 n={n} block={block}"),
                &out,
                &[want],
                TOL_REDUCTION,
            );
        }
    }
}

// ---- layers -------------------------------------------------------------------------------------------

fn act_code(a: Activation) -> (i32, f32) {
    match a {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(al) => (2, al as f32),
    }
}

#[test]
fn bias_act_and_act_bwd() {
    let mut r = rng(5);
    let fwd: emu::bias_act_fwd_f32 = kernel("bias_act_fwd_f32");
    let bwd: emu::act_bwd_f32 = kernel("act_bwd_f32");
    let (rows, cols) = (19usize, 70usize);
    let n = rows * cols;
    let x = rand_f32(&mut r, n, 2.0);
    let bias = rand_f32(&mut r, cols, 1.0);
    let dy = rand_f32(&mut r, n, 1.0);
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.2),
    ] {
        let (code, alpha) = act_code(act);
        for with_bias in [true, false] {
            let rb = up(&bias, 1, cols);
            let want = Ref::new()
                .bias_act_fwd(&up(&x, rows, cols), with_bias.then_some(&rb), act)
                .unwrap();
            let want_y = down(&want);
            let bptr = if with_bias {
                bias.as_ptr()
            } else {
                std::ptr::null()
            };
            for (g, b) in flat_configs(n) {
                let mut y = nan(n);
                launch(|| unsafe {
                    fwd(
                        g,
                        b,
                        0,
                        y.as_mut_ptr(),
                        x.as_ptr(),
                        bptr,
                        rows as i32,
                        cols as i32,
                        code,
                        alpha,
                    )
                });
                check(
                    &format!("bias_act_fwd_f32 {act:?} bias={with_bias}"),
                    &y,
                    &want_y,
                    TOL_ELEMENTWISE,
                );

                // The backward reads the forward's output, as the trainer does.
                let want_dx = down(
                    &Ref::new()
                        .act_bwd(&up(&y, rows, cols), &up(&dy, rows, cols), act)
                        .unwrap(),
                );
                let mut dx = nan(n);
                launch(|| unsafe {
                    bwd(
                        g,
                        b,
                        0,
                        dx.as_mut_ptr(),
                        y.as_ptr(),
                        dy.as_ptr(),
                        n as i32,
                        code,
                        alpha,
                    )
                });
                check(
                    &format!("act_bwd_f32 {act:?}"),
                    &dx,
                    &want_dx,
                    TOL_ELEMENTWISE,
                );
            }
        }
    }
}

/// The *col* shape: `gridDim.x = ceil(cols / 32)`, `blockDim = (32, 8)`.
fn col_config(cols: usize) -> (Dim3, Dim3) {
    (dim((cols as u32).div_ceil(32)), dim2(32, 8))
}

#[test]
fn col_sum() {
    let mut r = rng(6);
    let f: emu::col_sum_f32 = kernel("col_sum_f32");
    for (rows, cols) in [(1usize, 1usize), (37, 70), (300, 33)] {
        let x = rand_f32(&mut r, rows * cols, 1.0);
        let want = down(&Ref::new().col_sum(&up(&x, rows, cols)).unwrap());
        let (g, b) = col_config(cols);
        let mut out = nan(cols);
        launch(|| unsafe {
            f(
                g,
                b,
                0,
                out.as_mut_ptr(),
                x.as_ptr(),
                rows as i32,
                cols as i32,
            )
        });
        check(
            &format!("col_sum_f32 {rows}×{cols}"),
            &out,
            &want,
            TOL_REDUCTION,
        );
    }
}

#[test]
fn batchnorm_train_infer_bwd() {
    let mut r = rng(7);
    let train: emu::bn_fwd_train_f32 = kernel("bn_fwd_train_f32");
    let infer: emu::bn_fwd_infer_f32 = kernel("bn_fwd_infer_f32");
    let bwd: emu::bn_bwd_f32 = kernel("bn_bwd_f32");
    let (momentum, eps) = (0.1f32, 1e-5f32);
    // At least 3 rows: with 2, xhat = ±1 and dx vanishes exactly, leaving only rounding noise.
    for (rows, cols) in [(3usize, 5usize), (37, 70), (300, 33)] {
        let n = rows * cols;
        // An offset and a spread per column, so the statistics are not all the same.
        let x: Vec<f32> = (0..n)
            .map(|i| {
                (1.0 + (i % cols) as f64 * 0.1) as f32 * r.gen_range(-2.0f32..2.0)
                    + (i % cols) as f32 * 0.05
            })
            .collect();
        let gamma = rand_f32(&mut r, cols, 1.5);
        let beta = rand_f32(&mut r, cols, 1.0);
        let rm0 = rand_f32(&mut r, cols, 0.5);
        let rv0: Vec<f32> = rand_f32(&mut r, cols, 0.5)
            .iter()
            .map(|v| 1.0 + v)
            .collect();

        let mut ref_rm = up(&rm0, 1, cols);
        let mut ref_rv = up(&rv0, 1, cols);
        let (ref_y, ref_cache) = Ref::new()
            .batchnorm_fwd_train(
                &up(&x, rows, cols),
                &up(&gamma, 1, cols),
                &up(&beta, 1, cols),
                &mut ref_rm,
                &mut ref_rv,
                momentum as f64,
                eps as f64,
            )
            .unwrap();

        let (g, b) = col_config(cols);
        let (mut y, mut xhat, mut inv_std) = (nan(n), nan(n), nan(cols));
        let (mut rm, mut rv) = (rm0.clone(), rv0.clone());
        launch(|| unsafe {
            train(
                g,
                b,
                0,
                y.as_mut_ptr(),
                xhat.as_mut_ptr(),
                inv_std.as_mut_ptr(),
                rm.as_mut_ptr(),
                rv.as_mut_ptr(),
                x.as_ptr(),
                gamma.as_ptr(),
                beta.as_ptr(),
                rows as i32,
                cols as i32,
                momentum,
                eps,
            )
        });
        let tag = format!("{rows}×{cols}");
        check(
            &format!("bn_fwd_train_f32 y {tag}"),
            &y,
            &down(&ref_y),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 xhat {tag}"),
            &xhat,
            &down(&ref_cache.xhat),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 inv_std {tag}"),
            &inv_std,
            &down(&ref_cache.inv_std),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 running_mean {tag}"),
            &rm,
            &down(&ref_rm),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_fwd_train_f32 running_var {tag}"),
            &rv,
            &down(&ref_rv),
            TOL_REDUCTION,
        );

        let want = Ref::new()
            .batchnorm_fwd_infer(
                &up(&x, rows, cols),
                &up(&gamma, 1, cols),
                &up(&beta, 1, cols),
                &up(&rm0, 1, cols),
                &up(&rv0, 1, cols),
                eps as f64,
            )
            .unwrap();
        for (g, b) in flat_configs(n) {
            let mut y = nan(n);
            launch(|| unsafe {
                infer(
                    g,
                    b,
                    0,
                    y.as_mut_ptr(),
                    x.as_ptr(),
                    gamma.as_ptr(),
                    beta.as_ptr(),
                    rm0.as_ptr(),
                    rv0.as_ptr(),
                    rows as i32,
                    cols as i32,
                    eps,
                )
            });
            check(
                &format!("bn_fwd_infer_f32 {tag}"),
                &y,
                &down(&want),
                TOL_ELEMENTWISE,
            );
        }

        // Backward from the emulated forward's cache; the reference gets the same f32 values.
        let dy = rand_f32(&mut r, n, 1.0);
        let cache = BnCache {
            xhat: up(&xhat, rows, cols),
            inv_std: up(&inv_std, 1, cols),
        };
        let (ref_dx, ref_dg, ref_db) = Ref::new()
            .batchnorm_bwd(&up(&dy, rows, cols), &cache, &up(&gamma, 1, cols))
            .unwrap();
        let (mut dx, mut dg, mut db) = (nan(n), nan(cols), nan(cols));
        launch(|| unsafe {
            bwd(
                g,
                b,
                0,
                dx.as_mut_ptr(),
                dg.as_mut_ptr(),
                db.as_mut_ptr(),
                dy.as_ptr(),
                xhat.as_ptr(),
                inv_std.as_ptr(),
                gamma.as_ptr(),
                rows as i32,
                cols as i32,
            )
        });
        check(
            &format!("bn_bwd_f32 dx {tag}"),
            &dx,
            &down(&ref_dx),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_bwd_f32 dgamma {tag}"),
            &dg,
            &down(&ref_dg),
            TOL_REDUCTION,
        );
        check(
            &format!("bn_bwd_f32 dbeta {tag}"),
            &db,
            &down(&ref_db),
            TOL_REDUCTION,
        );
    }
}

// ---- adam ---------------------------------------------------------------------------------------------

#[test]
fn adam_step() {
    let mut r = rng(8);
    let f: emu::adam_step_f32 = kernel("adam_step_f32");
    let n = 1001;
    let h = AdamHyper {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 7,
    };
    let c1 = 1.0 - h.beta1.powi(h.step as i32);
    let c2 = 1.0 - h.beta2.powi(h.step as i32);
    for (g, b) in flat_configs(n) {
        let p0 = rand_f32(&mut r, n, 1.0);
        let grad = rand_f32(&mut r, n, 1.0);
        let m0 = rand_f32(&mut r, n, 0.1);
        let v0: Vec<f32> = rand_f32(&mut r, n, 0.01).iter().map(|v| v.abs()).collect();
        let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
        launch(|| unsafe {
            f(
                g,
                b,
                0,
                p.as_mut_ptr(),
                grad.as_ptr(),
                m.as_mut_ptr(),
                v.as_mut_ptr(),
                n as i32,
                h.lr as f32,
                h.beta1 as f32,
                h.beta2 as f32,
                h.eps as f32,
                c1 as f32,
                c2 as f32,
            )
        });
        let (mut rp, mut rm, mut rv) = (up(&p0, 1, n), up(&m0, 1, n), up(&v0, 1, n));
        Ref::new()
            .adam_step(&mut rp, &up(&grad, 1, n), &mut rm, &mut rv, &h)
            .unwrap();
        check("adam_step_f32 param", &p, &down(&rp), TOL_ELEMENTWISE);
        check("adam_step_f32 m", &m, &down(&rm), TOL_ELEMENTWISE);
        check("adam_step_f32 v", &v, &down(&rv), TOL_ELEMENTWISE);
        // The step itself (p − p0) is what the update computes; compare it at the reduction
        // tolerance so the f32 cancellation against p0 is not hidden by p's magnitude.
        let dp: Vec<f32> = p.iter().zip(&p0).map(|(a, b)| a - b).collect();
        let want_dp: Vec<f64> = down(&rp)
            .iter()
            .zip(&p0)
            .map(|(a, &b)| a - b as f64)
            .collect();
        check("adam_step_f32 step", &dp, &want_dp, TOL_REDUCTION);
    }
}

// ---- losses -------------------------------------------------------------------------------------------

/// Row shapes: column counts below, at and above one warp and one block.
const ROW_SHAPES: [(usize, usize); 5] = [(1, 1), (5, 10), (7, 33), (3, 257), (2, 600)];

#[test]
fn softmax_rows() {
    let mut r = rng(9);
    let f: emu::softmax_rows_f32 = kernel("softmax_rows_f32");
    for (rows, cols) in ROW_SHAPES {
        // Large logits: the kernel must subtract the row maximum.
        let x = rand_f32(&mut r, rows * cols, 40.0);
        let want = down(&Ref::new().softmax_rows(&up(&x, rows, cols)).unwrap());
        for block in ROW_BLOCKS {
            let mut y = nan(rows * cols);
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    y.as_mut_ptr(),
                    x.as_ptr(),
                    rows as i32,
                    cols as i32,
                )
            });
            check(
                &format!("softmax_rows_f32 {rows}×{cols} block {block}"),
                &y,
                &want,
                TOL_REDUCTION,
            );
        }
    }
}

#[test]
fn class_losses() {
    let mut r = rng(10);
    let f: emu::class_loss_f32 = kernel("class_loss_f32");
    for ((rows, cols), confident) in ROW_SHAPES.into_iter().flat_map(|s| [(s, false), (s, true)]) {
        let mut logits = rand_f32(&mut r, rows * cols, 3.0);
        let labels = rand_labels(&mut r, rows, cols);
        if confident {
            // p_c close to 1, where 1 − p_c and log p_c lose precision if formed naively.
            for (row, &c) in labels.iter().enumerate() {
                logits[row * cols + c as usize] += 12.0;
            }
        }
        let margins: Vec<f32> = (0..cols).map(|_| r.gen_range(0.05f32..0.5)).collect();
        let ref_margins = up(&margins, 1, cols);
        let ref_labels = Ref::new().upload_indices(&labels).unwrap();
        let kinds: [(i32, f32, f32, ClassLoss<'_, Ref>); 5] = [
            (0, 0.0, 0.0, ClassLoss::Ce),
            (1, 0.0, 0.0, ClassLoss::Mse),
            (2, 2.0, 0.0, ClassLoss::Focal { gamma: 2.0 }),
            (2, 0.5, 0.0, ClassLoss::Focal { gamma: 0.5 }),
            (
                3,
                0.0,
                30.0,
                ClassLoss::Ldam {
                    margins: &ref_margins,
                    s: 30.0,
                },
            ),
        ];
        for (kind, gamma, s, loss) in kinds {
            if confident && kind == 3 {
                // s = 30 turns the +12 into a gap of 360: the gradient (~e^-360) is below f32.
                continue;
            }
            let name = format!("{loss:?}");
            let (ref_loss, ref_grad) = Ref::new()
                .class_loss(&up(&logits, rows, cols), &ref_labels, loss)
                .unwrap();
            let mptr = if kind == 3 {
                margins.as_ptr()
            } else {
                std::ptr::null()
            };
            for block in ROW_BLOCKS {
                let (mut lr, mut grad) = (nan(rows), nan(rows * cols));
                launch(|| unsafe {
                    f(
                        dim(rows as u32),
                        dim(block),
                        0,
                        lr.as_mut_ptr(),
                        grad.as_mut_ptr(),
                        logits.as_ptr(),
                        labels.as_ptr(),
                        mptr,
                        rows as i32,
                        cols as i32,
                        kind,
                        gamma,
                        s,
                    )
                });
                let tag = format!(
                    "class_loss_f32 {name} {rows}×{cols} confident={confident} block {block}"
                );
                let got = loss_of(&lr, 1.0 / rows as f64);
                assert_close(
                    &format!("{tag} loss"),
                    &[got],
                    &down(&ref_loss),
                    TOL_REDUCTION,
                );
                check(
                    &format!("{tag} grad"),
                    &grad,
                    &down(&ref_grad),
                    TOL_REDUCTION,
                );
            }
        }
    }
}

#[test]
fn bce_logits() {
    let mut r = rng(11);
    let f: emu::bce_logits_f32 = kernel("bce_logits_f32");
    for (rows, cols) in ROW_SHAPES {
        let x = rand_f32(&mut r, rows * cols, 8.0);
        let t: Vec<f32> = (0..rows * cols).map(|_| r.gen_range(0..2) as f32).collect();
        let (ref_loss, ref_grad) = Ref::new()
            .bce_logits(&up(&x, rows, cols), &up(&t, rows, cols))
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut grad) = (nan(rows), nan(rows * cols));
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    grad.as_mut_ptr(),
                    x.as_ptr(),
                    t.as_ptr(),
                    rows as i32,
                    cols as i32,
                )
            });
            let tag = format!("bce_logits_f32 {rows}×{cols} block {block}");
            let got = loss_of(&lr, 1.0 / rows as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&ref_loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} grad"),
                &grad,
                &down(&ref_grad),
                TOL_REDUCTION,
            );
        }
    }
}

// ---- lsgan --------------------------------------------------------------------------------------------

#[test]
fn lsgan_d() {
    let mut r = rng(12);
    let f: emu::lsgan_d_f32 = kernel("lsgan_d_f32");
    for n in [1usize, 77, 600] {
        let d = rand_f32(&mut r, n, 2.0);
        for target in [0.0f32, 1.0] {
            let (ref_loss, ref_grad) = Ref::new()
                .lsgan_d_loss(&up(&d, n, 1), target as f64)
                .unwrap();
            for (g, b) in flat_configs(n) {
                let (mut lr, mut grad) = (nan(n), nan(n));
                launch(|| unsafe {
                    f(
                        g,
                        b,
                        0,
                        lr.as_mut_ptr(),
                        grad.as_mut_ptr(),
                        d.as_ptr(),
                        target,
                        n as i32,
                    )
                });
                let got = loss_of(&lr, 1.0 / n as f64);
                assert_close("lsgan_d_f32 loss", &[got], &down(&ref_loss), TOL_REDUCTION);
                check("lsgan_d_f32 grad", &grad, &down(&ref_grad), TOL_ELEMENTWISE);
            }
        }
    }
}

#[test]
fn lsgan_g() {
    let mut r = rng(13);
    let f: emu::lsgan_g_f32 = kernel("lsgan_g_f32");
    for (rows, classes) in [(1usize, 2usize), (9, 10), (4, 50), (3, 300)] {
        let z = rand_f32(&mut r, rows * classes, 3.0);
        let d = rand_f32(&mut r, rows, 1.5);
        let mut labels = rand_labels(&mut r, rows, classes);
        let majority = classes - 1;
        // One sample labelled with the majority class: the sum then skips just that class.
        labels[0] = majority as u32;
        let ref_labels = Ref::new().upload_indices(&labels).unwrap();
        let lambda = 1000.0f32;
        let want = Ref::new()
            .lsgan_g_loss(
                &up(&z, rows, classes),
                &up(&d, rows, 1),
                &ref_labels,
                majority,
                lambda as f64,
            )
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut dq, mut dd) = (nan(rows), nan(rows * classes), nan(rows));
            launch(|| unsafe {
                f(
                    dim(rows as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    dq.as_mut_ptr(),
                    dd.as_mut_ptr(),
                    z.as_ptr(),
                    d.as_ptr(),
                    labels.as_ptr(),
                    rows as i32,
                    classes as i32,
                    majority as i32,
                    lambda,
                )
            });
            let tag = format!("lsgan_g_f32 {rows}×{classes} block {block}");
            let got = loss_of(&lr, 1.0 / rows as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&want.loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} d_q_logits"),
                &dq,
                &down(&want.d_q_logits),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} d_d_out"),
                &dd,
                &down(&want.d_d_out),
                TOL_ELEMENTWISE,
            );
        }
    }
}

// ---- heatmap ------------------------------------------------------------------------------------------

#[test]
fn heatmap_targets_and_loss() {
    let mut r = rng(14);
    let targets: emu::heatmap_targets_f32 = kernel("heatmap_targets_f32");
    let loss: emu::heatmap_loss_f32 = kernel("heatmap_loss_f32");
    for (batch, k, grid, sigma) in [
        (1usize, 1usize, 5usize, 1.0f32),
        (3, 8, 28, 1.0),
        (2, 3, 13, 1.7),
    ] {
        let g2 = grid * grid;
        let coords: Vec<f32> = (0..batch * 2 * k)
            .map(|_| r.gen_range(-1.0f32..grid as f32))
            .collect();
        let mut vis: Vec<f32> = (0..batch * k).map(|_| r.gen_range(0..2) as f32).collect();
        vis[0] = 1.0;
        let want = down(
            &Ref::new()
                .heatmap_targets(
                    &up(&coords, batch, 2 * k),
                    &up(&vis, batch, k),
                    grid,
                    sigma as f64,
                )
                .unwrap(),
        );
        let n = batch * k * g2;
        for (g, b) in flat_configs(n) {
            let mut out = nan(n);
            launch(|| unsafe {
                targets(
                    g,
                    b,
                    0,
                    out.as_mut_ptr(),
                    coords.as_ptr(),
                    vis.as_ptr(),
                    batch as i32,
                    k as i32,
                    grid as i32,
                    sigma,
                )
            });
            check(
                &format!("heatmap_targets_f32 {batch}×{k}×{grid}²"),
                &out,
                &want,
                TOL_ELEMENTWISE,
            );
        }

        let target: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        let pred = rand_f32(&mut r, n, 1.0);
        let (ref_loss, ref_grad) = Ref::new()
            .heatmap_loss(
                &up(&pred, batch, k * g2),
                &up(&target, batch, k * g2),
                &up(&vis, batch, k),
            )
            .unwrap();
        for block in ROW_BLOCKS {
            let (mut lr, mut grad) = (nan(batch), nan(n));
            launch(|| unsafe {
                loss(
                    dim(batch as u32),
                    dim(block),
                    0,
                    lr.as_mut_ptr(),
                    grad.as_mut_ptr(),
                    pred.as_ptr(),
                    target.as_ptr(),
                    vis.as_ptr(),
                    batch as i32,
                    k as i32,
                    g2 as i32,
                )
            });
            let tag = format!("heatmap_loss_f32 {batch}×{k}×{grid}² block {block}");
            let got = loss_of(&lr, 1.0 / batch as f64);
            assert_close(
                &format!("{tag} loss"),
                &[got],
                &down(&ref_loss),
                TOL_REDUCTION,
            );
            check(
                &format!("{tag} grad"),
                &grad,
                &down(&ref_grad),
                TOL_ELEMENTWISE,
            );
        }
    }
}

// ---- convex -------------------------------------------------------------------------------------------

/// The host dictionary's bytes as the entry point's element type (f32, bf16 or f16 bits).
fn dict_ptr<T>(h: &HostRows) -> *const T {
    h.as_bytes().as_ptr().cast()
}

fn dict_tol(p: Precision) -> f64 {
    match p {
        Precision::F32 => TOL_REDUCTION,
        Precision::Bf16 | Precision::F16 => TOL_HALF_DICT,
    }
}

/// `N_s` distinct rows per sample, as Phase 2 draws them.
fn sample_rows(r: &mut ChaCha8Rng, batch: usize, ns: usize, dict_rows: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(batch * ns);
    for _ in 0..batch {
        let picked = rand::seq::index::sample(r, dict_rows, ns);
        out.extend(picked.iter().map(|i| i as u32));
    }
    out
}

/// One dictionary precision's three entry points, each bound with its declared type (the
/// dictionary pointer's element type differs), on the same cases.
macro_rules! convex_case {
    ($r:expr, $prec:expr, $fwd:ident, $bwd:ident, $gather:ident) => {{
        let r: &mut ChaCha8Rng = $r;
        let prec: Precision = $prec;
        let fwd: emu::$fwd = kernel(stringify!($fwd));
        let bwd: emu::$bwd = kernel(stringify!($bwd));
        let gather: emu::$gather = kernel(stringify!($gather));
        for (batch, ns, d_t, d_s, dict_rows) in [
            (1usize, 1usize, 1usize, 1usize, 1usize),
            (3, 5, 70, 33, 40),
            (2, 37, 300, 129, 50),
        ] {
            let ht = HostRows::from_f32(&rand_f32(r, dict_rows * d_t, 1.0), prec);
            let hs = HostRows::from_f32(&rand_f32(r, dict_rows * d_s, 1.0), prec);
            let rt = Ref::new().upload_dict(&ht, dict_rows, d_t).unwrap();
            let rs = Ref::new().upload_dict(&hs, dict_rows, d_s).unwrap();
            let rows = sample_rows(r, batch, ns, dict_rows);
            let ref_rows = Ref::new().upload_indices(&rows).unwrap();
            let logits = rand_f32(r, batch * 2 * ns, 4.0);
            let want = Ref::new()
                .convex_combine_fwd(&up(&logits, batch, 2 * ns), &rt, &rs, &ref_rows)
                .unwrap();
            let d_f_t = rand_f32(r, batch * d_t, 1.0);
            let d_f_s = rand_f32(r, batch * d_s, 1.0);
            let tol = dict_tol(prec);
            let tag = format!("{} B={batch} N_s={ns} d_t={d_t} d_s={d_s}", prec.name());
            for block in ROW_BLOCKS.into_iter().chain([1024]) {
                let (mut ft, mut fs, mut w) =
                    (nan(batch * d_t), nan(batch * d_s), nan(batch * 2 * ns));
                launch(|| unsafe {
                    fwd(
                        dim(batch as u32),
                        dim(block),
                        (12 * ns) as u32,
                        ft.as_mut_ptr(),
                        fs.as_mut_ptr(),
                        w.as_mut_ptr(),
                        logits.as_ptr(),
                        dict_ptr(&ht),
                        dict_ptr(&hs),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                check(
                    &format!("convex_combine_fwd {tag} block {block} w"),
                    &w,
                    &down(&want.w),
                    TOL_REDUCTION,
                );
                check(
                    &format!("convex_combine_fwd {tag} block {block} f_t"),
                    &ft,
                    &down(&want.f_t),
                    tol,
                );
                check(
                    &format!("convex_combine_fwd {tag} block {block} f_s"),
                    &fs,
                    &down(&want.f_s),
                    tol,
                );

                // Backward from the emulated weights; the reference gets the same f32 values.
                let want_dl = Ref::new()
                    .convex_combine_bwd(
                        &up(&w, batch, 2 * ns),
                        &up(&d_f_t, batch, d_t),
                        &up(&d_f_s, batch, d_s),
                        &rt,
                        &rs,
                        &ref_rows,
                    )
                    .unwrap();
                let mut dl = nan(batch * 2 * ns);
                launch(|| unsafe {
                    bwd(
                        dim(batch as u32),
                        dim(block),
                        (8 * ns) as u32,
                        dl.as_mut_ptr(),
                        w.as_ptr(),
                        d_f_t.as_ptr(),
                        d_f_s.as_ptr(),
                        dict_ptr(&ht),
                        dict_ptr(&hs),
                        rows.as_ptr(),
                        batch as i32,
                        ns as i32,
                        d_t as i32,
                        d_s as i32,
                    )
                });
                check(
                    &format!("convex_combine_bwd {tag} block {block}"),
                    &dl,
                    &down(&want_dl),
                    tol,
                );
            }

            let n = batch * ns;
            let want_g = down(&Ref::new().dict_gather(&rt, &ref_rows).unwrap());
            for (g, b) in flat_configs(n * d_t) {
                let mut out = nan(n * d_t);
                launch(|| unsafe {
                    gather(
                        g,
                        b,
                        0,
                        out.as_mut_ptr(),
                        dict_ptr(&ht),
                        rows.as_ptr(),
                        n as i32,
                        d_t as i32,
                    )
                });
                check(
                    &format!("dict_gather {tag}"),
                    &out,
                    &want_g,
                    TOL_ELEMENTWISE,
                );
            }
        }
    }};
}

#[test]
fn convex_combine_fwd_bwd_and_gather() {
    let mut r = rng(15);
    convex_case!(
        &mut r,
        Precision::F32,
        convex_combine_fwd_f32,
        convex_combine_bwd_f32,
        dict_gather_f32
    );
    convex_case!(
        &mut r,
        Precision::Bf16,
        convex_combine_fwd_bf16,
        convex_combine_bwd_bf16,
        dict_gather_bf16
    );
    convex_case!(
        &mut r,
        Precision::F16,
        convex_combine_fwd_f16,
        convex_combine_bwd_f16,
        dict_gather_f16
    );
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
    let edir = root.join("tests").join("emu");
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
