//! The long-tail baselines of `compare`, each from one Phase 1 checkpoint on a synthetic
//! long-tailed problem: every method trains (or is derived) and evaluates; the post-hoc ones pick
//! their setting on the validation split only; names round-trip.

use crate::pipeline::synthetic_problem;

use convexgan::backend::cpu::CpuF32;
use convexgan::config::Config;
use convexgan::nn::LrSchedule;
use convexgan::train::pipeline::{build_features, evaluate_q, run_method, run_phase1, Method};

#[test]
fn every_method_runs_from_one_phase1_and_is_evaluated() {
    let be = CpuF32::new();
    let (train, rest) = synthetic_problem(&[300, 100, 30, 12], 120, 5);
    // A balanced validation split and a balanced test split from the held-out rows.
    let idx = rest.indices_by_class();
    let (v, t): (Vec<usize>, Vec<usize>) = (
        idx.iter().flat_map(|i| i[..60].to_vec()).collect(),
        idx.iter().flat_map(|i| i[60..].to_vec()).collect(),
    );
    let (val, test) = (rest.select(&v).unwrap(), rest.select(&t).unwrap());
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 8;
    cfg.phase1.lr = LrSchedule::constant(3e-3);
    cfg.phase2.epochs = 2;
    cfg.phase2.ns = 6;
    let (mut heads, _) = run_phase1(&be, &cfg, &train, false).unwrap();
    let feats = build_features(&be, &cfg, &mut heads, &train).unwrap();
    let phase1 = evaluate_q(&be, &heads, &heads.q, &test).unwrap();
    for m in Method::all() {
        let (q, logs) = run_method(&be, &cfg, &heads, &train, &val, &feats, m, false)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name()));
        let metrics = evaluate_q(&be, &heads, &q, &test).unwrap();
        assert!(
            metrics.acsa.is_finite() && metrics.calibration.is_some(),
            "{}",
            m.name()
        );
        match m {
            Method::TauNorm | Method::LogitAdjust => {
                let tau = logs[0].losses["tau"];
                assert!((0.0..=2.0).contains(&tau), "{}: τ = {tau}", m.name());
            }
            Method::Lws => assert!(logs[0].losses.contains_key("lr")),
            Method::Phase1 => assert_eq!(metrics.confusion, phase1.confusion),
            _ => assert!(!logs.is_empty(), "{} made no updates", m.name()),
        }
        eprintln!(
            "{:<28} ACSA {:.3} (Phase 1 {:.3})",
            m.name(),
            metrics.acsa,
            phase1.acsa
        );
    }
}

#[test]
fn post_hoc_settings_are_chosen_on_validation_only() {
    // The same validation split gives the same τ whatever the test set: run_method never sees
    // it. An empty validation split is an error, not a silent default.
    let be = CpuF32::new();
    let (train, val) = synthetic_problem(&[200, 40, 10], 30, 8);
    let mut cfg = Config::tiny();
    cfg.phase1.epochs = 3;
    cfg.phase2.epochs = 1;
    let (mut heads, _) = run_phase1(&be, &cfg, &train, false).unwrap();
    let feats = build_features(&be, &cfg, &mut heads, &train).unwrap();
    let empty = val.select(&[]).unwrap();
    let e = run_method(
        &be,
        &cfg,
        &heads,
        &train,
        &empty,
        &feats,
        Method::TauNorm,
        false,
    )
    .err()
    .expect("no validation rows")
    .to_string();
    assert!(e.contains("validation split"), "{e}");
}

#[test]
fn method_names_round_trip_and_unknown_ones_list_the_choices() {
    for m in Method::all() {
        assert_eq!(m.name().parse::<Method>().unwrap(), m);
    }
    let e = "smoothe".parse::<Method>().unwrap_err().to_string();
    assert!(
        e.contains("smoothe") && e.contains("borderline-smote") && e.contains("lws"),
        "{e}"
    );
}
