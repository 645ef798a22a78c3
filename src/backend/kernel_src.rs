//! The CUDA kernel sources, embedded at build time by `build.rs` from `kernels/`. Not behind the
//! `cuda` feature: the NVRTC compile test and the host emulation of the kernels read them too.

/// Every `kernels/*.cu` and `kernels/*.cuh` as `(file name, source)`, sorted by name.
pub const KERNEL_SOURCES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/kernel_sources.rs"));

/// All embedded files, `(file name, source)`.
pub fn kernel_sources() -> &'static [(&'static str, &'static str)] {
    KERNEL_SOURCES
}

/// The source of one file, e.g. `source("layers.cu")` or `source("common.cuh")`.
pub fn source(file: &str) -> Option<&'static str> {
    KERNEL_SOURCES
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, s)| *s)
}

/// The kernel families: one per `.cu` file, named without the extension (`"layers"`, ...).
pub fn families() -> impl Iterator<Item = (&'static str, &'static str)> {
    KERNEL_SOURCES
        .iter()
        .filter_map(|(n, s)| n.strip_suffix(".cu").map(|f| (f, *s)))
}

/// The headers a family may include (`common.cuh`), as `(include name, source)`.
pub fn headers() -> impl Iterator<Item = (&'static str, &'static str)> {
    KERNEL_SOURCES
        .iter()
        .filter(|(n, _)| n.ends_with(".cuh"))
        .copied()
}
