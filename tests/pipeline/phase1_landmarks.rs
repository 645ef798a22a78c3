//! Phase 1 with the landmark module (METHOD.md §1–§2) on a synthetic problem whose shape backbone
//! vector is a fixed random linear map of the landmark positions and visibilities: the landmark
//! loss must fall, held-out heatmap peaks must land near the true positions, the shape-only epochs
//! must leave the texture stream and Q untouched, and heads with a landmark module and two
//! backbones must survive an export/import round trip.

use convexgan::backend::prelude::*;
use convexgan::backend::{cpu::CpuF32, Tensor};
use convexgan::config::{Config, ModelConfig, Phase1Config};
use convexgan::data::{Landmarks, HEATMAP_GRID};
use convexgan::model::{Heads, HeadsSpec};
use convexgan::nn::{LrSchedule, ParamStore};
use convexgan::train::phase1::{train_phase1, train_phase1_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const K: usize = 3;
const CLASSES: usize = 3;
/// Texture and shape backbone widths.
const D_T: usize = 8;
const D_S: usize = 24;
/// Per landmark: normalised column, row and visibility.
const Z: usize = 3;
const G: usize = HEATMAP_GRID;

/// A synthetic data set: `x = [x_t | x_s]`, labels and landmarks.
struct Synth {
    x: Vec<f32>,
    y: Vec<u32>,
    lm: Landmarks,
    n: usize,
}

/// The fixed random linear maps from (positions, visibilities) to `x_s` and from the label to
/// `x_t`, drawn once so that training and held-out samples share them.
struct Maps {
    shape: Vec<f32>,
    texture: Vec<f32>,
}

fn maps(seed: u64) -> Maps {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    Maps {
        shape: (0..Z * K * D_S).map(|_| r.gen_range(-1.0..1.0)).collect(),
        texture: (0..CLASSES * D_T).map(|_| r.gen_range(-1.0..1.0)).collect(),
    }
}

/// A landmark's position: one of 3 × 3 lattice points 8 cells apart, so that the heads can learn
/// the map from `x_s` to a sharp (σ = 1) heatmap peak in seconds.
fn position(r: &mut ChaCha8Rng) -> (f32, f32) {
    let mut p = || 4.0 + 8.0 * r.gen_range(0..3) as f32;
    (p(), p())
}

fn synth(m: &Maps, n: usize, seed: u64) -> Synth {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * (D_T + D_S));
    let mut y = Vec::with_capacity(n);
    let mut xy = Vec::with_capacity(n * 2 * K);
    let mut visible = Vec::with_capacity(n * K);
    for _ in 0..n {
        // Features of the shape backbone: normalised position and visibility per landmark.
        let mut z = Vec::with_capacity(Z * K);
        for _ in 0..K {
            let (px, py) = position(&mut r);
            let v = if r.gen_bool(0.75) { 1.0f32 } else { 0.0 };
            xy.extend([px, py]);
            visible.push(v);
            z.extend([px / G as f32 - 0.5, py / G as f32 - 0.5, v - 0.5]);
        }
        // The label is landmark 0's lattice column.
        let c = ((xy[xy.len() - 2 * K] - 4.0) / 8.0) as u32;
        y.push(c);
        for j in 0..D_T {
            let noise: f32 = r.gen_range(-0.05..0.05);
            x.push(m.texture[c as usize * D_T + j] + noise);
        }
        for j in 0..D_S {
            let s: f32 = (0..Z * K).map(|i| z[i] * m.shape[i * D_S + j]).sum();
            x.push(s + r.gen_range(-0.01..0.01));
        }
    }
    Synth {
        x,
        y,
        lm: Landmarks { k: K, xy, visible },
        n,
    }
}

fn model_cfg() -> ModelConfig {
    let mut m = Config::tiny().model;
    m.stream_widths = vec![128, 64];
    m.q_hidden = 32;
    m
}

fn phase1_cfg(epochs: usize, shape_only: usize) -> Phase1Config {
    let mut c = Config::tiny().phase1;
    c.epochs = epochs;
    c.batch = 64;
    c.lr = LrSchedule::constant(4e-3);
    c.shape_only_epochs = shape_only;
    c
}

fn spec() -> HeadsSpec {
    HeadsSpec {
        d_in_t: D_T,
        d_in_s: Some(D_S),
        classes: CLASSES,
        landmarks: K,
    }
}

fn upload(be: &CpuF32, s: &Synth) -> Tensor<CpuF32> {
    be.upload_f32(&s.x, s.n, D_T + D_S).unwrap()
}

/// Every parameter and BatchNorm running average of `heads`, by name.
fn snapshot(be: &CpuF32, heads: &Heads<CpuF32>) -> ParamStore {
    let mut s = ParamStore::new();
    heads.export(be, &mut s).unwrap();
    s
}

#[test]
fn landmarks_are_learned_from_the_shape_stream() {
    let be = CpuF32::new();
    let m = maps(1);
    let train = synth(&m, 1200, 2);
    let test = synth(&m, 300, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut heads = Heads::from_spec(&be, &model_cfg(), &spec(), &mut rng).unwrap();
    let x = upload(&be, &train);
    let cfg = phase1_cfg(60, 2);
    let logs = train_phase1_with(
        &be,
        &mut heads,
        &x,
        &train.y,
        Some(&train.lm),
        &cfg,
        &mut rng,
        false,
    )
    .unwrap();
    assert_eq!(logs.len(), cfg.epochs);
    let land: Vec<f64> = logs.iter().map(|l| l.losses["land"]).collect();
    let vis: Vec<f64> = logs.iter().map(|l| l.losses["vis"]).collect();
    // Shape-only epochs have no Q loss; later ones have all four.
    assert!(!logs[0].losses.contains_key("ce_q"));
    assert!(logs[cfg.epochs - 1].losses.contains_key("ce_q"));
    eprintln!("land {land:?}\nvis {vis:?}");
    let (first, last) = (land[0], land[land.len() - 1]);
    assert!(
        last < 0.5 * first,
        "landmark loss fell only from {first} to {last}"
    );
    // Predicting all-zero maps costs Σ_k v_k Σ_ij M² ≈ 0.75·K·πσ² ≈ 7; the first epoch's fall from
    // the initial weights' noise gets there without learning a single position, so the last epoch
    // must also beat it clearly.
    let zero_maps: f64 = (0..train.n * K)
        .filter(|&i| train.lm.visible[i] == 1.0)
        .map(|i| {
            let (x, y) = (train.lm.xy[2 * i] as f64, train.lm.xy[2 * i + 1] as f64);
            let mut s = 0.0;
            for r in 0..G {
                for c in 0..G {
                    let d2 = (c as f64 - x).powi(2) + (r as f64 - y).powi(2);
                    s += (-d2 / 2.0).exp().powi(2);
                }
            }
            s
        })
        .sum::<f64>()
        / train.n as f64;
    assert!(
        last < 0.6 * zero_maps,
        "last landmark loss {last} is not well below the all-zero prediction's {zero_maps}"
    );
    let vis_first = vis[0];
    let vis_last = vis[vis.len() - 1];
    assert!(
        vis_last < 0.25 * vis_first,
        "visibility loss fell only from {vis_first} to {vis_last}"
    );

    let xt = upload(&be, &test);
    let (heat, vlog) = heads.predict_landmarks(&be, &xt).unwrap();
    assert_eq!(heat.shape(), (test.n, K * G * G));
    assert_eq!(vlog.shape(), (test.n, K));
    let heat = be.download_f32(&heat).unwrap();
    let vlog = be.download_f32(&vlog).unwrap();
    let (mut near, mut visible, mut vis_right) = (0, 0, 0);
    for b in 0..test.n {
        for l in 0..K {
            let v = test.lm.visible[b * K + l];
            vis_right += usize::from((vlog[b * K + l] > 0.0) == (v == 1.0));
            if v == 0.0 {
                continue;
            }
            visible += 1;
            let map = &heat[(b * K + l) * G * G..(b * K + l + 1) * G * G];
            let peak = (0..G * G)
                .max_by(|&i, &j| map[i].total_cmp(&map[j]))
                .unwrap();
            let (row, col) = ((peak / G) as f32, (peak % G) as f32);
            let (tx, ty) = (
                test.lm.xy[b * 2 * K + 2 * l],
                test.lm.xy[b * 2 * K + 2 * l + 1],
            );
            near += usize::from((col - tx).abs() <= 2.0 && (row - ty).abs() <= 2.0);
        }
    }
    let near_frac = near as f64 / visible as f64;
    let vis_acc = vis_right as f64 / (test.n * K) as f64;
    eprintln!("peaks within 2 cells: {near_frac:.3}, visibility accuracy {vis_acc:.3}");
    assert!(
        near_frac >= 0.7,
        "only {near_frac:.3} of held-out peaks within 2 cells"
    );
    // 75% of landmarks are visible, so always answering "visible" scores 0.75.
    assert!(vis_acc > 0.9, "visibility accuracy {vis_acc:.3}");
}

/// During shape-only epochs only `f_s`, A and the landmark module train: every tensor of `f_t` and
/// Q (BatchNorm running averages included) stays bit-identical, every trained tensor moves.
#[test]
fn shape_only_epochs_leave_texture_and_q_untouched() {
    let be = CpuF32::new();
    let m = maps(5);
    let train = synth(&m, 200, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut heads = Heads::from_spec(&be, &model_cfg(), &spec(), &mut rng).unwrap();
    let before = snapshot(&be, &heads);
    let x = upload(&be, &train);
    let cfg = phase1_cfg(2, 2);
    train_phase1_with(
        &be,
        &mut heads,
        &x,
        &train.y,
        Some(&train.lm),
        &cfg,
        &mut rng,
        false,
    )
    .unwrap();
    let after = snapshot(&be, &heads);
    assert_eq!(before.tensors.len(), after.tensors.len());
    let (mut frozen, mut moved) = (0, 0);
    for (name, t0) in &before.tensors {
        let t1 = &after.tensors[name];
        if name.starts_with("f_t.") || name.starts_with("q.") {
            assert!(t0 == t1, "{name} changed during shape-only epochs");
            frozen += 1;
        } else {
            assert!(
                t0.data != t1.data,
                "{name} did not change during shape-only epochs"
            );
            moved += 1;
        }
    }
    // f_t: 2 × (Linear w, b + BN γ, β, mean, var); Q: 2 Linears; f_s likewise, A, 2 LDM Linears.
    assert_eq!(frozen, 12 + 4);
    assert_eq!(moved, 12 + 2 + 4);
    assert!(after.tensors.contains_key("ldm_heat.0.weight"));
    assert!(after.tensors.contains_key("ldm_vis.0.bias"));
}

/// Heads and data that disagree about landmarks are an error before training, never a panic.
#[test]
fn landmark_mismatch_is_an_error() {
    let be = CpuF32::new();
    let m = maps(8);
    let train = synth(&m, 64, 9);
    let x = upload(&be, &train);
    let cfg = phase1_cfg(1, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut two = spec();
    two.landmarks = 2;
    let mut heads = Heads::from_spec(&be, &model_cfg(), &two, &mut rng).unwrap();
    let untouched = snapshot(&be, &heads);
    let err = train_phase1_with(
        &be,
        &mut heads,
        &x,
        &train.y,
        Some(&train.lm),
        &cfg,
        &mut rng,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("2 landmarks") && err.contains("has 3"),
        "{err}"
    );
    assert!(
        snapshot(&be, &heads) == untouched,
        "a refused run changed the heads"
    );
    let err = train_phase1(&be, &mut heads, &x, &train.y, &cfg, &mut rng, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no landmarks"), "{err}");

    let mut none = spec();
    none.landmarks = 0;
    let mut plain = Heads::from_spec(&be, &model_cfg(), &none, &mut rng).unwrap();
    let err = train_phase1_with(
        &be,
        &mut plain,
        &x,
        &train.y,
        Some(&train.lm),
        &cfg,
        &mut rng,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no landmark module"), "{err}");

    // Landmark rows that do not match the sample count.
    let mut short = train.lm.clone();
    short.visible.truncate(K * 10);
    short.xy.truncate(2 * K * 10);
    let mut heads = Heads::from_spec(&be, &model_cfg(), &spec(), &mut rng).unwrap();
    let err = train_phase1_with(
        &be,
        &mut heads,
        &x,
        &train.y,
        Some(&short),
        &cfg,
        &mut rng,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("for 64 samples"), "{err}");
}

/// Heads on two backbones with a landmark module, trained a little (so the BatchNorm running
/// averages are not their initial values), saved to safetensors and loaded into heads built from a
/// different seed: the spec, Q's predictions and the landmark predictions are identical.
#[test]
fn export_import_round_trip_with_ldm_and_two_backbones() {
    let be = CpuF32::new();
    let m = maps(11);
    let train = synth(&m, 128, 12);
    let x = upload(&be, &train);
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut heads = Heads::from_spec(&be, &model_cfg(), &spec(), &mut rng).unwrap();
    assert_eq!(heads.spec(), spec());
    assert_eq!(heads.d_in(), D_T + D_S);
    train_phase1_with(
        &be,
        &mut heads,
        &x,
        &train.y,
        Some(&train.lm),
        &phase1_cfg(1, 0),
        &mut rng,
        false,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heads.safetensors");
    snapshot(&be, &heads).save(&path).unwrap();
    let store = ParamStore::load(&path).unwrap();
    let mut other_rng = ChaCha8Rng::seed_from_u64(99);
    let mut loaded = Heads::from_spec(&be, &model_cfg(), &heads.spec(), &mut other_rng).unwrap();
    let before = be.download_f32(&loaded.predict(&be, &x).unwrap()).unwrap();
    loaded.import(&be, &store).unwrap();
    assert_eq!(loaded.spec(), heads.spec());

    let want = be.download_f32(&heads.predict(&be, &x).unwrap()).unwrap();
    let got = be.download_f32(&loaded.predict(&be, &x).unwrap()).unwrap();
    assert_ne!(
        before, want,
        "fresh heads already predict like the trained ones"
    );
    assert_eq!(got, want);
    let (wh, wv) = heads.predict_landmarks(&be, &x).unwrap();
    let (gh, gv) = loaded.predict_landmarks(&be, &x).unwrap();
    assert_eq!(be.download_f32(&gh).unwrap(), be.download_f32(&wh).unwrap());
    assert_eq!(be.download_f32(&gv).unwrap(), be.download_f32(&wv).unwrap());

    // Heads without a landmark module cannot take a store's landmark tensors by accident, and
    // heads with one refuse a store that lacks them.
    let mut plain_store = ParamStore::new();
    let mut no_ldm = spec();
    no_ldm.landmarks = 0;
    Heads::from_spec(&be, &model_cfg(), &no_ldm, &mut other_rng)
        .unwrap()
        .export(&be, &mut plain_store)
        .unwrap();
    assert!(!plain_store.tensors.keys().any(|k| k.starts_with("ldm")));
    let err = loaded.import(&be, &plain_store).unwrap_err().to_string();
    assert!(err.contains("ldm_heat.0.weight"), "{err}");

    // The wrong number of columns for two backbones is a shape error naming both widths.
    let narrow = be.upload_f32(&train.x[..4 * D_S], 4, D_S).unwrap();
    let err = heads.predict(&be, &narrow).unwrap_err().to_string();
    assert!(
        err.contains("8 (texture backbone) + 24 (shape backbone)"),
        "{err}"
    );
}

/// `Heads::new` is the one-backbone, no-landmark spec, and draws the same initial weights as
/// `from_spec` on that spec (so existing runs start where they always did).
#[test]
fn new_is_the_shared_input_spec() {
    let be = CpuF32::new();
    let cfg = model_cfg();
    let a = Heads::new(&be, &cfg, 20, 4, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let shared = HeadsSpec {
        d_in_t: 20,
        d_in_s: None,
        classes: 4,
        landmarks: 0,
    };
    assert_eq!(a.spec(), shared);
    assert!(a.ldm.is_none());
    assert_eq!(a.d_in(), 20);
    let b = Heads::from_spec(&be, &cfg, &shared, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert!(snapshot(&be, &a) == snapshot(&be, &b));
}

/// Configuration files written before the landmark settings existed still load (with METHOD.md §2's
/// values), and unusable values are rejected naming the field.
#[test]
fn landmark_settings_default_and_validate() {
    let path = std::path::Path::new("run.toml");
    let text = Config::tiny().to_toml().unwrap();
    assert!(text.contains("heatmap_sigma"));
    let old: String = text
        .lines()
        .filter(|l| {
            !["heatmap_sigma", "landmark_weight", "visibility_weight"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!old.contains("heatmap_sigma"));
    let c = Config::from_toml(path, &old).unwrap();
    assert_eq!(c, Config::tiny());
    assert_eq!(
        (
            c.phase1.heatmap_sigma,
            c.phase1.landmark_weight,
            c.phase1.visibility_weight
        ),
        (1.0, 1.0, 1.0)
    );
    for (key, bad) in [
        ("heatmap_sigma", "0.0"),
        ("landmark_weight", "-1.0"),
        ("visibility_weight", "nan"),
    ] {
        let t = text.replace(&format!("{key} = 1.0"), &format!("{key} = {bad}"));
        assert_ne!(t, text, "{key} not found in the TOML");
        let err = Config::from_toml(path, &t).unwrap_err().to_string();
        assert!(err.contains(&format!("phase1.{key}")), "{err}");
    }
}
