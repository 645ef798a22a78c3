//! Bad input through the real command line: each case exits non-zero with a message naming the
//! cause, and never panics.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn convexgan(args: &[&str], run_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convexgan"))
        .args(args)
        .arg("--quiet")
        .arg("--run-dir")
        .arg(run_dir)
        .output()
        .unwrap()
}

fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "the program panicked: {stderr}"
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "stderr does not mention {n:?}: {stderr}"
        );
    }
}

fn gz(path: &Path, bytes: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

fn idx_images(n: u32, fill: impl Fn(u32, usize) -> u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, 28, 28] {
        v.extend(d.to_be_bytes());
    }
    for i in 0..n {
        v.extend((0..784).map(|p| fill(i, p)));
    }
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// A small Fashion-MNIST-shaped data set: `per_class` images of each of 10 classes, each class a
/// different brightness pattern so the heads can learn something.
fn write_small_dataset(dir: &Path, per_class: u32, labels_short_by: usize) {
    let n = per_class * 10;
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let img =
        |i: u32, p: usize| (((i % 10) as usize * 25 + p * 7 + (i as usize / 10) * 3) % 256) as u8;
    gz(&dir.join("train-images-idx3-ubyte.gz"), &idx_images(n, img));
    gz(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &idx_labels(&labels[..labels.len() - labels_short_by]),
    );
    gz(&dir.join("t10k-images-idx3-ubyte.gz"), &idx_images(50, img));
    gz(
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &idx_labels(&labels[..50]),
    );
}

/// The tiny preset with a 5-per-class validation split, for the small data sets above.
fn small_config(dir: &Path, data: &Path) -> std::path::PathBuf {
    let mut cfg = convexgan::config::Config::tiny();
    cfg.data.dir = data.to_path_buf();
    cfg.data.val_per_class = 5;
    cfg.data.class_counts = Some(vec![40, 30, 25, 20, 15, 12, 10, 9, 8, 7]);
    cfg.phase1.epochs = 1;
    cfg.phase2.epochs = 1;
    cfg.phase2.ns = 4;
    let p = dir.join("small.toml");
    std::fs::write(&p, cfg.to_toml().unwrap()).unwrap();
    p
}

#[test]
fn missing_data_directory() {
    let run = tempfile::tempdir().unwrap();
    let out = convexgan(&["phase1", "--data", "/nonexistent/fmnist"], run.path());
    assert_clean_failure(&out, &["/nonexistent/fmnist"]);
}

#[test]
fn truncated_and_corrupt_gzip() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    write_small_dataset(data.path(), 60, 0);
    let cfg = small_config(run.path(), data.path());
    let img = data.path().join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes[..bytes.len() / 2]).unwrap();
    let out = convexgan(&["phase1", "--config", cfg.to_str().unwrap()], run.path());
    assert_clean_failure(&out, &["train-images-idx3-ubyte.gz"]);

    let mut garbage = bytes.clone();
    for b in garbage.iter_mut().skip(20).take(200) {
        *b ^= 0x5a;
    }
    std::fs::write(&img, &garbage).unwrap();
    let out = convexgan(&["phase1", "--config", cfg.to_str().unwrap()], run.path());
    assert_clean_failure(&out, &["train-images-idx3-ubyte.gz"]);
    assert!(
        !run.path().join("phase1.safetensors").exists(),
        "no checkpoint may be left behind"
    );
}

#[test]
fn image_and_label_counts_disagree() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    write_small_dataset(data.path(), 60, 3);
    let cfg = small_config(run.path(), data.path());
    let out = convexgan(&["phase1", "--config", cfg.to_str().unwrap()], run.path());
    assert_clean_failure(&out, &["train-labels-idx1-ubyte.gz"]);
}

#[test]
fn class_counts_above_what_the_data_holds() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    write_small_dataset(data.path(), 60, 0);
    let cfg = small_config(run.path(), data.path());
    let out = convexgan(
        &[
            "phase1",
            "--config",
            cfg.to_str().unwrap(),
            "--class-counts",
            "40,30,25,20,15,12,10,9,8,70",
        ],
        run.path(),
    );
    assert_clean_failure(&out, &["class 9"]);
}

#[test]
fn ns_above_the_smallest_dictionary() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    write_small_dataset(data.path(), 60, 0);
    let cfg = small_config(run.path(), data.path());
    let ok = convexgan(&["phase1", "--config", cfg.to_str().unwrap()], run.path());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = convexgan(&["build-dict"], run.path());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = convexgan(&["phase2", "--ns", "500"], run.path());
    assert_clean_failure(&out, &["--ns", "500", "class 9"]);
}

#[test]
fn cuda_device_without_gpu_or_feature_is_a_clear_error() {
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        eprintln!("skipped: this machine has an NVIDIA driver, so --device cuda may work here");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let out = convexgan(&["run", "--device", "cuda", "--preset", "tiny"], run.path());
    assert_clean_failure(&out, &["CUDA"]);
}
