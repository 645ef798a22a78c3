//! Helpers for tests that drive the real command line: a small Fashion-MNIST-shaped data set, a
//! configuration sized for it, and the checks every failure must pass.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_convexgan"))
}

/// `convexgan <args> --quiet --run-dir <run_dir>`.
pub fn convexgan(args: &[&str], run_dir: &Path) -> Output {
    bin()
        .args(args)
        .arg("--quiet")
        .arg("--run-dir")
        .arg(run_dir)
        .output()
        .unwrap()
}

/// `convexgan run` with the tiny preset and short schedules on a features file.
pub fn run_tiny_on_features(features: &Path, run_dir: &Path) -> Output {
    let f = features.to_str().expect("a UTF-8 path");
    let args = ["run", "--preset", "tiny", "--features", f];
    let short = ["--phase1-epochs", "2", "--epochs", "1", "--ns", "2"];
    convexgan(&[&args[..], &short[..]].concat(), run_dir)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", stderr(out));
}

/// Non-zero exit, no panic, and every needle in the message; returns the message.
pub fn clean_failure(out: &Output, needles: &[&str]) -> Result<String, String> {
    let err = stderr(out);
    if out.status.success() {
        return Err(format!("expected failure, got success; stderr: {err}"));
    }
    if err.contains("panicked") || out.status.code() == Some(101) {
        return Err(format!("the program panicked: {err}"));
    }
    for n in needles {
        if !err.contains(n) {
            return Err(format!("stderr does not mention {n:?}: {err}"));
        }
    }
    Ok(err)
}

pub fn gz(path: &Path, bytes: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

pub fn idx_images(n: u32, fill: impl Fn(u32, usize) -> u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, 28, 28] {
        v.extend(d.to_be_bytes());
    }
    for i in 0..n {
        v.extend((0..784).map(|p| fill(i, p)));
    }
    v
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

pub fn image_pattern(i: u32, p: usize) -> u8 {
    (((i % 10) as usize * 25 + p * 7 + (i as usize / 10) * 3) % 256) as u8
}

/// `per_class` images of each of 10 classes (labels `i % 10`), each class a different brightness
/// pattern so the heads can learn something; 50 test images.
pub fn write_small_dataset(dir: &Path, per_class: u32) {
    let n = per_class * 10;
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    gz(
        &dir.join("train-images-idx3-ubyte.gz"),
        &idx_images(n, image_pattern),
    );
    gz(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &idx_labels(&labels),
    );
    gz(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &idx_images(50, image_pattern),
    );
    gz(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &idx_labels(&labels[..50]),
    );
}

/// The tiny preset with a 5-per-class validation split, for the small data set above.
pub fn small_config_value(data: &Path) -> convexgan::config::Config {
    let mut cfg = convexgan::config::Config::tiny();
    cfg.data.dir = data.to_path_buf();
    cfg.data.val_per_class = 5;
    cfg.data.class_counts = Some(vec![40, 30, 25, 20, 15, 12, 10, 9, 8, 7]);
    cfg.phase1.epochs = 1;
    cfg.phase2.epochs = 1;
    cfg.phase2.ns = 4;
    cfg
}

pub fn write_config(path: &Path, cfg: &convexgan::config::Config) -> PathBuf {
    std::fs::write(path, cfg.to_toml().unwrap()).unwrap();
    path.to_path_buf()
}

/// Copies the files of `from` (not recursive) into a fresh `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// File names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
