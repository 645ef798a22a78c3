//! DeepFashion end to end on a generated data set in the benchmark's exact layout: images through
//! the repo's own VGG-shaped ONNX backbone (`extract`), Phase 1 with the landmark module, the
//! dictionaries, Phase 2 and the report — and the landmark module has learned: its loss falls, and
//! on held-out images the heatmap's argmax lands within 2 cells of the true landmark for most
//! visible landmarks.

use std::path::Path;

use convexgan::backend::prelude::*;
use convexgan::backend::Cpu;
use convexgan::config::Config;
use convexgan::data::features_file::{FeatureSet, Split};
use convexgan::data::{load_deepfashion, Letterbox, HEATMAP_GRID, IMAGE_SIZE};
use convexgan::internal::app::{self, Overrides, RunDir};
use convexgan::internal::backbone::onnx_writer::{write_vgg, VggSpec};
use convexgan::internal::extract::{extract, ExtractDevice, ExtractOptions};
use convexgan::train::EpochLog;

use crate::fixture::{write_fixture, FixtureSpec};

fn options(root: &Path, vgg: &Path, features: &Path) -> ExtractOptions {
    ExtractOptions {
        data: root.to_path_buf(),
        texture_backbone: vgg.to_path_buf(),
        texture_output: None,
        shape_backbone: None,
        shape_output: None,
        features: features.to_path_buf(),
        pool: 7,
        batch: 16,
        limit: None,
        device: ExtractDevice::Cpu,
        progress: false,
    }
}

#[test]
fn extract_writes_what_the_annotations_and_geometry_say() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion");
    let info = write_fixture(&root, &FixtureSpec::new(vec![6, 4, 3], 11));
    let vgg = dir.path().join("vgg.onnx");
    write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
    let out = dir.path().join("f.safetensors");
    let written = extract(&options(&root, &vgg, &out)).unwrap();
    let set = FeatureSet::load(&out).unwrap();
    assert_eq!(set, written, "the file holds what extract returned");
    assert_eq!(set.n(), 13);
    assert_eq!(set.dim(), 32 * 7 * 7, "32 channels pooled to 7×7");
    let records = load_deepfashion(&root).unwrap();
    let lm = set.landmarks.as_ref().unwrap();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(set.image_ids[i], r.image);
        assert_eq!(set.labels[i], r.category);
        let truth = info.records.iter().find(|f| f.image == r.image).unwrap();
        let lb = Letterbox::new(r.bbox, truth.width, truth.height, IMAGE_SIZE).unwrap();
        for l in 0..8 {
            let vis = lm.visible[i * 8 + l];
            if !r.visible[l] {
                assert_eq!(vis, 0.0, "{} landmark {l} is not visible", r.image);
                continue;
            }
            let (gx, gy) = lb.grid_point(r.landmarks[l][0], r.landmarks[l][1], HEATMAP_GRID);
            assert_eq!(vis, 1.0);
            assert!((lm.xy[i * 16 + 2 * l] - gx).abs() < 1e-5);
            assert!((lm.xy[i * 16 + 2 * l + 1] - gy).abs() < 1e-5);
        }
    }
    // Two backbones: the shape stream's vector follows the texture stream's in each row.
    let vgg2 = dir.path().join("vgg2.onnx");
    write_vgg(
        &vgg2,
        &VggSpec {
            blocks: vec![vec![4], vec![8]],
            seed: 1,
        },
    )
    .unwrap();
    let mut o = options(&root, &vgg, &dir.path().join("two.safetensors"));
    o.shape_backbone = Some(vgg2);
    o.pool = 2;
    let two = extract(&o).unwrap();
    assert_eq!((two.d_in_t, two.d_in_s), (32 * 4, Some(8 * 4)));
    assert_eq!(two.x.len(), 13 * (128 + 32));
    // A backbone output that does not exist is an error naming the model file.
    let mut o = options(&root, &vgg, &dir.path().join("bad.safetensors"));
    o.texture_output = Some("conv9_9".into());
    let err = extract(&o).unwrap_err().to_string();
    assert!(err.contains("vgg.onnx") && err.contains("conv9_9"), "{err}");
    assert!(!dir.path().join("bad.safetensors").exists());
}

fn argmax_cell(map: &[f32], grid: usize) -> (f32, f32) {
    let i = map
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    ((i % grid) as f32, (i / grid) as f32)
}

#[test]
fn deepfashion_fixture_end_to_end_landmarks_learn() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deepfashion");
    // Six categories, long-tailed, 585 images.
    write_fixture(&root, &FixtureSpec::new(vec![200, 140, 100, 70, 45, 30], 5));
    let vgg = dir.path().join("vgg.onnx");
    write_vgg(&vgg, &VggSpec::tiny(0)).unwrap();
    let features = dir.path().join("features.safetensors");
    extract(&options(&root, &vgg, &features)).unwrap();

    let mut cfg = Config::tiny();
    cfg.data.features = Some(features.clone());
    cfg.model.stream_widths = vec![256, 128];
    cfg.phase1.epochs = 120;
    cfg.phase1.batch = 64;
    cfg.phase1.shape_only_epochs = 5;
    cfg.phase2.epochs = 2;
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, cfg.to_toml().unwrap()).unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let o = Overrides {
        config: Some(cfg_path),
        ..Default::default()
    };
    let be = Cpu::<f32>::new();
    app::run(&be, &RunDir::new(&run_dir), &o).unwrap();

    // The landmark loss falls.
    let logs: Vec<EpochLog> =
        serde_json::from_slice(&std::fs::read(run_dir.join("phase1_log.json")).unwrap()).unwrap();
    let land: Vec<f64> = logs.iter().map(|l| l.losses["land"]).collect();
    println!("landmark loss per epoch: {land:?}");
    assert!(
        land.last().unwrap() < &(0.5 * land[0]),
        "landmark loss {} → {}",
        land[0],
        land.last().unwrap()
    );
    // Shape-only epochs train no Q: its loss appears from epoch 6 on.
    assert!(!logs[0].losses.contains_key("ce_q") && logs[5].losses.contains_key("ce_q"));

    // Held-out images: heatmap argmax within 2 cells of the truth for most visible landmarks.
    let set = FeatureSet::load(&features).unwrap();
    let test = set.dataset(Split::Test).unwrap();
    let train = set.dataset(Split::Train).unwrap();
    let mut heads = app::load_phase1_heads(&be, &RunDir::new(&run_dir)).unwrap();
    let x = be.upload_f32(&test.x, test.n, test.dim).unwrap();
    let (heat, _vis) = heads.predict_landmarks(&be, &x).unwrap();
    let heat = be.download_f32(&heat).unwrap();
    let (lt, ltr) = (test.landmarks.unwrap(), train.landmarks.unwrap());
    let k = lt.k;
    let g2 = HEATMAP_GRID * HEATMAP_GRID;
    // The baseline a model that learned nothing about the image would reach: each landmark's mean
    // training position.
    let mut mean = vec![(0.0f32, 0.0f32, 0.0f32); k];
    for i in 0..train.n {
        for (l, m) in mean.iter_mut().enumerate() {
            if ltr.visible[i * k + l] == 1.0 {
                m.0 += ltr.xy[i * 2 * k + 2 * l];
                m.1 += ltr.xy[i * 2 * k + 2 * l + 1];
                m.2 += 1.0;
            }
        }
    }
    let (mut hits, mut mean_hits, mut total) = (0, 0, 0);
    for i in 0..test.n {
        for (l, m) in mean.iter().enumerate() {
            if lt.visible[i * k + l] != 1.0 {
                continue;
            }
            let (tx, ty) = (lt.xy[i * 2 * k + 2 * l], lt.xy[i * 2 * k + 2 * l + 1]);
            let start = i * k * g2 + l * g2;
            let (px, py) = argmax_cell(&heat[start..start + g2], HEATMAP_GRID);
            total += 1;
            if ((px - tx).powi(2) + (py - ty).powi(2)).sqrt() <= 2.0 {
                hits += 1;
            }
            let (mx, my) = (m.0 / m.2, m.1 / m.2);
            if ((mx - tx).powi(2) + (my - ty).powi(2)).sqrt() <= 2.0 {
                mean_hits += 1;
            }
        }
    }
    let (rate, base) = (hits as f64 / total as f64, mean_hits as f64 / total as f64);
    println!("held-out visible landmarks within 2 cells: {hits}/{total} = {rate:.3} (mean position: {base:.3})");
    assert!(total >= 100, "{total} visible held-out landmarks");
    assert!(rate > 0.6, "{rate}");
    assert!(rate > base + 0.15, "model {rate} vs mean position {base}");

    // The rest of the pipeline ran on the features: metrics and the report exist and name them.
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        report.contains("features") && report.contains("category 1"),
        "{report}"
    );
}
