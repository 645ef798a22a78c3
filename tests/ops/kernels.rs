//! Every `kernels/*.cu` compiles with NVRTC for `compute_80` and `compute_90` with exactly the
//! options the backend uses, without warnings; every `.entry` of the PTX has exactly the parameter
//! list src/backend/kernel_abi.rs declares for it (count, order, width, pointer vs scalar), and
//! nothing undeclared is exported; each family also compiles to an sm_90 cubin (what the backend
//! loads first); then `ptxas -arch=sm_90 -v` assembles each PTX, and the per-kernel register and
//! spill table is printed. Any spill fails the test.
//!
//! Without libnvrtc on the library path these tests print why and pass, unless
//! `CONVEXGAN_REQUIRE_NVRTC` is set (scripts/test.sh sets it when it found NVIDIA's wheel).
//! `populate_ptx_cache` is ignored: scripts/gpu-prepare.sh runs it alone, as
//! `ops --ignored --exact kernels::populate_ptx_cache`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use convexgan::backend::cuda::nvrtc;
use convexgan::backend::kernel_abi::{self, KernelSig, Param, ParamKind};
use convexgan::backend::kernel_src;

const ARCHS: [&str; 2] = ["compute_80", "compute_90"];

/// The repository: `$CONVEXGAN_REPO` when set (scripts/gpu-check.sh runs this binary on another
/// machine, where the build's path does not exist), else where it was built.
fn repo() -> PathBuf {
    std::env::var_os("CONVEXGAN_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `true` when NVRTC can be used; otherwise prints why and returns `false`, or panics when
/// `CONVEXGAN_REQUIRE_NVRTC` says NVRTC must be there.
fn nvrtc_or_skip() -> bool {
    match nvrtc::available().and_then(|_| nvrtc::version()) {
        Ok(_) => true,
        Err(e) if std::env::var_os("CONVEXGAN_REQUIRE_NVRTC").is_some() => {
            panic!("{e} (CONVEXGAN_REQUIRE_NVRTC is set, so NVRTC must load)")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

/// `(family, arch) → PTX`, compiled once for the whole test binary.
fn compiled() -> &'static BTreeMap<(String, String), String> {
    static PTX: OnceLock<BTreeMap<(String, String), String>> = OnceLock::new();
    PTX.get_or_init(|| {
        let mut out = BTreeMap::new();
        let mut failures = Vec::new();
        for (family, source) in kernel_src::families() {
            for arch in ARCHS {
                match nvrtc::compile(&format!("{family}.cu"), source, arch) {
                    Ok(c) if c.log.is_empty() => {
                        out.insert((family.to_string(), arch.to_string()), c.ptx);
                    }
                    Ok(c) => {
                        failures.push(format!("kernels/{family}.cu ({arch}) warns:\n{}", c.log))
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        out
    })
}

/// The `.entry` names of a PTX module.
fn entries(ptx: &str) -> BTreeSet<String> {
    ptx.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix(".visible .entry ")?;
            Some(rest.split(['(', ' ']).next()?.to_string())
        })
        .collect()
}

#[test]
fn every_kernel_file_is_embedded() {
    let dir = repo().join("kernels");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".cu") || n.ends_with(".cuh"))
        .collect();
    let embedded: BTreeSet<String> = kernel_src::kernel_sources()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        on_disk, embedded,
        "build.rs embeds exactly kernels/*.cu{{,h}}"
    );
    for (name, src) in kernel_src::kernel_sources() {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(*src, on_disk, "embedded {name} is stale");
    }
    assert!(kernel_src::source("common.cuh").is_some());
}

#[test]
fn every_family_compiles_for_sm80_and_sm90_and_exports_its_abi() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = compiled();
    let (major, minor) = nvrtc::version().unwrap();
    println!(
        "NVRTC {major}.{minor}, options {:?}",
        nvrtc::compile_options("compute_XY")
    );
    for ((family, arch), code) in ptx {
        assert!(
            code.contains(&format!(".target sm_{}", &arch["compute_".len()..])),
            "kernels/{family}.cu: PTX not for {arch}"
        );
        let have = entries(code);
        let want: BTreeSet<String> = kernel_abi::family(family)
            .map(|s| s.name.to_string())
            .collect();
        assert!(
            !want.is_empty(),
            "kernels/{family}.cu declares no entry point"
        );
        let missing: Vec<_> = want.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "kernels/{family}.cu ({arch}) lacks ABI entry points {missing:?}; it has {have:?}"
        );
        println!("{family:12} {arch}: {} entry points", have.len());
    }
}

/// The launch ABI: every `.entry` NVRTC produced against its declaration, parameter by parameter.
#[test]
fn ptx_params_match_the_declared_abi() {
    if !nvrtc_or_skip() {
        return;
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for ((family, arch), code) in compiled() {
        let p = kernel_abi::check_ptx(family, code);
        problems.extend(p.into_iter().map(|p| format!("{arch}: {p}")));
        checked += kernel_abi::family(family).count();
    }
    assert!(
        problems.is_empty(),
        "ABI mismatches:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        checked,
        kernel_abi::SIGNATURES.len() * ARCHS.len(),
        "every declared kernel was checked"
    );
    println!("{checked} entry points match their declarations");
}

/// The same check catches a declaration that disagrees with the kernel: two arguments swapped
/// (pointer and scalar), a float declared as an int, an argument left out.
#[test]
fn abi_check_fails_a_swapped_or_missing_argument() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = &compiled()[&("elementwise".to_string(), "compute_90".to_string())];
    let entries = kernel_abi::ptx_entries(ptx);
    let params = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("{name} not in the PTX"))
    };
    let axpy = kernel_abi::find("axpy_f32").unwrap();
    assert!(kernel_abi::check_entry(axpy, &params("axpy_f32")).is_empty());

    // axpy_f32(float* y, const float* x, float alpha, int n) declared with x and alpha swapped.
    let mut swapped: Vec<Param> = axpy.params.to_vec();
    swapped.swap(1, 2);
    let swapped: &'static [Param] = Box::leak(swapped.into_boxed_slice());
    let bad = KernelSig {
        params: swapped,
        ..*axpy
    };
    let p = kernel_abi::check_entry(&bad, &params("axpy_f32"));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].contains("parameter 1 `alpha`"), "{p:?}");

    // alpha declared as an int: same width, but not a float in the PTX.
    let mut retyped: Vec<Param> = axpy.params.to_vec();
    retyped[2].kind = ParamKind::I32;
    let retyped: &'static [Param] = Box::leak(retyped.into_boxed_slice());
    let p = kernel_abi::check_entry(
        &KernelSig {
            params: retyped,
            ..*axpy
        },
        &params("axpy_f32"),
    );
    assert_eq!(p.len(), 1, "{p:?}");

    // n left out.
    let short = KernelSig {
        params: &axpy.params[..3],
        ..*axpy
    };
    let p = kernel_abi::check_entry(&short, &params("axpy_f32"));
    assert!(
        p.iter()
            .any(|m| m.contains("3 parameters, the PTX entry has 4")),
        "{p:?}"
    );
}

/// The backend loads a cubin for the device's real architecture first (no JIT by the driver):
/// each family compiles to an ELF image for sm_90, and the cache keeps it beside the PTX.
#[test]
fn every_family_compiles_to_an_sm90_cubin_and_caches_it() {
    if !nvrtc_or_skip() {
        return;
    }
    for (family, source) in kernel_src::families() {
        let (cubin, log) = nvrtc::compile_cubin(&format!("{family}.cu"), source, "sm_90")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            cubin.starts_with(b"\x7fELF"),
            "kernels/{family}.cu: not an ELF cubin"
        );
        assert!(
            log.is_empty(),
            "kernels/{family}.cu warns for sm_90:\n{log}"
        );
    }
    assert!(nvrtc::compile_cubin("adam.cu", "", "compute_90").is_err());
    assert_eq!(nvrtc::sm_for((9, 0)), "sm_90");
    let src = kernel_src::source("adam.cu").unwrap();
    let cubin = nvrtc::cache_path("adam.cu", src, "sm_90");
    let ptx = nvrtc::cache_path("adam.cu", src, "compute_90");
    if let (Some(c), Some(p)) = (cubin, ptx) {
        assert_eq!(c.extension().unwrap(), "cubin");
        assert_eq!(p.extension().unwrap(), "ptx");
    }
}

fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CONVEXGAN_PTXAS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let script = repo().join("scripts/cuda-paths.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("ptxas")
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[derive(Default, Debug)]
struct Usage {
    regs: u32,
    stack: u32,
    spill_stores: u32,
    spill_loads: u32,
    smem: u32,
}

/// The number just before `unit` in `line`, e.g. `num_before(l, "registers")`.
fn num_before(line: &str, unit: &str) -> Option<u32> {
    let i = line.find(unit)?;
    line[..i].split_whitespace().last()?.parse().ok()
}

/// Parses `ptxas -v` output into `kernel → usage`.
fn parse_ptxas(log: &str) -> BTreeMap<String, Usage> {
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    let mut current = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(name) = &current else { continue };
        let u = out.get_mut(name).unwrap();
        if line.contains("spill stores") {
            u.stack = num_before(line, "bytes stack frame").unwrap_or(0);
            u.spill_stores = num_before(line, "bytes spill stores").unwrap_or(0);
            u.spill_loads = num_before(line, "bytes spill loads").unwrap_or(0);
        }
        if line.contains("Used") && line.contains("registers") {
            u.regs = num_before(line, "registers").unwrap_or(0);
            u.smem = num_before(line, "bytes smem").unwrap_or(0);
        }
    }
    out
}

#[test]
fn ptxas_sm90_registers_and_no_spills() {
    if !nvrtc_or_skip() {
        return;
    }
    let Some(ptxas) = ptxas() else {
        eprintln!("skipped: no ptxas (set CONVEXGAN_PTXAS or install nvidia-cuda-nvcc)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for ((family, arch), code) in compiled() {
        if arch != "compute_90" {
            continue;
        }
        let src = dir.path().join(format!("{family}.ptx"));
        std::fs::write(&src, code).unwrap();
        let out = Command::new(&ptxas)
            .args(["-arch=sm_90", "-v", "-o"])
            .arg(dir.path().join(format!("{family}.cubin")))
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", ptxas.display()));
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ptxas failed on kernels/{family}.cu:\n{log}"
        );
        let usage = parse_ptxas(&log);
        assert!(
            !usage.is_empty(),
            "no kernels found in ptxas output:\n{log}"
        );
        assert_eq!(
            usage.keys().cloned().collect::<BTreeSet<_>>(),
            entries(code),
            "ptxas reported other kernels than the PTX has"
        );
        for (kernel, u) in usage {
            rows.push((family.clone(), kernel, u));
        }
    }
    println!(
        "{:12} {:28} {:>5} {:>6} {:>7} {:>7} {:>6} {:>9}",
        "family", "kernel (sm_90)", "regs", "stack", "spill-s", "spill-l", "smem", "max block"
    );
    for (family, kernel, u) in &rows {
        // Registers bound the block size: 64 Ki registers per block, allocated per warp.
        let max_block = 65536u32
            .checked_div(u.regs)
            .map_or(1024, |b| (b / 32 * 32).min(1024));
        println!(
            "{family:12} {kernel:28} {:>5} {:>6} {:>7} {:>7} {:>6} {:>9}",
            u.regs, u.stack, u.spill_stores, u.spill_loads, u.smem, max_block
        );
    }
    let spills: Vec<_> = rows
        .iter()
        .filter(|(_, _, u)| u.spill_stores > 0 || u.spill_loads > 0)
        .map(|(f, k, u)| {
            format!(
                "{f}/{k}: {} B stored, {} B loaded",
                u.spill_stores, u.spill_loads
            )
        })
        .collect();
    assert!(spills.is_empty(), "register spills: {spills:?}");
    // sum_scaled_f32 is launched with up to 1024 threads.
    if let Some((_, _, u)) = rows.iter().find(|(_, k, _)| k == "sum_scaled_f32") {
        assert!(
            u.regs <= 64,
            "sum_scaled_f32 uses {} registers; 1024 threads need ≤ 64",
            u.regs
        );
    }
}

#[test]
fn ptx_cache_round_trip() {
    if !nvrtc_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The cache location is the process's: nothing else may open a device (which loads every
    // family through the cache) while it points here, and it is restored afterwards, even when an
    // assertion below fails.
    let _env = crate::PTX_CACHE_ENV
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    struct Restore(Option<std::ffi::OsString>);
    impl Drop for Restore {
        fn drop(&mut self) {
            match self.0.take() {
                Some(v) => std::env::set_var("CONVEXGAN_PTX_CACHE", v),
                None => std::env::remove_var("CONVEXGAN_PTX_CACHE"),
            }
        }
    }
    let _restore = Restore(std::env::var_os("CONVEXGAN_PTX_CACHE"));
    std::env::set_var("CONVEXGAN_PTX_CACHE", dir.path());
    let src = kernel_src::source("adam.cu").expect("adam.cu embedded");
    let (first, cached) = nvrtc::ptx_for("adam.cu", src, "compute_90").unwrap();
    assert!(!cached, "empty cache directory served a PTX");
    let path = nvrtc::cache_path("adam.cu", src, "compute_90").unwrap();
    assert!(
        path.starts_with(dir.path()) && path.exists(),
        "{} not written",
        path.display()
    );
    let (second, cached) = nvrtc::ptx_for("adam.cu", src, "compute_90").unwrap();
    assert!(cached, "second call recompiled");
    assert_eq!(first, second);
    assert_ne!(
        nvrtc::cache_key("adam.cu", src, "compute_90"),
        nvrtc::cache_key("adam.cu", src, "compute_80"),
        "the architecture must be part of the key"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Fills `$CONVEXGAN_PTX_CACHE` with every family's PTX for the common data-centre and desktop
/// architectures, so that a GPU machine without libnvrtc can still load the kernels.
/// scripts/gpu-prepare.sh runs it; it is not part of the normal test run.
#[test]
#[ignore]
fn populate_ptx_cache() {
    let dir = std::env::var_os("CONVEXGAN_PTX_CACHE").expect("set CONVEXGAN_PTX_CACHE");
    nvrtc::available().unwrap();
    for (family, source) in kernel_src::families() {
        let file = format!("{family}.cu");
        for arch in ["compute_80", "compute_86", "compute_89", "compute_90"] {
            nvrtc::ptx_for(&file, source, arch).unwrap();
            let path = nvrtc::cache_path(&file, source, arch).unwrap();
            assert!(path.exists(), "{} not written", path.display());
        }
        // Machine code for the same devices, which the backend prefers to PTX.
        for sm in ["sm_80", "sm_86", "sm_89", "sm_90"] {
            nvrtc::cubin_for(&file, source, sm).unwrap();
            let path = nvrtc::cache_path(&file, source, sm).unwrap();
            assert!(path.exists(), "{} not written", path.display());
        }
    }
    println!(
        "PTX and cubin cache filled in {}",
        Path::new(&dir).display()
    );
}
