//! Interrupted and diverging Phase 2 runs through the real command line: a run killed with SIGKILL
//! and resumed ends bit-identical to an uninterrupted one (CPU backend, same seed); a run whose
//! losses go non-finite stops naming stage, iteration and tensor and keeps its last good
//! checkpoint.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli_support::*;
use convexgan::internal::app::{PHASE2_CHECKPOINT_FILE, PHASE2_FILE};
use convexgan::nn::ParamStore;
use convexgan::train::checkpoint::Checkpoint;

/// Phase 1 and the dictionary on the small data set, in `run`; Phase 2 set to `epochs` epochs of
/// 3 iterations (176 training images, batch 64).
fn prepared_run(data: &Path, run: &Path, epochs: usize) {
    write_small_dataset(data, 60);
    let mut cfg = small_config_value(data);
    cfg.phase2.epochs = epochs;
    let c = write_config(&data.join("small.toml"), &cfg);
    assert_ok(
        &convexgan(&["phase1", "--config", c.to_str().unwrap()], run),
        "phase1",
    );
    assert_ok(&convexgan(&["build-dict"], run), "build-dict");
}

/// Every tensor and its bits, so two stores compare exactly (the file's bytes do not: the
/// metadata's order is not fixed).
fn bits(store: &ParamStore) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    store
        .tensors
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.shape.clone(),
                t.data.iter().map(|x| x.to_bits()).collect(),
            )
        })
        .collect()
}

fn checkpoint_iteration(run: &Path) -> Option<usize> {
    Checkpoint::load(&run.join(PHASE2_CHECKPOINT_FILE))
        .ok()
        .map(|c| c.iteration)
}

#[test]
fn phase2_killed_and_resumed_is_bit_identical_to_an_uninterrupted_run() {
    const EPOCHS: usize = 400;
    const TOTAL: usize = EPOCHS * 3;
    let data = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    prepared_run(data.path(), base.path(), EPOCHS);

    // The reference: no checkpoints at all.
    let reference = tempfile::tempdir().unwrap();
    copy_dir(base.path(), reference.path());
    assert_ok(
        &convexgan(&["phase2", "--checkpoint-every", "0"], reference.path()),
        "uninterrupted phase2",
    );

    // Killed once a checkpoint exists, well before the end; a retry if the run won the race.
    let killed = tempfile::tempdir().unwrap();
    let mut killed_at = None;
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(killed.path());
        copy_dir(base.path(), killed.path());
        let mut child = bin()
            .args(["phase2", "--quiet", "--checkpoint-every", "7", "--run-dir"])
            .arg(killed.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ckpt = killed.path().join(PHASE2_CHECKPOINT_FILE);
        let t = Instant::now();
        while !ckpt.exists() && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A little later, so the kill lands anywhere: mid-iteration, or mid-way through writing a
        // later checkpoint. SIGKILL: no destructor, no flush.
        std::thread::sleep(Duration::from_millis(30));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.success() || killed.path().join(PHASE2_FILE).exists() {
            continue;
        }
        killed_at = checkpoint_iteration(killed.path());
        break;
    }
    let killed_at = killed_at.expect("the run was never killed part way with a checkpoint");
    println!("killed after the checkpoint of iteration {killed_at} of {TOTAL}");
    assert!(
        killed_at > 0 && killed_at < TOTAL && killed_at % 7 == 0,
        "checkpoint at iteration {killed_at} of {TOTAL}"
    );

    // A checkpoint of another configuration is refused, and left in place.
    let out = convexgan(&["phase2", "--resume", "--lambda", "3"], killed.path());
    clean_failure(&out, &[PHASE2_CHECKPOINT_FILE, "phase2.lambda"]).unwrap();
    assert_eq!(checkpoint_iteration(killed.path()), Some(killed_at));

    let out = convexgan(
        &["phase2", "--resume", "--checkpoint-every", "7"],
        killed.path(),
    );
    assert_ok(&out, "resumed phase2");
    let msg = stderr(&out);
    assert!(
        msg.contains("resuming from") && msg.contains(&format!("iteration {killed_at}")),
        "the run did not say where it resumed: {msg}"
    );
    assert!(
        !killed.path().join(PHASE2_CHECKPOINT_FILE).exists(),
        "the checkpoint outlived the finished run"
    );

    let a = ParamStore::load(&reference.path().join(PHASE2_FILE)).unwrap();
    let b = ParamStore::load(&killed.path().join(PHASE2_FILE)).unwrap();
    let (a, b) = (bits(&a), bits(&b));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        if let Some(i) = (0..x.2.len()).find(|&i| x.2[i] != y.2[i]) {
            panic!(
                "tensor '{}' differs at element {i}: uninterrupted {} vs resumed {}",
                x.0,
                f32::from_bits(x.2[i]),
                f32::from_bits(y.2[i])
            );
        }
    }
    let log = |d: &Path| std::fs::read_to_string(d.join("phase2_log.json")).unwrap();
    assert_eq!(
        log(reference.path()),
        log(killed.path()),
        "phase 2 logs differ"
    );

    for d in [reference.path(), killed.path()] {
        assert_ok(&convexgan(&["eval"], d), "eval");
    }
    let metrics = |d: &Path| std::fs::read_to_string(d.join("metrics.json")).unwrap();
    assert_eq!(
        metrics(reference.path()),
        metrics(killed.path()),
        "metrics differ"
    );
}

#[test]
fn diverging_phase2_stops_with_stage_iteration_and_tensor_and_keeps_the_last_good_checkpoint() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    prepared_run(data.path(), run.path(), 4);
    // Epoch 1 (iterations 4–6) runs at a learning rate that overflows f32 within two steps.
    let path = run.path().join("config.toml");
    let mut cfg = convexgan::config::Config::load(&path).unwrap();
    cfg.phase2.lr.drops = vec![(1, 1e30)];
    write_config(&path, &cfg);

    let out = convexgan(&["phase2", "--checkpoint-every", "3"], run.path());
    let msg = clean_failure(
        &out,
        &[
            "phase 2 at iteration",
            "last good checkpoint (iteration 3)",
            PHASE2_CHECKPOINT_FILE,
        ],
    )
    .unwrap();
    assert!(
        msg.contains("loss '") || msg.contains("parameter '"),
        "no tensor named: {msg}"
    );
    let ck = Checkpoint::load(&run.path().join(PHASE2_CHECKPOINT_FILE)).unwrap();
    assert_eq!(ck.iteration, 3);
    assert!(!run.path().join(PHASE2_FILE).exists());
    assert!(!run.path().join("phase2_log.json").exists());
}

#[test]
fn diverging_phase1_stops_with_stage_iteration_and_tensor() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    write_small_dataset(data.path(), 60);
    let mut cfg = small_config_value(data.path());
    cfg.phase1.epochs = 2;
    cfg.phase1.lr.base = 1e30;
    let c = write_config(&data.path().join("small.toml"), &cfg);
    let out = convexgan(&["phase1", "--config", c.to_str().unwrap()], run.path());
    let msg = clean_failure(&out, &["phase 1 at iteration"]).unwrap();
    assert!(
        msg.contains("loss '") || msg.contains("parameter '"),
        "no tensor named: {msg}"
    );
    assert!(
        listing(run.path()).is_empty(),
        "a failed Phase 1 left files: {:?}",
        listing(run.path())
    );
}
