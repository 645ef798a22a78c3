//! Embeds the CUDA kernel sources (`kernels/*.cu`, `kernels/*.cuh`) so that the binary compiles them
//! at run time with NVRTC and needs no files next to it. Generates `$OUT_DIR/kernel_sources.rs`, a
//! sorted `&[(file name, source)]` included by `src/backend/kernel_src.rs`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("kernels");
    println!("cargo:rerun-if-changed=kernels");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("kernels/ directory is missing")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("cu" | "cuh")))
        .collect();
    // Sorted so that the generated file (and the families' order) is reproducible.
    files.sort();
    let mut out = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .expect("kernel file name is not UTF-8");
        let abs = std::fs::canonicalize(path).expect("cannot resolve kernel path");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("kernel_sources.rs");
    std::fs::write(dest, out).expect("cannot write kernel_sources.rs");
}
