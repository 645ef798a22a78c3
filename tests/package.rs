//! What `cargo package` would publish (`include` in Cargo.toml): everything the crate needs to build
//! (every kernel source build.rs embeds, every file an `include_str!` names), and nothing
//! generated. `scripts/test.sh` also builds the crate from the packaged files themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn packaged(root: &Path) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "--offline",
            "--locked",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo package --list failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn files_under(root: &Path, dir: &str, ext: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| ext.iter().any(|x| p.extension().is_some_and(|e| e == *x)))
        .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn the_package_holds_what_the_build_needs_and_nothing_generated() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let list = packaged(&root);
    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".into(),
        "build.rs".into(),
        "README.md".into(),
        "docs/METHOD.md".into(),
        "src/lib.rs".into(),
        "src/main.rs".into(),
        "tests/ops/emu/cuda_emu.h".into(),
        "tests/ops/emu/launch.cpp".into(),
    ];
    let kernels = files_under(&root, "kernels", &["cu", "cuh"]);
    assert!(kernels.len() >= 8, "kernels/ holds {kernels:?}");
    needed.extend(kernels);
    needed.extend(files_under(&root, "examples", &["rs"]));
    let missing: Vec<&String> = needed.iter().filter(|f| !list.contains(*f)).collect();
    assert!(missing.is_empty(), "not packaged: {missing:?}");

    // Generated or machine-local: build outputs, the device bundle, virtual environments, the
    // fuzz crate and its corpora, downloaded data and weights.
    let generated = |f: &str| {
        ["target/", "gpu-bundle", ".venv", "fuzz/", "data/", "runs/"]
            .iter()
            .any(|p| f.starts_with(p))
            || [
                ".onnx",
                ".safetensors",
                ".npz",
                ".npy",
                ".gz",
                ".png",
                ".whl",
            ]
            .iter()
            .any(|x| f.ends_with(x))
    };
    let unwanted: Vec<&String> = list.iter().filter(|f| generated(f)).collect();
    assert!(
        unwanted.is_empty(),
        "generated files packaged: {unwanted:?}"
    );
    // No packaged file is large: the crate is its sources.
    for f in &list {
        let Ok(meta) = std::fs::metadata(root.join(f)) else {
            continue; // Cargo.toml.orig, .cargo_vcs_info.json: written by cargo into the package
        };
        assert!(meta.len() < 1 << 20, "{f} is {} bytes", meta.len());
    }
}
