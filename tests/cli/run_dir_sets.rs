//! A run directory is always a complete set: each stage's outputs arrive together with the
//! manifest, or not at all. Killed at every step of a commit, or stopped by a full disk at many
//! points, a stage leaves the complete old set or (once its journal is written) the complete
//! new one after the next command; a later stage refuses outputs computed from an earlier
//! upstream file or replaced by hand; two commands cannot hold one run directory.
//!
//! The full disk is RLIMIT_FSIZE (`ulimit -f` with SIGXFSZ ignored): every write past the limit
//! fails with EFBIG, as it would with ENOSPC, without needing a small file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::cli_support::*;
use convexgan::internal::app::{RunDir, DICT_FILE, PHASE1_FILE};

struct Fixture {
    config: PathBuf,
    /// After `run`: every stage's outputs.
    done: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run_dir_sets");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        write_small_dataset(&data, 60);
        let config = write_config(&root.join("small.toml"), &small_config_value(&data));
        let done = root.join("done");
        let c = config.to_str().unwrap();
        assert_ok(&convexgan(&["run", "--config", c], &done), "run");
        Fixture { config, done }
    })
}

/// Every file under `dir` (relative path → bytes); directories only through their files.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Entries whose name starts with a dot (journal, staging directories, temporaries).
fn hidden(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn differing(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `convexgan verify --run-dir <run>`.
fn verify(run: &Path) -> Output {
    bin()
        .arg("verify")
        .arg("--run-dir")
        .arg(run)
        .output()
        .unwrap()
}

fn fresh_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join(name);
    copy_dir(&fixture().done, &run);
    (tmp, run)
}

fn with_config(args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| a.replace("{config}", fixture().config.to_str().unwrap()))
        .collect()
}

fn stage(args: &[String], run: &Path, env: Option<(&str, String)>) -> Output {
    let mut cmd = bin();
    cmd.args(args).arg("--quiet").arg("--run-dir").arg(run);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The stages whose commits are tested, each changing its outputs: Phase 1 with another seed,
/// Phase 2 with another λ, evaluation on fewer test images.
const STAGES: [&[&str]; 3] = [
    &["phase1", "--config", "{config}", "--seed", "5"],
    &["phase2", "--lambda", "0.25"],
    &["eval", "--test-limit", "20"],
];

/// The stage's arguments and the run directory it leaves when it runs to the end (which must
/// differ from the old one, or the tests would prove nothing).
fn completed(args: &[&str]) -> (Vec<String>, BTreeMap<String, Vec<u8>>) {
    let args = with_config(args);
    let (_t, reference) = fresh_copy("new");
    assert_ok(&stage(&args, &reference, None), &args.join(" "));
    let new = snapshot(&reference);
    assert_ne!(snapshot(&fixture().done), new, "{args:?} changed nothing");
    assert!(hidden(&reference).is_empty(), "{:?}", hidden(&reference));
    (args, new)
}

#[test]
fn a_kill_at_every_commit_step_leaves_the_complete_old_or_new_set() {
    use std::os::unix::process::ExitStatusExt;
    let old = snapshot(&fixture().done);
    for args in STAGES {
        let (args, new) = completed(args);
        let mut step = 0;
        loop {
            let (_t, run) = fresh_copy("killed");
            let env = ("CONVEXGAN_TEST_CRASH_AT_COMMIT_STEP", step.to_string());
            let out = stage(&args, &run, Some(env));
            if out.status.success() {
                // Past the last step: the whole commit ran.
                assert_eq!(snapshot(&run), new, "{args:?}");
                break;
            }
            assert_eq!(
                out.status.signal(),
                Some(6),
                "{args:?} step {step}: not aborted: {}",
                stderr(&out)
            );
            // As the kill left it: each file whole, old or new.
            let raw = snapshot(&run);
            for (name, bytes) in raw.iter().filter(|(n, _)| !n.starts_with('.')) {
                assert!(
                    old.get(name) == Some(bytes) || new.get(name) == Some(bytes),
                    "{args:?} step {step}: {name} is neither the old nor the new file"
                );
            }
            // The next command finishes or discards the commit before it reads anything.
            let v = verify(&run);
            assert_ok(&v, "verify");
            let after = snapshot(&run);
            let want = if step == 0 { &old } else { &new };
            assert!(
                &after == want,
                "{args:?} killed at step {step}: after recovery {:?} differ from the {} set",
                differing(&after, want),
                if step == 0 { "old" } else { "new" }
            );
            assert!(hidden(&run).is_empty(), "left behind: {:?}", hidden(&run));
            step += 1;
            assert!(step < 20, "{args:?}: the commit never completed");
        }
        // The journal, a rename per output and the manifest, and the journal's removal.
        assert!(step >= 4, "{args:?}: only {step} commit steps");
    }
}

#[test]
fn a_full_disk_at_any_point_leaves_the_old_set_or_the_whole_new_one() {
    let old = snapshot(&fixture().done);
    for args in STAGES {
        let (args, new) = completed(args);
        let (mut failed, mut passed) = (0, 0);
        for kib in [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 4096] {
            let (_t, run) = fresh_copy("full");
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_convexgan"))
                .args(&args)
                .arg("--quiet")
                .arg("--run-dir")
                .arg(&run)
                .output()
                .unwrap();
            let after = snapshot(&run);
            if out.status.success() {
                passed += 1;
                assert_eq!(after, new, "{args:?} with {kib} KiB files");
            } else {
                failed += 1;
                let e = clean_failure(&out, &["File too large"])
                    .unwrap_or_else(|e| panic!("{args:?} with {kib} KiB files: {e}"));
                assert!(!e.contains(".staging"), "names a staging path: {e}");
                assert!(
                    after == old,
                    "{args:?} with {kib} KiB files: {:?} changed",
                    differing(&after, &old)
                );
            }
            assert!(hidden(&run).is_empty(), "left behind: {:?}", hidden(&run));
        }
        assert!(
            failed >= 3 && passed >= 1,
            "{args:?}: {failed} failed, {passed} passed"
        );
    }
}

#[test]
fn outputs_computed_from_an_earlier_upstream_file_are_refused() {
    let (_t, run) = fresh_copy("upstream");
    let cfg = fixture().config.to_str().unwrap();
    assert_ok(
        &convexgan(&["phase1", "--config", cfg, "--seed", "5"], &run),
        "phase1",
    );
    let before = snapshot(&run);
    let out = convexgan(&["eval"], &run);
    clean_failure(
        &out,
        &[
            "phase2.safetensors",
            "earlier phase1.safetensors",
            "convexgan phase2",
        ],
    )
    .unwrap();
    let out = convexgan(&["phase2"], &run);
    clean_failure(
        &out,
        &[
            "dictionary.safetensors",
            "earlier phase1.safetensors",
            "convexgan build-dict",
        ],
    )
    .unwrap();
    assert_eq!(snapshot(&run), before, "a refused stage wrote something");
    let v = verify(&run);
    assert_ok(&v, "verify");
    let listed = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(listed.contains("stale: build-dict's outputs"), "{listed}");
    for s in ["build-dict", "phase2", "eval"] {
        assert_ok(&convexgan(&[s], &run), s);
    }
    let v = verify(&run);
    assert!(!String::from_utf8_lossy(&v.stdout).contains("stale:"));
}

#[test]
fn a_file_replaced_by_hand_is_refused_and_verify_names_it() {
    let (_t, other) = fresh_copy("other");
    let cfg = fixture().config.to_str().unwrap();
    assert_ok(
        &convexgan(&["phase1", "--config", cfg, "--seed", "9"], &other),
        "phase1",
    );
    let (_t2, run) = fresh_copy("replaced");
    std::fs::copy(other.join(PHASE1_FILE), run.join(PHASE1_FILE)).unwrap();
    let before = snapshot(&run);
    let out = convexgan(&["build-dict"], &run);
    clean_failure(
        &out,
        &[PHASE1_FILE, "changed or replaced", "convexgan phase1"],
    )
    .unwrap();
    assert_eq!(snapshot(&run), before);
    let v = verify(&run);
    clean_failure(&v, &["manifest.json", PHASE1_FILE, "changed since"]).unwrap();
    std::fs::remove_file(run.join(DICT_FILE)).unwrap();
    let v = verify(&run);
    clean_failure(&v, &[DICT_FILE, "No such file"]).unwrap();
}

#[test]
fn two_commands_cannot_hold_one_run_directory() {
    let (_t, run) = fresh_copy("locked");
    let before = snapshot(&run);
    let held = RunDir::new(&run).lock().unwrap();
    for args in [&["eval"][..], &["phase2"], &["build-dict"]] {
        let out = convexgan(args, &run);
        clean_failure(&out, &["--run-dir", "in use by another convexgan command"]).unwrap();
    }
    assert_eq!(snapshot(&run), before);
    drop(held);
    assert_ok(
        &convexgan(&["eval"], &run),
        "eval once the lock is released",
    );
}

#[test]
fn identical_runs_write_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let again = tmp.path().join("again");
    let c = fixture().config.to_str().unwrap();
    assert_ok(&convexgan(&["run", "--config", c], &again), "run");
    let (a, b) = (snapshot(&fixture().done), snapshot(&again));
    assert_eq!(differing(&a, &b), Vec::<String>::new());
}
