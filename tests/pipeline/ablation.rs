//! The switches of the paper's ablations and the `ablate` command: Phase 1 without the auxiliary
//! classifier leaves A untouched and trains the rest; Phase 2 generating one stream gives G no
//! gradient through the other half and changes what Q sees; `convexgan ablate aux|streams|ns`
//! writes its tables (and plot) on a small Fashion-MNIST-LT run.

use crate::common;
use crate::pipeline::synthetic_problem;
use crate::support::probe::{self, Draw, Inputs, SubStep};

use std::process::Command;

use convexgan::backend::cpu::CpuF32;
use convexgan::backend::prelude::*;
use convexgan::config::{Config, GeneratedStreams};
use convexgan::nn::{LrSchedule, Mlp};
use convexgan::train::phase2::{Game, Phase2Context};
use convexgan::train::pipeline::{build_features, run_phase1};

fn values(be: &CpuF32, net: &Mlp<CpuF32>) -> Vec<Vec<f32>> {
    net.params()
        .iter()
        .map(|p| be.download_f32(&p.value).unwrap())
        .collect()
}

#[test]
fn phase1_without_the_auxiliary_classifier_leaves_a_untouched() {
    let be = CpuF32::new();
    let (train, _) = synthetic_problem(&[120, 60, 30], 10, 3);
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 3;
    cfg.phase1.lr = LrSchedule::constant(3e-3);
    let mut off = cfg.clone();
    off.phase1.aux_classifier = false;
    let init = {
        // The heads as Phase 1 starts them: zero epochs.
        let mut c = cfg.clone();
        c.phase1.epochs = 0;
        run_phase1(&be, &c, &train, false).unwrap().0
    };
    let (with_a, logs_on) = run_phase1(&be, &cfg, &train, false).unwrap();
    let (without_a, logs_off) = run_phase1(&be, &off, &train, false).unwrap();
    assert_eq!(values(&be, &without_a.a), values(&be, &init.a), "A moved");
    assert_ne!(
        values(&be, &with_a.a),
        values(&be, &init.a),
        "A did not train"
    );
    assert_ne!(values(&be, &without_a.f_s), values(&be, &init.f_s));
    // Without CE(A) the shape stream learns from Q alone, so it ends elsewhere.
    assert_ne!(values(&be, &without_a.f_s), values(&be, &with_a.f_s));
    assert!(logs_on[0].losses.contains_key("ce_a"));
    assert!(
        !logs_off[0].losses.contains_key("ce_a"),
        "{:?}",
        logs_off[0]
    );
    assert!(logs_off[0].losses.contains_key("ce_q"));
}

/// The gradient G's last layer receives on its texture (`0..N_s`) and shape (`N_s..2·N_s`)
/// output columns in one iteration, and the Q loss on the generated samples.
fn g_gradient_halves(which: GeneratedStreams) -> (f64, f64, f64) {
    let be = CpuF32::new();
    let (train, _) = synthetic_problem(&[90, 40, 20], 10, 8);
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 2;
    cfg.phase2.ns = 4;
    cfg.phase2.batch = 24;
    cfg.phase2.generate = which;
    let (mut heads, _) = run_phase1(&be, &cfg, &train, false).unwrap();
    let feats = build_features(&be, &cfg, &mut heads, &train).unwrap();
    let dev = feats.dict.upload(&be).unwrap();
    let ctx = Phase2Context::new(&be, &feats.dict, &dev, &cfg.phase2).unwrap();
    let mut rng = common::rng(1);
    let mut game = Game::new(&be, &cfg.model, &feats.dict, 4, heads.q.clone(), &mut rng).unwrap();
    let draw = Draw::new(&mut rng, &ctx, game.g.z_dim).unwrap();
    let inputs = Inputs::upload(&be, &draw, game.g.z_dim).unwrap();
    let mut halves = (f64::NAN, f64::NAN);
    let mut q_fake = f64::NAN;
    probe::step(
        &be,
        &mut game,
        &ctx,
        &inputs,
        1e-3,
        &mut |sub, net, loss| {
            match sub {
                SubStep::G => {
                    let ps = net.params();
                    let w = ps
                        .iter()
                        .rev()
                        .find(|p| p.name.ends_with("weight"))
                        .unwrap();
                    let g = be.download_f32(w.grad.as_ref().unwrap()).unwrap();
                    let cols = w.value.cols();
                    assert_eq!(cols, 8, "G emits 2·N_s logits");
                    let norm = |lo: usize, hi: usize| {
                        g.chunks(cols)
                            .flat_map(|r| r[lo..hi].iter())
                            .map(|&v| (v as f64).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    };
                    halves = (norm(0, 4), norm(4, 8));
                }
                SubStep::QFake => q_fake = be.read_scalars(&[loss]).unwrap()[0],
                _ => {}
            }
            Ok(())
        },
    )
    .unwrap();
    (halves.0, halves.1, q_fake)
}

#[test]
fn generating_one_stream_gives_g_no_gradient_through_the_real_half() {
    let (both_t, both_s, both_q) = g_gradient_halves(GeneratedStreams::Both);
    let (shape_t, shape_s, shape_q) = g_gradient_halves(GeneratedStreams::Shape);
    let (tex_t, tex_s, tex_q) = g_gradient_halves(GeneratedStreams::Texture);
    eprintln!(
        "both {both_t:e} {both_s:e}, shape {shape_t:e} {shape_s:e}, texture {tex_t:e} {tex_s:e}"
    );
    assert!(both_t > 0.0 && both_s > 0.0);
    assert_eq!(
        shape_t, 0.0,
        "texture half is real, yet G got a gradient through it"
    );
    assert!(shape_s > 0.0);
    assert_eq!(
        tex_s, 0.0,
        "shape half is real, yet G got a gradient through it"
    );
    assert!(tex_t > 0.0);
    // Q sees other generated samples when a half is real.
    assert_ne!(both_q, shape_q);
    assert_ne!(both_q, tex_q);
    assert_ne!(shape_q, tex_q);
}

#[test]
fn ablation_settings_stay_out_of_a_default_configuration_file() {
    let cfg = Config::fmnist();
    let toml = cfg.to_toml().unwrap();
    assert!(
        !toml.contains("aux_classifier") && !toml.contains("generate"),
        "{toml}"
    );
    let mut c = cfg.clone();
    c.phase1.aux_classifier = false;
    c.phase2.generate = GeneratedStreams::Texture;
    let toml = c.to_toml().unwrap();
    assert!(toml.contains("aux_classifier = false"), "{toml}");
    assert!(toml.contains("generate = \"texture\""), "{toml}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, &toml).unwrap();
    assert_eq!(Config::load(&p).unwrap(), c);
}

fn ablate(study: &str, extra: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_convexgan"))
        .args([
            "ablate",
            study,
            "--preset",
            "tiny",
            "--quiet",
            "--test-limit",
            "600",
        ])
        .args(["--class-counts", "120,90,70,50,40,30,25,20,16,12"])
        .args(["--phase1-epochs", "2", "--epochs", "1"])
        .args(extra)
        .arg("--run-dir")
        .arg(dir)
        .output()
        .unwrap()
}

/// The table row whose first cell is `label`.
fn row<'a>(md: &'a str, label: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row {label:?} in\n{md}"))
}

/// Runs a study that must succeed; its table and its JSON rows.
fn study(name: &str, extra: &[&str], dir: &std::path::Path) -> (String, serde_json::Value) {
    let out = ablate(name, extra, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join(format!("ablate_{name}.md"))).unwrap();
    let json = std::fs::read(dir.join(format!("ablate_{name}.json"))).unwrap();
    (md, serde_json::from_slice(&json).unwrap())
}

#[test]
fn ablate_aux_and_streams_write_their_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (md, json) = study("aux", &["--seeds", "0,1"], dir.path());
    for label in [
        "Phase 1 w/o A",
        "Phase 1 w/ A",
        "Phase 1 w/o A + Convex-GAN",
        "Phase 1 w/ A + Convex-GAN",
    ] {
        // Two seeds: every metric is a mean ± std.
        assert!(row(&md, label).contains(" ± "), "{md}");
    }
    assert_eq!(json.as_array().unwrap().len(), 4);
    assert_eq!(json[0]["seeds"], serde_json::json!([0, 1]));
    assert!(dir.path().join("ablate_aux_config.toml").exists());

    let (md, json) = study("streams", &["--seeds", "3"], dir.path());
    for label in [
        "Phase 1 only",
        "Convex-GAN, shape stream only",
        "Convex-GAN, texture stream only",
        "Convex-GAN, both streams",
    ] {
        row(&md, label);
    }
    // From one Phase 1, the three Phase 2 variants end with different classifiers: their metrics
    // (calibration included, which follows the probabilities) differ. A switch that did nothing
    // would repeat a row exactly.
    let m: Vec<&serde_json::Value> = (0..4).map(|i| &json[i]["metrics"][0]).collect();
    assert!(m[3]["calibration"]["ece"].is_number(), "{}", m[3]);
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        assert_ne!(m[a], m[b], "rows {a} and {b} agree");
    }
    // The earlier study's files are still there, each in the manifest.
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("ablate-aux") && manifest.contains("ablate-streams"));
}

#[test]
fn ablate_ns_caps_at_the_smallest_dictionary_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (md, json) = study(
        "ns",
        &["--seeds", "0", "--ns-values", "4,12,40"],
        dir.path(),
    );
    // N_s = 40 met N_s = 12 at the smallest dictionary: one row per loss records both.
    let capped: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ns_asked"] == serde_json::json!([12, 40]))
        .collect();
    assert_eq!(capped.len(), 3, "{json}");
    for loss in ["mse", "focal", "ldam"] {
        row(&md, &format!("Convex-GAN {loss}, N_s = 4"));
        row(&md, &format!("Convex-GAN {loss}, N_s = 12"));
        assert!(!md.contains(&format!("{loss}, N_s = 40")), "{md}");
    }
    assert!(
        md.contains("N_s = 40 exceeds the smallest dictionary (12 rows) and ran as 12"),
        "{md}"
    );
    let png = std::fs::read(dir.path().join("ablate_ns.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (1500, 520));
}

#[test]
fn ablate_refuses_bad_lists_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["--seeds", "1,1"][..], "seed 1 is given twice"),
        (&["--ns-values", "10,0"][..], "N_s must be at least 1"),
        (&["--ns-values", "10,10"][..], "10 is given twice"),
    ] {
        let out = ablate("ns", args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.path().join("ablate_ns.md").exists());
}
