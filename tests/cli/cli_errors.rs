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

/// A libcuda that exports only two of the driver functions the backend calls (as a stripped or
/// foreign library would): `gpu-info` and `run --device cuda` must name the file and the missing
/// functions and exit 1, never panic inside cudarc (exit 101) or report "no device".
#[cfg(feature = "cuda")]
#[test]
fn a_driver_library_lacking_functions_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fake.c");
    std::fs::write(
        &src,
        "int cuInit(unsigned f) { return 0; }\nint cuDriverGetVersion(int* v) { *v = 13000; return 0; }\n",
    )
    .unwrap();
    let lib = dir.path().join("libcuda.so.1");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        eprintln!("skipped: no C compiler ({cc}) to build the fake libcuda");
        return;
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_convexgan"))
            .args(args)
            .env("LD_LIBRARY_PATH", dir.path())
            .env_remove("CONVEXGAN_REQUIRE_GPU")
            .output()
            .unwrap()
    };
    let run_dir = dir.path().join("run");
    for args in [
        vec!["gpu-info"],
        vec![
            "run",
            "--device",
            "cuda",
            "--quiet",
            "--run-dir",
            run_dir.to_str().unwrap(),
        ],
    ] {
        let out = run(&args);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {all}");
        assert!(!all.contains("panicked"), "{args:?} panicked: {all}");
        for needle in [
            lib.to_str().unwrap(),
            "lacks",
            "cuLaunchKernel",
            "cuModuleLoadData",
        ] {
            assert!(all.contains(needle), "{args:?}: no {needle:?} in {all}");
        }
        assert!(!all.contains("cuInit,"), "{args:?}: cuInit is there: {all}");
    }
}

/// Without a driver library, `gpu-info` says it skipped and why, with its own exit status 3; with
/// CONVEXGAN_REQUIRE_GPU set (as on the GPU machine) the same is a failure.
#[test]
fn gpu_info_without_a_device_skips_unless_a_gpu_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let run = |require: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_convexgan"));
        c.arg("gpu-info").env("LD_LIBRARY_PATH", dir.path());
        if require {
            c.env("CONVEXGAN_REQUIRE_GPU", "1");
        } else {
            c.env_remove("CONVEXGAN_REQUIRE_GPU");
        }
        c.output().unwrap()
    };
    let probe = run(false);
    let stdout = String::from_utf8_lossy(&probe.stdout).into_owned();
    if probe.status.success() {
        eprintln!("skipped: this machine has a working GPU:\n{stdout}");
        return;
    }
    assert_eq!(probe.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("skipped: no device ("), "{stdout}");
    let required = run(true);
    assert_eq!(required.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&required.stderr).contains("CONVEXGAN_REQUIRE_GPU is set"));
}

/// Flags that the configuration cannot hold or that make no sense are refused before any work and
/// before anything is written: an integer above TOML's i64 range (found before only when the
/// finished stage wrote config.toml), a test limit of 0, a seed given twice to `compare`, and a
/// run directory that is a regular file.
#[test]
fn a_deeply_nested_configuration_gets_a_short_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("deep.toml");
    std::fs::write(&cfg, format!("preset = {}", "[".repeat(200_000))).unwrap();
    let out = convexgan(
        &["phase1", "--config", cfg.to_str().unwrap()],
        &dir.path().join("run"),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_clean_failure(&out, &["deep.toml"]);
    assert!(err.len() < 2000, "a {}-byte error message", err.len());
}

#[test]
fn bad_flags_are_refused_before_any_work_or_write() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let missing_data = dir.path().join("no-data");
    let data = missing_data.to_str().unwrap();
    for (args, needles) in [
        (
            vec!["phase1", "--seed", "9223372036854775808", "--data", data],
            vec!["seed (--seed)", "9223372036854775808", "largest integer"],
        ),
        (
            vec![
                "run",
                "--test-limit",
                "18446744073709551615",
                "--data",
                data,
            ],
            vec!["data.test_limit (--test-limit)", "largest integer"],
        ),
        (
            vec!["phase1", "--test-limit", "0", "--data", data],
            vec!["--test-limit", "at least 1"],
        ),
        (
            vec!["compare", "--seeds", "0,1,0", "--data", data],
            vec!["--seeds", "seed 0 is given twice"],
        ),
        (
            vec!["compare", "--methods", "phase1,smoothe", "--data", data],
            vec!["unknown method `smoothe`", "borderline-smote"],
        ),
        (
            vec!["compare", "--methods", "lws,crt,lws", "--data", data],
            vec!["--methods", "lws is given twice"],
        ),
        (
            vec!["eval", "--preset", "paper", "--data", data],
            vec!["--preset", "run directory's config.toml"],
        ),
        (
            vec!["run", "--resume", "--preset", "tiny", "--data", data],
            vec!["--resume", "--preset and --config cannot change it"],
        ),
    ] {
        let out = convexgan(&args, &run);
        assert_clean_failure(&out, &needles);
        // Refused before the data is looked at (the data directory does not exist) and before the
        // run directory is created.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("no-data"),
            "{args:?}: reached the data: {stderr}"
        );
        assert!(!run.exists(), "{args:?} created the run directory");
    }

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"keep me").unwrap();
    for stage in ["run", "phase1", "eval", "compare"] {
        let out = convexgan(&[stage, "--data", data], &file);
        assert_clean_failure(&out, &["--run-dir", "exists and is not a directory"]);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"keep me",
            "{stage} touched the file"
        );
    }
}
