//! `convexgan extract`, `make-backbone` and `--features` through the real command line, with the
//! hostile inputs of the DeepFashion path: broken models, images, annotations and features files.
//! Each must exit non-zero without a panic, name the file and the problem, and leave no output.

use std::path::{Path, PathBuf};

use crate::cli_support::*;
use crate::fixture::{write_fixture, FixtureSpec};
use convexgan::data::features_file::FeatureSet;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    vgg: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion");
    write_fixture(&root, &FixtureSpec::new(vec![8, 6, 4], 3));
    let vgg = dir.path().join("tiny.onnx");
    assert_ok(
        &bin()
            .args(["make-backbone", "--path"])
            .arg(&vgg)
            .output()
            .unwrap(),
        "make-backbone",
    );
    let out = dir.path().join("features.safetensors");
    Setup {
        root,
        vgg,
        out,
        _dir: dir,
    }
}

fn extract(s: &Setup, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("extract")
        .arg("--data")
        .arg(&s.root)
        .arg("--backbone")
        .arg(&s.vgg)
        .arg("--features")
        .arg(&s.out)
        .args(["--pool", "2", "--quiet"])
        .args(extra)
        .output()
        .unwrap()
}

fn fails_cleanly(s: &Setup, out: &std::process::Output, needles: &[&str]) {
    if let Err(e) = clean_failure(out, needles) {
        panic!("{e}");
    }
    assert!(!s.out.exists(), "a failed extract left {}", s.out.display());
}

#[test]
fn extract_then_run_on_the_features() {
    let s = setup();
    assert_ok(&extract(&s, &[]), "extract");
    let set = FeatureSet::load(&s.out).unwrap();
    assert_eq!(set.n(), 18);
    assert_eq!(set.dim(), 32 * 4);
    let run_dir = s.root.parent().unwrap().join("run");
    let out = run_tiny_on_features(&s.out, &run_dir);
    assert_ok(&out, "run --features");
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(report.contains("features"), "{report}");
    // Two backbones (the paper's two streams): every stage reads the split of x back from the
    // Phase 1 file, and `compare` runs every method on the features.
    let shape = s.root.parent().unwrap().join("shape.onnx");
    assert_ok(
        &bin()
            .args(["make-backbone", "--seed", "1", "--path"])
            .arg(&shape)
            .output()
            .unwrap(),
        "make-backbone",
    );
    let two = s.root.parent().unwrap().join("two.safetensors");
    let out = bin()
        .arg("extract")
        .arg("--data")
        .arg(&s.root)
        .arg("--texture-backbone")
        .arg(&s.vgg)
        .arg("--shape-backbone")
        .arg(&shape)
        .arg("--features")
        .arg(&two)
        .args(["--pool", "1", "--quiet"])
        .output()
        .unwrap();
    assert_ok(&out, "extract with two backbones");
    let set = FeatureSet::load(&two).unwrap();
    assert_eq!((set.d_in_t, set.d_in_s), (32, Some(32)));
    let run_two = s.root.parent().unwrap().join("run-two");
    let tiny = [
        "--preset",
        "tiny",
        "--features",
        two.to_str().unwrap(),
        "--phase1-epochs",
        "2",
        "--epochs",
        "1",
        "--ns",
        "2",
    ];
    assert_ok(
        &convexgan(&[&["run"], &tiny[..]].concat(), &run_two),
        "run, two backbones",
    );
    let config_of_run = std::fs::read(run_two.join("config.toml")).unwrap();
    let out = convexgan(
        &[&["compare", "--seeds", "0", "--lambda", "7"], &tiny[..]].concat(),
        &run_two,
    );
    assert_ok(&out, "compare, two backbones");
    // The comparison keeps its configuration to itself: the run's config.toml is untouched.
    assert_eq!(
        std::fs::read(run_two.join("config.toml")).unwrap(),
        config_of_run,
        "compare replaced the run's config.toml"
    );
    let compared = std::fs::read_to_string(run_two.join("compare_config.toml")).unwrap();
    assert!(compared.contains("lambda = 7.0\n"), "{compared}");
    let table = std::fs::read_to_string(run_two.join("compare.md")).unwrap();
    assert!(
        table.contains("Convex-GAN") && table.contains("features"),
        "{table}"
    );
    // The long-tail view, the per-class scores and each method's three plots.
    assert!(
        table.contains("Long-tail view") && table.contains("ECE") && table.contains("LWS"),
        "{table}"
    );
    for f in [
        "compare_per_class.md",
        "compare_plots/phase1_confusion.png",
        "compare_plots/lws_reliability.png",
        "compare_plots/convexgan-ce_recall.png",
    ] {
        let bytes = std::fs::read(run_two.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(f.ends_with(".md") || bytes.starts_with(b"\x89PNG"), "{f}");
    }
    // --features and Fashion-MNIST's own flags do not mix.
    let out = convexgan(&["run", "--features", "x", "--imbalance", "10"], &run_dir);
    clean_failure(&out, &["--imbalance"]).unwrap();
}

#[test]
fn hostile_models() {
    let s = setup();
    let write = |bytes: &[u8]| std::fs::write(&s.vgg, bytes).unwrap();
    let good = std::fs::read(&s.vgg).unwrap();
    write(b"not a protobuf at all \xff\xff\xff");
    fails_cleanly(&s, &extract(&s, &[]), &["tiny.onnx", "not an ONNX model"]);
    write(&good[..good.len() / 2]);
    fails_cleanly(&s, &extract(&s, &[]), &["tiny.onnx"]);
    write(&good);
    fails_cleanly(
        &s,
        &extract(&s, &["--output", "nope"]),
        &["tiny.onnx", "nope"],
    );
    std::fs::remove_file(&s.vgg).unwrap();
    fails_cleanly(&s, &extract(&s, &[]), &["tiny.onnx"]);
}

#[test]
fn hostile_images_and_annotations() {
    let s = setup();
    // The first image of the partition list, cut short.
    let first = first_image(&s.root);
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(&first, &bytes[..bytes.len() / 3]).unwrap();
    let name = first.file_name().unwrap().to_str().unwrap().to_string();
    fails_cleanly(&s, &extract(&s, &[]), &[&name]);
    std::fs::remove_file(&first).unwrap();
    fails_cleanly(&s, &extract(&s, &[]), &[&name]);
    std::fs::write(&first, bytes).unwrap();
    // A landmark row with a field too few.
    let lm = s.root.join("Anno/list_landmarks.txt");
    let text = std::fs::read_to_string(&lm).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let cut = lines[2]
        .rsplit_once(char::is_whitespace)
        .unwrap()
        .0
        .to_string();
    lines[2] = cut;
    std::fs::write(&lm, lines.join("\n")).unwrap();
    fails_cleanly(&s, &extract(&s, &[]), &["list_landmarks.txt", "line 3"]);
    // No data directory at all.
    let out = bin()
        .args([
            "extract",
            "--data",
            "/nonexistent/deepfashion",
            "--backbone",
        ])
        .arg(&s.vgg)
        .arg("--features")
        .arg(&s.out)
        .output()
        .unwrap();
    fails_cleanly(&s, &out, &["/nonexistent/deepfashion"]);
    // The GPU path on a machine without one (or a build without cuDNN): an error, not a panic.
    std::fs::write(&lm, text).unwrap();
    let out = extract(&s, &["--device", "cuda"]);
    if !out.status.success() {
        fails_cleanly(&s, &out, &["CUDA"]);
    }
}

fn first_image(root: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root.join("Eval/list_eval_partition.txt")).unwrap();
    let name = text
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    root.join(name)
}

#[test]
fn hostile_features_files() {
    let s = setup();
    assert_ok(&extract(&s, &[]), "extract");
    let good = FeatureSet::load(&s.out).unwrap();
    let run_dir = s.root.parent().unwrap().join("run");
    let run = |what: &str, set: Option<&FeatureSet>, raw: Option<&[u8]>, needles: &[&str]| {
        let path = s.root.parent().unwrap().join("bad.safetensors");
        match (set, raw) {
            (Some(set), _) => set.save(&path).unwrap(),
            (_, Some(b)) => std::fs::write(&path, b).unwrap(),
            _ => unreachable!(),
        }
        let out = convexgan(
            &[
                "run",
                "--preset",
                "tiny",
                "--features",
                path.to_str().unwrap(),
            ],
            &run_dir,
        );
        let mut all = vec!["bad.safetensors"];
        all.extend_from_slice(needles);
        if let Err(e) = clean_failure(&out, &all) {
            panic!("{what}: {e}");
        }
        assert!(
            !run_dir.join("config.toml").exists(),
            "{what}: the failed run wrote its config"
        );
    };
    let bytes = std::fs::read(&s.out).unwrap();
    run("truncated", None, Some(&bytes[..bytes.len() - 100]), &[]);
    run("not safetensors", None, Some(b"hello"), &[]);
    let mut bad = good.clone();
    bad.x[5] = f32::NAN;
    run("NaN feature", Some(&bad), None, &["non-finite"]);
    let mut bad = good.clone();
    bad.labels[0] = 50;
    run("label out of range", Some(&bad), None, &["label"]);
    let mut bad = good.clone();
    bad.image_ids.pop();
    run("ids short", Some(&bad), None, &["image ids"]);
    let mut bad = good.clone();
    bad.classes = 100_000_000_000;
    run(
        "1e11 classes",
        Some(&bad),
        None,
        &["metadata 'classes'", "100000000000"],
    );
    let mut bad = good.clone();
    bad.split
        .iter_mut()
        .for_each(|p| *p = convexgan::data::features_file::Split::Train);
    run("no test images", Some(&bad), None, &["test"]);
    let mut bad = good.clone();
    if let Some(l) = bad.landmarks.as_mut() {
        l.visible[3] = 0.5;
    }
    run("visibility not 0/1", Some(&bad), None, &["visibility"]);
}

#[test]
fn a_features_run_too_large_for_memory_is_refused_before_it_allocates() {
    // The estimate uses the file's own sizes: 10^8-wide streams over its features need far more
    // than any machine here, and must be refused, not attempted (it once aborted after 3.7 GB).
    let s = setup();
    assert_ok(&extract(&s, &[]), "extract");
    let mut cfg = convexgan::config::Config::tiny();
    cfg.data.features = Some(s.out.clone());
    cfg.model.stream_widths = vec![100_000_000, 16];
    let config = write_config(&s.root.parent().unwrap().join("huge.toml"), &cfg);
    let run_dir = s.root.parent().unwrap().join("huge_run");
    let out = convexgan(&["phase1", "--config", config.to_str().unwrap()], &run_dir);
    let e = clean_failure(&out, &["huge.toml", "needs about", "GiB", "Phase 1"]).unwrap();
    println!("{e}");
    assert!(
        !run_dir.exists(),
        "the refused run left {}: {e}",
        run_dir.display()
    );
}
