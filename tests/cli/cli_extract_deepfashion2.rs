//! `convexgan extract` on DeepFashion2 through the real command line: the layout is told from the
//! root, the features file feeds `run --features`, and a table of hostile annotation files and
//! images, each of which must exit non-zero without a panic, name the file and the problem, and
//! leave no output.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cli_support::*;
use crate::fixture2::{edit_json, write_df2_fixture, Df2Info, Df2Spec};
use convexgan::data::features_file::FeatureSet;
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    info: Df2Info,
    root: PathBuf,
    vgg: PathBuf,
    out: PathBuf,
}

fn setup(spec: &Df2Spec) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion2");
    let info = write_df2_fixture(&root, spec);
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
        info,
        root,
        vgg,
        out,
        _dir: dir,
    }
}

fn extract(s: &Setup) -> std::process::Output {
    bin()
        .arg("extract")
        .arg("--data")
        .arg(&s.root)
        .arg("--backbone")
        .arg(&s.vgg)
        .arg("--features")
        .arg(&s.out)
        .args(["--pool", "1", "--batch", "4", "--quiet"])
        .output()
        .unwrap()
}

#[test]
fn extract_deepfashion2_then_run_on_the_features() {
    let s = setup(&Df2Spec::new(
        vec![30, 20, 14, 10, 8, 6, 6, 5, 5, 5, 5, 5, 5],
        vec![4; 13],
        12,
    ));
    assert_ok(&extract(&s), "extract");
    let set = FeatureSet::load(&s.out).unwrap();
    assert_eq!(set.n(), s.info.items.len());
    assert_eq!((set.classes, set.landmarks.as_ref().unwrap().k), (13, 294));
    let run_dir = s.root.parent().unwrap().join("run");
    let out = run_tiny_on_features(&s.out, &run_dir);
    assert_ok(&out, "run --features");
    assert!(run_dir.join("metrics.json").exists());
    let report = fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        report.contains("features") && report.contains("long sleeve outwear"),
        "{report}"
    );
    // Class names that do not fit the file are refused, naming it.
    for (names, needle) in [
        ("[\"a\", \"b\"]", "has 2 names for 13 classes"),
        ("{\"a\": 1}", "is not a list of names"),
    ] {
        let mut bad = set.clone();
        bad.info.insert("class_names".into(), names.into());
        let path = s.root.parent().unwrap().join("bad.safetensors");
        bad.save(&path).unwrap();
        let out = convexgan(
            &[
                "run",
                "--preset",
                "tiny",
                "--features",
                path.to_str().unwrap(),
            ],
            &s.root.parent().unwrap().join("bad_run"),
        );
        clean_failure(&out, &["bad.safetensors", "metadata 'class_names'", needle]).unwrap();
    }
}

type Corrupt = Box<dyn Fn(&Path, &Df2Info)>;

#[test]
fn hostile_deepfashion2_inputs() {
    let s = setup(&Df2Spec::every_category(1, 13));
    let first = s.info.items[0].clone();
    let a = first.annotation.clone();
    let cat = first.category as usize;
    let n = convexgan::data::deepfashion2::DEEPFASHION2_POINTS[cat];
    let name = convexgan::data::deepfashion2::DEEPFASHION2_CATEGORY_NAMES[cat];
    let wrong = format!(
        "category {} ({name}) has {n} landmarks but the list holds {}",
        cat + 1,
        n + 1
    );
    let past = format!("reaches past the {}×{} image", first.width, first.height);
    let (w, h) = (first.width, first.height);
    let cases: Vec<(&str, Vec<String>, Corrupt)> = vec![
        (
            "bad JSON",
            vec![a.clone(), "not valid JSON".into()],
            Box::new(|_, i| fs::write(i.annotation_path(0), b"{\"item1\": [").unwrap()),
        ),
        (
            "a triple too many",
            vec![a.clone(), "item1".into(), wrong],
            Box::new(|root, i| {
                edit_json(root, &i.items[0].annotation, |v| {
                    v["item1"]["landmarks"].as_array_mut().unwrap().extend([
                        json!(1),
                        json!(1),
                        json!(2),
                    ])
                })
            }),
        ),
        (
            "category_id 14",
            vec![
                a.clone(),
                "item1".into(),
                "category_id 14 is not one of 1..=13".into(),
            ],
            Box::new(|root, i| {
                edit_json(root, &i.items[0].annotation, |v| {
                    v["item1"]["category_id"] = json!(14)
                })
            }),
        ),
        (
            "box past the image",
            vec![a.clone(), "item1".into(), past],
            Box::new(move |root, i| {
                edit_json(root, &i.items[0].annotation, |v| {
                    v["item1"]["bounding_box"] = json!([0, 0, w + 5, h])
                })
            }),
        ),
        (
            "image without annotation",
            vec![first.image.clone(), "no annotation".into()],
            Box::new(|_, i| fs::remove_file(i.annotation_path(0)).unwrap()),
        ),
        (
            "annotation without image",
            vec![a.clone(), "no image".into()],
            Box::new(|_, i| fs::remove_file(i.image_path(0)).unwrap()),
        ),
        (
            "truncated image",
            vec![first.image.clone()],
            Box::new(|_, i| {
                let bytes = fs::read(i.image_path(0)).unwrap();
                fs::write(i.image_path(0), &bytes[..bytes.len() / 3]).unwrap()
            }),
        ),
    ];
    let a_bytes = fs::read(s.info.annotation_path(0)).unwrap();
    let i_bytes = fs::read(s.info.image_path(0)).unwrap();
    let mut failures = Vec::new();
    for (what, needles, corrupt) in &cases {
        corrupt(&s.root, &s.info);
        let out = extract(&s);
        fs::write(s.info.annotation_path(0), &a_bytes).unwrap();
        fs::write(s.info.image_path(0), &i_bytes).unwrap();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        match clean_failure(&out, &needles) {
            Ok(msg) => println!("{what:<26} {msg}"),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
        if s.out.exists() {
            failures.push(format!("{what}: a failed extract left {}", s.out.display()));
            let _ = fs::remove_file(&s.out);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_ok(&extract(&s), "extract on the restored fixture");
}
