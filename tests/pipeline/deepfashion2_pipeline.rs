//! DeepFashion2 end to end on a generated data set in its exact layout: items through the repo's
//! own VGG-shaped ONNX backbone (`extract`), each with its category's block of the 294 landmark
//! slots on the heatmap grid, then the whole pipeline on the features file, reporting with the
//! category names the file carries.

use std::fs;
use std::path::Path;

use convexgan::backend::Cpu;
use convexgan::config::Config;
use convexgan::data::deepfashion2::{
    load_deepfashion2, DEEPFASHION2_CATEGORY_NAMES, DEEPFASHION2_LANDMARKS,
};
use convexgan::data::features_file::{FeatureSet, Split};
use convexgan::data::{Letterbox, HEATMAP_GRID, IMAGE_SIZE};
use convexgan::internal::app::{self, Overrides, RunDir};
use convexgan::internal::backbone::onnx_writer::{write_vgg, VggSpec};
use convexgan::internal::extract::{extract, ExtractDevice, ExtractOptions};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use serde_json::json;

use crate::fixture2::{write_df2_fixture, Df2Spec};

const K: usize = DEEPFASHION2_LANDMARKS;

fn options(root: &Path, vgg: &Path, features: &Path) -> ExtractOptions {
    ExtractOptions {
        data: root.to_path_buf(),
        texture_backbone: vgg.to_path_buf(),
        texture_output: None,
        shape_backbone: None,
        shape_output: None,
        features: features.to_path_buf(),
        pool: 2,
        batch: 8,
        limit: None,
        device: ExtractDevice::Cpu,
        progress: false,
    }
}

#[test]
fn extract_writes_every_item_with_its_slots() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion2");
    let info = write_df2_fixture(&root, &Df2Spec::every_category(2, 6));
    let vgg = dir.path().join("vgg.onnx");
    write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
    let out = dir.path().join("f.safetensors");
    let written = extract(&options(&root, &vgg, &out)).unwrap();
    let set = FeatureSet::load(&out).unwrap();
    assert_eq!(set, written, "the file holds what extract returned");
    assert_eq!(set.n(), info.items.len());
    assert_eq!(set.classes, 13);
    assert_eq!(set.dim(), 32 * 4);
    let names: Vec<String> = serde_json::from_str(&set.info["class_names"]).unwrap();
    assert_eq!(names, DEEPFASHION2_CATEGORY_NAMES);
    let items = load_deepfashion2(&root, None).unwrap();
    let lm = set.landmarks.as_ref().unwrap();
    assert_eq!(lm.k, K);
    let (mut shown, mut hidden) = (0, 0);
    for (i, it) in items.iter().enumerate() {
        assert_eq!(set.image_ids[i], it.id());
        assert_eq!(set.labels[i], it.category);
        let want_split = match it.partition {
            convexgan::data::Partition::Train => Split::Train,
            convexgan::data::Partition::Val => Split::Val,
            convexgan::data::Partition::Test => Split::Test,
        };
        assert_eq!(set.split[i], want_split);
        let truth = &info.items[i];
        let lb = Letterbox::new(it.bbox, truth.width, truth.height, IMAGE_SIZE).unwrap();
        let first = it.slot_offset();
        for l in 0..K {
            let (vis, x, y) = (
                lm.visible[i * K + l],
                lm.xy[i * 2 * K + 2 * l],
                lm.xy[i * 2 * K + 2 * l + 1],
            );
            let j = l.wrapping_sub(first);
            if j >= it.points.len() || it.visibility[j] != 2 {
                // Another category's slot, or a point not labelled or occluded.
                assert_eq!((vis, x, y), (0.0, 0.0, 0.0), "{} slot {l}", it.id());
                hidden += (j < it.points.len()) as usize;
                continue;
            }
            let (gx, gy) = lb.grid_point(it.points[j][0], it.points[j][1], HEATMAP_GRID);
            assert_eq!(vis, 1.0, "{} slot {l}", it.id());
            assert!((x - gx).abs() < 1e-5 && (y - gy).abs() < 1e-5);
            shown += 1;
        }
    }
    assert!(shown > 100 && hidden > 50, "{shown} visible, {hidden} not");
    // --limit: the first items of each folder, so that both partitions have some.
    let mut o = options(&root, &vgg, &dir.path().join("limited.safetensors"));
    o.limit = Some(3);
    let few = extract(&o).unwrap();
    assert_eq!(few.n(), 6);
    assert_eq!(
        few.split.iter().filter(|&&s| s == Split::Test).count(),
        3,
        "{:?}",
        few.split
    );
}

/// The worked example: a 200×100 image with a skirt (category 9, slots 182–189) in the box
/// [20, 10, 120, 60] and a short sleeve top (category 1, slots 0–24) in [130, 0, 200, 100].
#[test]
fn a_known_item_lands_where_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("df2");
    for f in [
        "train/image",
        "train/annos",
        "validation/image",
        "validation/annos",
    ] {
        fs::create_dir_all(root.join(f)).unwrap();
    }
    let img = RgbImage::from_pixel(200, 100, Rgb([120, 80, 40]));
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    fs::write(root.join("train/image/000001.jpg"), jpeg).unwrap();
    let mut skirt = vec![70, 35, 2, 30, 20, 1, 0, 0, 0, 20, 10, 2, 150, 50, 2];
    skirt.extend([0; 9]);
    let mut top = vec![165, 50, 2];
    top.extend([0; 72]);
    let anno = json!({
        "source": "shop",
        "pair_id": 7,
        "item2": {"category_id": 1, "bounding_box": [130, 0, 200, 100], "landmarks": top,
                  "style": 0, "occlusion": 1, "segmentation": [[130, 0, 200, 0, 200, 100]]},
        "item1": {"category_id": 9, "bounding_box": [20, 10, 120, 60], "landmarks": skirt,
                  "category_name": "skirt", "zoom_in": 1, "viewpoint": 2, "scale": 2},
    });
    fs::write(root.join("train/annos/000001.json"), anno.to_string()).unwrap();
    let vgg = dir.path().join("vgg.onnx");
    write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
    let set = extract(&options(&root, &vgg, &dir.path().join("f.safetensors"))).unwrap();
    assert_eq!(
        set.image_ids,
        [
            "train/image/000001.jpg#item1",
            "train/image/000001.jpg#item2"
        ]
    );
    assert_eq!(set.labels, [8, 0]);
    let lm = set.landmarks.unwrap();
    let at = |i: usize, l: usize| {
        (
            lm.visible[i * K + l],
            lm.xy[i * 2 * K + 2 * l],
            lm.xy[i * 2 * K + 2 * l + 1],
        )
    };
    let close = |got: (f32, f32, f32), want: (f32, f32, f32)| {
        assert!(
            got.0 == want.0 && (got.1 - want.1).abs() < 1e-3 && (got.2 - want.2).abs() < 1e-3,
            "{got:?} vs {want:?}"
        );
    };
    // Skirt: the 100×50 box scales by 2.24 to 224×112, 56 rows of padding above. (70, 35) maps to
    // pixel ((50.5)·2.24 − 0.5, 25.5·2.24 − 0.5 + 56) = (112.62, 112.62), grid
    // (113.12 / 8 − 0.5) = 13.64 on both axes.
    close(at(0, 182), (1.0, 13.64, 13.64));
    // Occluded and unlabelled points are invisible.
    close(at(0, 183), (0.0, 0.0, 0.0));
    close(at(0, 184), (0.0, 0.0, 0.0));
    // The box's top-left pixel: (0.62, 56.62) in pixels, (1.12 / 8 − 0.5, 57.12 / 8 − 0.5) =
    // (−0.36, 6.64) on the grid.
    close(at(0, 185), (1.0, -0.36, 6.64));
    // A "visible" point outside the box falls off the grid: invisible.
    close(at(0, 186), (0.0, 0.0, 0.0));
    // Nothing outside the skirt's block.
    assert!((0..K)
        .filter(|l| !(182..190).contains(l))
        .all(|l| at(0, l) == (0.0, 0.0, 0.0)));
    // Top: 70×100 → 157×224 (round(156.8)), scale_x 157/70, 33 columns of padding. (165, 50):
    // x = 35.5 · 157/70 − 0.5 + 33 = 112.121, y = 50.5 · 2.24 − 0.5 = 112.62; grid 13.578, 13.64.
    close(at(1, 0), (1.0, 13.5777, 13.64));
    assert!((1..K).all(|l| at(1, l) == (0.0, 0.0, 0.0)));

    // A box reaching past the image is an error naming the annotation file and the item.
    let mut bad = anno.clone();
    bad["item2"]["bounding_box"] = json!([130, 0, 201, 100]);
    fs::write(root.join("train/annos/000001.json"), bad.to_string()).unwrap();
    let out = dir.path().join("bad.safetensors");
    let err = extract(&options(&root, &vgg, &out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train/annos/000001.json")
            && err.contains("item2")
            && err.contains("reaches past the 200×100 image"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn deepfashion2_fixture_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion2");
    // Long-tailed like Table 3 (18× here), every category in both folders.
    let train = vec![90, 60, 45, 30, 22, 16, 12, 9, 8, 7, 6, 6, 5];
    write_df2_fixture(&root, &Df2Spec::new(train, vec![6; 13], 8));
    let vgg = dir.path().join("vgg.onnx");
    write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
    let features = dir.path().join("features.safetensors");
    extract(&options(&root, &vgg, &features)).unwrap();

    let mut cfg = Config::tiny();
    cfg.data.features = Some(features.clone());
    cfg.phase1.epochs = 3;
    cfg.phase1.shape_only_epochs = 1;
    cfg.phase2.epochs = 1;
    cfg.phase2.ns = 2;
    let cfg_path = dir.path().join("config.toml");
    fs::write(&cfg_path, cfg.to_toml().unwrap()).unwrap();
    let run_dir = dir.path().join("run");
    fs::create_dir_all(&run_dir).unwrap();
    let o = Overrides {
        config: Some(cfg_path),
        ..Default::default()
    };
    app::run(&Cpu::<f32>::new(), &RunDir::new(&run_dir), &o).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_slice(&fs::read(run_dir.join("metrics.json")).unwrap()).unwrap();
    println!("{metrics}");
    assert_eq!(metrics["train_counts"].as_array().unwrap().len(), 13);
    for stage in ["phase1", "convex_gan"] {
        for m in ["top1", "acsa", "gm"] {
            let v = metrics[stage][m].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{stage} {m} {v}");
        }
        assert_eq!(metrics[stage]["recall"].as_array().unwrap().len(), 13);
    }
    let report = fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        report.contains("short sleeve top") && report.contains("sling dress"),
        "{report}"
    );
}
