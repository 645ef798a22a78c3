//! The pipeline on small problems: generated features are convex combinations of the right rows,
//! Phase 2 helps the rarest class of a synthetic imbalanced problem, and the whole command-line
//! job runs end to end on a Fashion-MNIST subset with consistent metrics.

use crate::common;

use std::process::Command;

use convexgan::backend::cpu::CpuF32;
use convexgan::backend::prelude::*;
use convexgan::backend::Precision;
use convexgan::config::{Config, QLoss};
use convexgan::data::fmnist::{synthetic_blobs, Dataset};
use convexgan::nn::{LrSchedule, Mode};
use convexgan::train::dictionary::Dictionary;
use convexgan::train::phase2::{Game, Phase2Context};
use convexgan::train::pipeline::{build_features, evaluate_q, run_method, run_phase1, Method};
use convexgan::train::sampling::{sample_rows, RowLayout};

#[test]
fn generated_features_are_convex_combinations_of_their_class_rows() {
    let be = CpuF32::new();
    let mut r = common::rng(5);
    let (n, d_t, d_s, classes) = (60, 6, 4, 3);
    let y: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
    let ft: Vec<f32> = common::rand_vec(&mut r, n * d_t, 2.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let fs: Vec<f32> = common::rand_vec(&mut r, n * d_s, 2.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let dict = Dictionary::build(
        &ft,
        &fs,
        d_t,
        d_s,
        &y,
        classes,
        15,
        Precision::F32,
        0,
        "test",
    )
    .unwrap();
    let dev = dict.upload(&be).unwrap();
    let mut cfg = Config::tiny();
    cfg.phase2.ns = 5;
    cfg.phase2.batch = 16;
    // An uneven count so that there is a minority class to sample.
    let mut dict_uneven = dict.clone();
    dict_uneven.counts = vec![20, 15, 10];
    let ctx = Phase2Context::new(&be, &dict_uneven, &dev, &cfg.phase2).unwrap();
    let q = convexgan::nn::Mlp::<CpuF32>::builder("q", d_t + d_s)
        .linear(classes, convexgan::backend::Activation::Identity)
        .build(&be, &mut r)
        .unwrap();
    let mut game = Game::new(&be, &cfg.model, &dict_uneven, 5, q, &mut r).unwrap();

    let labels: Vec<u32> = (0..16).map(|b| b % 3).collect();
    let rows = sample_rows(&mut r, &dict.layout, &labels, 5).unwrap();
    let z: Vec<f32> = common::rand_vec(&mut r, 16 * cfg.model.z_dim, 1.0)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let z = be.upload_f32(&z, 16, cfg.model.z_dim).unwrap();
    let onehot = be
        .onehot(&be.upload_indices(&labels).unwrap(), classes)
        .unwrap();
    let idx = be.upload_indices(&rows).unwrap();
    let (out, _) = game
        .generate(&be, &ctx, &z, &onehot, &idx, Mode::Eval)
        .unwrap();
    let w = be.download_f32(&out.w).unwrap();
    let gt = be.download_f32(&out.f_t).unwrap();
    let gs = be.download_f32(&out.f_s).unwrap();
    let t_rows = dict.texture.to_f32_vec();
    let s_rows = dict.shape.to_f32_vec();
    let layout: &RowLayout = &dict.layout;
    for b in 0..16 {
        let set = &rows[b * 5..(b + 1) * 5];
        let c = labels[b] as usize;
        for &i in set {
            let i = i as usize;
            assert!(
                i >= layout.offsets[c] && i < layout.offsets[c] + layout.rows[c],
                "row {i} is not of class {c}"
            );
        }
        for half in 0..2 {
            let ws = &w[b * 10 + half * 5..b * 10 + half * 5 + 5];
            assert!(ws.iter().all(|&v| v >= 0.0), "negative weight in {ws:?}");
            let sum: f32 = ws.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "weights sum to {sum}");
        }
        for (gen, rows_all, d) in [(&gt, &t_rows, d_t), (&gs, &s_rows, d_s)] {
            for j in 0..d {
                let vals: Vec<f32> = set.iter().map(|&i| rows_all[i as usize * d + j]).collect();
                let lo = vals.iter().cloned().fold(f32::INFINITY, f32::min) - 1e-5;
                let hi = vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max) + 1e-5;
                let g = gen[b * d + j];
                assert!(
                    g >= lo && g <= hi,
                    "sample {b} column {j}: {g} outside [{lo}, {hi}]"
                );
            }
        }
    }
}

/// Splits one synthetic draw into a long-tailed training set and a balanced test set that share
/// the class centres.
pub fn synthetic_problem(
    train_counts: &[usize],
    test_per_class: usize,
    seed: u64,
) -> (Dataset, Dataset) {
    let total: Vec<usize> = train_counts.iter().map(|&n| n + test_per_class).collect();
    let full = synthetic_blobs(train_counts.len(), 16, &total, seed).unwrap();
    let by_class = full.indices_by_class();
    let mut tr = Vec::new();
    let mut te = Vec::new();
    for (c, idx) in by_class.iter().enumerate() {
        tr.extend_from_slice(&idx[..train_counts[c]]);
        te.extend_from_slice(&idx[train_counts[c]..]);
    }
    (full.select(&tr).unwrap(), full.select(&te).unwrap())
}

/// On a synthetic 4-class problem with ratio 40 and a fixed seed, Convex-GAN raises the recall of
/// the rarest class over the Phase 1 classifier it starts from.
#[test]
fn phase2_raises_recall_of_the_rarest_class() {
    let be = CpuF32::new();
    let (train, test) = synthetic_problem(&[600, 200, 60, 15], 300, 21);
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 15;
    cfg.phase1.lr = LrSchedule::constant(3e-3);
    cfg.phase2.epochs = 6;
    cfg.phase2.ns = 6;
    cfg.phase2.lr = LrSchedule::constant(1e-3);
    cfg.phase2.q_loss = QLoss::Ce;
    let (mut heads, _) = run_phase1(&be, &cfg, &train, false).unwrap();
    let feats = build_features(&be, &cfg, &mut heads, &train).unwrap();
    let before = evaluate_q(&be, &heads, &heads.q, &test).unwrap();
    let (q, logs) = run_method(
        &be,
        &cfg,
        &heads,
        &train,
        &test,
        &feats,
        Method::ConvexGan(QLoss::Ce),
        false,
    )
    .unwrap();
    let after = evaluate_q(&be, &heads, &q, &test).unwrap();
    eprintln!(
        "recall before {:?}\nrecall after  {:?}\nlogs {:?}",
        before.recall,
        after.recall,
        logs.last()
    );
    assert!(
        after.recall[3] > before.recall[3],
        "rarest-class recall did not rise: {:.3} → {:.3}",
        before.recall[3],
        after.recall[3]
    );
}

fn fmnist_available() -> bool {
    std::path::Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists()
}

/// The command-line main job with the tiny preset on a Fashion-MNIST subset: it succeeds, writes
/// every artefact, and its metrics are finite and agree with its own confusion matrices.
#[test]
fn command_line_run_end_to_end_on_a_subset() {
    assert!(
        fmnist_available(),
        "Fashion-MNIST is missing: run scripts/setup.sh (Debian package dataset-fashion-mnist)"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_convexgan"))
        .args(["run", "--preset", "tiny", "--quiet", "--test-limit", "2000"])
        .args(["--class-counts", "300,200,150,100,80,60,40,30,25,20"])
        .arg("--run-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    for f in [
        "config.toml",
        "phase1.safetensors",
        "dictionary.safetensors",
        "phase2.safetensors",
        "metrics.json",
        "report.md",
        "recall.png",
        "confusion.png",
        "reliability.png",
    ] {
        let p = dir.path().join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing or empty"
        );
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for needle in [
        "Long-tail view",
        "many (> 100)",
        "ECE",
        "Specificity",
        "confusion.png",
    ] {
        assert!(report.contains(needle), "report.md lacks {needle:?}");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("metrics.json")).unwrap()).unwrap();
    for key in ["phase1", "convex_gan"] {
        let mm = &m[key];
        let conf: Vec<Vec<f64>> = serde_json::from_value(mm["confusion"].clone()).unwrap();
        let total: f64 = conf.iter().flatten().sum();
        assert_eq!(
            total, 2000.0,
            "{key}: confusion matrix counts {total} test images"
        );
        let trace: f64 = (0..10).map(|i| conf[i][i]).sum();
        let recall: Vec<f64> = (0..10)
            .map(|i| conf[i][i] / conf[i].iter().sum::<f64>())
            .collect();
        let top1 = mm["top1"].as_f64().unwrap();
        let acsa = mm["acsa"].as_f64().unwrap();
        let gm = mm["gm"].as_f64().unwrap();
        assert!(
            (top1 - trace / total).abs() < 1e-12,
            "{key}: top-1 {top1} vs trace/total"
        );
        let mean: f64 = recall.iter().sum::<f64>() / 10.0;
        assert!(
            (acsa - mean).abs() < 1e-12,
            "{key}: ACSA {acsa} vs mean recall {mean}"
        );
        let geo = if recall.contains(&0.0) {
            0.0
        } else {
            (recall.iter().map(|r| r.ln()).sum::<f64>() / 10.0).exp()
        };
        assert!((gm - geo).abs() < 1e-9, "{key}: GM {gm} vs {geo}");
        assert!(
            top1 > 0.3,
            "{key}: top-1 {top1} is no better than chance by a margin"
        );
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains("ACSA") && report.contains("Convex-GAN"),
        "{report}"
    );
}

/// `N_s` above the smallest dictionary is an error naming `--ns`, unless the configuration caps it
/// (METHOD.md §4, the `paper` preset), in which case Phase 2 runs with the smallest dictionary's rows.
#[test]
fn ns_above_the_smallest_dictionary_errors_or_is_capped() {
    let be = CpuF32::new();
    let (train, val) = synthetic_problem(&[60, 20, 7], 10, 3);
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 1;
    cfg.phase2.epochs = 1;
    cfg.phase2.ns = 50;
    let (mut heads, _) = run_phase1(&be, &cfg, &train, false).unwrap();
    let feats = build_features(&be, &cfg, &mut heads, &train).unwrap();
    let method = Method::ConvexGan(QLoss::Ce);
    let err = run_method(&be, &cfg, &heads, &train, &val, &feats, method, false)
        .err()
        .expect("N_s = 50 with a 7-row dictionary")
        .to_string();
    assert!(err.contains("--ns") && err.contains("7 rows"), "{err}");
    cfg.phase2.cap_ns = true;
    let (_, logs) = run_method(&be, &cfg, &heads, &train, &val, &feats, method, false).unwrap();
    assert_eq!(logs.len(), 1);
    assert!(Config::paper().phase2.cap_ns && !Config::fmnist().phase2.cap_ns);
}
