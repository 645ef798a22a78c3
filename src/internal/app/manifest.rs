//! `manifest.json`: which stage wrote each file of a run directory (size and SHA-256), and which
//! files each stage computed its outputs from. It is committed with every stage's outputs, so it
//! always describes the set on disk; a stage checks the files it reads against it before any
//! work, which catches a file replaced by hand and an output made from an earlier upstream file
//! (`phase1 --seed 1` followed by `eval` on the old `phase2.safetensors`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
const FORMAT: &str = "convexgan-run-manifest-1";
/// A manifest lists a few dozen files; anything larger is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// One committed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The stage that wrote it (its command name: `phase1`, `build-dict`, ...).
    pub stage: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What one stage read: file name → SHA-256 at the time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    pub inputs: BTreeMap<String, String>,
}

/// The run directory's manifest. Maps are ordered, so identical runs write identical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub files: BTreeMap<String, FileRecord>,
    pub stages: BTreeMap<String, StageRecord>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT.into(),
            files: BTreeMap::new(),
            stages: BTreeMap::new(),
        }
    }
}

/// Size and SHA-256 (hex) of a file, read in pieces.
pub fn digest(path: &Path) -> Result<(u64, String)> {
    crate::internal::io::read::check_regular(path, "a file a stage wrote", u64::MAX)?;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    let hex = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((n, hex))
}

impl Manifest {
    /// The manifest of run directory `root`; `None` when it has none (a new directory, or one
    /// written before manifests existed).
    pub fn load(root: &Path) -> Result<Option<Self>> {
        let path = root.join(MANIFEST_FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let bytes =
            crate::internal::io::read::read_regular(&path, "a run manifest", MAX_MANIFEST_BYTES)?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("not a run manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::bad_file(
                &path,
                format!("format '{}' is not {FORMAT}", m.format),
            ));
        }
        Ok(Some(m))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        v.push(b'\n');
        v
    }

    /// Checks `name`, which `stage` is about to read, against the manifest: the file on disk is
    /// the one its stage wrote, and the files that stage computed it from are still the ones in
    /// the run directory. Returns its SHA-256, which `stage` records as its input.
    pub fn check_input(&self, root: &Path, stage: &str, name: &str) -> Result<String> {
        let path = root.join(name);
        let (_, sha) = digest(&path)?;
        let Some(rec) = self.files.get(name) else {
            return Err(Error::bad_file(
                &path,
                format!(
                    "is not in the run directory's {MANIFEST_FILE}, so no stage here wrote it; \
                     {stage} reads only outputs of this run's earlier stages"
                ),
            ));
        };
        if rec.sha256 != sha {
            return Err(Error::bad_file(
                &path,
                format!(
                    "differs from the file {} wrote here ({MANIFEST_FILE} records another \
                     SHA-256): it was changed or replaced since; run `convexgan {}` again",
                    rec.stage, rec.stage
                ),
            ));
        }
        if let Some(made_from) = self.stages.get(&rec.stage) {
            for (dep, dep_sha) in &made_from.inputs {
                let now = self.files.get(dep);
                if now.map(|r| &r.sha256) != Some(dep_sha) {
                    let since = now.map_or_else(
                        || format!("{dep} is gone"),
                        |r| format!("{} has run since", r.stage),
                    );
                    return Err(Error::bad_file(
                        &path,
                        format!(
                            "was computed from an earlier {dep} ({since}); run `convexgan {}` \
                             again before {stage}",
                            rec.stage
                        ),
                    ));
                }
            }
        }
        Ok(sha)
    }

    /// Every problem with the files on disk: missing, changed, or computed from an earlier
    /// upstream file. Empty when the run directory is the set the manifest describes.
    pub fn problems(&self, root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for (name, rec) in &self.files {
            match digest(&root.join(name)) {
                Err(e) => out.push(format!("{name} (from {}): {e}", rec.stage)),
                Ok((_, sha)) if sha != rec.sha256 => out.push(format!(
                    "{name} differs from the file {} wrote (changed since)",
                    rec.stage
                )),
                Ok(_) => {}
            }
        }
        out
    }

    /// Stages whose outputs were computed from files that a later stage has replaced, with the
    /// file that changed.
    pub fn stale(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (stage, rec) in &self.stages {
            for (dep, sha) in &rec.inputs {
                if self.files.get(dep).map(|r| &r.sha256) != Some(sha) {
                    out.push((stage.clone(), dep.clone()));
                    break;
                }
            }
        }
        out
    }
}

/// `convexgan verify`: finishes an interrupted commit, then checks every file of the run
/// directory against its manifest and prints what each stage wrote and whether a later stage
/// has replaced what it was computed from. An error when a file is missing or changed.
pub fn verify(run_dir: &super::RunDir) -> Result<()> {
    let lock = run_dir.lock()?;
    let root = lock.run_dir().path();
    let Some(m) = Manifest::load(root)? else {
        return Err(Error::invalid(
            "--run-dir",
            format!(
                "{} has no {MANIFEST_FILE}: no stage has committed outputs there (or an older \
                 convexgan wrote them)",
                root.display()
            ),
        ));
    };
    for (name, rec) in &m.files {
        println!("{:<12} {name} ({} bytes)", rec.stage, rec.bytes);
    }
    for (stage, dep) in m.stale() {
        println!("stale: {stage}'s outputs were computed from an earlier {dep}; run `convexgan {stage}` again");
    }
    let problems = m.problems(root);
    if problems.is_empty() {
        println!("{}: every file is the one its stage wrote", root.display());
        Ok(())
    } else {
        Err(Error::bad_file(
            root.join(MANIFEST_FILE),
            format!("the run directory differs from it: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: &str, sha: &str) -> FileRecord {
        FileRecord {
            stage: stage.into(),
            bytes: 1,
            sha256: sha.into(),
        }
    }

    #[test]
    fn an_input_must_be_the_committed_file_and_made_from_the_current_upstream() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("p1"), b"one").unwrap();
        std::fs::write(d.path().join("dict"), b"two").unwrap();
        let (_, s1) = digest(&d.path().join("p1")).unwrap();
        let (_, s2) = digest(&d.path().join("dict")).unwrap();
        let mut m = Manifest::default();
        m.files.insert("p1".into(), record("phase1", &s1));
        m.files.insert("dict".into(), record("build-dict", &s2));
        m.stages.insert("phase1".into(), StageRecord::default());
        let mut from = StageRecord::default();
        from.inputs.insert("p1".into(), s1.clone());
        m.stages.insert("build-dict".into(), from);
        assert_eq!(m.check_input(d.path(), "phase2", "dict").unwrap(), s2);
        assert!(m.stale().is_empty() && m.problems(d.path()).is_empty());

        // phase1 ran again: the dictionary is stale.
        m.files.insert("p1".into(), record("phase1", "0000"));
        let e = m
            .check_input(d.path(), "phase2", "dict")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("earlier p1") && e.contains("phase1 has run since"),
            "{e}"
        );
        assert!(e.contains("convexgan build-dict"), "{e}");
        assert_eq!(m.stale(), [("build-dict".to_string(), "p1".to_string())]);

        // Changed by hand.
        std::fs::write(d.path().join("dict"), b"three").unwrap();
        let e = m
            .check_input(d.path(), "phase2", "dict")
            .unwrap_err()
            .to_string();
        assert!(e.contains("changed or replaced"), "{e}");
        assert_eq!(m.problems(d.path()).len(), 2);

        // Not written by a stage at all.
        std::fs::write(d.path().join("other"), b"x").unwrap();
        let e = m
            .check_input(d.path(), "eval", "other")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no stage here wrote it"), "{e}");
    }

    #[test]
    fn a_manifest_round_trips_and_a_foreign_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(d.path()).unwrap(), None);
        let mut m = Manifest::default();
        m.files.insert("a".into(), record("eval", "ab"));
        std::fs::write(d.path().join(MANIFEST_FILE), m.to_bytes()).unwrap();
        assert_eq!(Manifest::load(d.path()).unwrap(), Some(m));
        std::fs::write(
            d.path().join(MANIFEST_FILE),
            b"{\"format\":\"x\",\"files\":{},\"stages\":{}}",
        )
        .unwrap();
        let e = Manifest::load(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("manifest.json") && e.contains("format 'x'"),
            "{e}"
        );
        std::fs::write(d.path().join(MANIFEST_FILE), b"[1,2").unwrap();
        let e = Manifest::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a run manifest"), "{e}");
    }
}
