//! How a stage changes a run directory: under the directory's lock, it writes every output into
//! a staging directory beside them, then commits them as one set. The commit point is the atomic
//! write of a journal (`.commit.json`) naming the files to move; the renames follow, and the
//! journal is removed last. A command killed before the journal leaves the old set (and a staging
//! directory); one killed after it leaves a journal that the next command to take the lock
//! replays before it reads anything, so every command sees a complete old or a complete new set.
//! Each set carries the updated [`Manifest`].
//!
//! For the tests that kill a command at every step of a commit, the environment variable
//! `CONVEXGAN_TEST_CRASH_AT_COMMIT_STEP=k` aborts the process (no destructor runs) before step
//! `k`: 0 is the journal's write, `1..=n` the renames, `n + 1` the journal's removal.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{digest, FileRecord, Manifest, StageRecord, MANIFEST_FILE};
use super::run_dir::RunDir;
use crate::error::{Error, Result};
use crate::internal::io::atomic;

/// The journal of a commit under way.
pub const JOURNAL_FILE: &str = ".commit.json";
const STAGING_PREFIX: &str = ".staging-";
const MAX_JOURNAL_BYTES: u64 = 1 << 20;

/// A run directory held by this process: taken with [`RunDir::lock`], released when dropped.
/// Any interrupted commit was finished and leftovers removed when it was taken.
pub struct RunLock {
    run: RunDir,
    _dir: File,
    /// The directory was made for this command; removed on release if nothing was written.
    created: bool,
}

impl RunLock {
    pub fn run_dir(&self) -> &RunDir {
        &self.run
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if self.created {
            // Fails (and is meant to) unless the directory is still empty.
            let _ = std::fs::remove_dir(self.run.path());
        }
    }
}

impl RunDir {
    /// Takes the run directory for one command, creating it if needed: an error when another
    /// command holds it (two stages writing one directory would mix their outputs). Finishes a
    /// commit that a killed command left, and removes its staging directories and temporaries.
    pub fn lock(&self) -> Result<RunLock> {
        self.check_usable()?;
        let root = self.path();
        let created = !root.exists();
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let dir = File::open(root).map_err(|e| Error::io(root, e))?;
        match dir.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::invalid(
                    "--run-dir",
                    format!(
                        "{} is in use by another convexgan command (it holds the directory's \
                         lock); wait for it to finish or give another run directory",
                        root.display()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(root, e)),
        }
        let lock = RunLock {
            run: self.clone(),
            _dir: dir,
            created,
        };
        recover(root)?;
        Ok(lock)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    stage: String,
    /// The staging directory, relative to the run directory.
    staging: String,
    /// Files to move from the staging directory to the same relative path in the run directory,
    /// the manifest last.
    moves: Vec<String>,
    /// Files of the old set that the new one does not have.
    removes: Vec<String>,
}

/// The outputs of one stage while it runs: written under [`StagedOutputs::path`], committed by
/// [`StagedOutputs::commit`]; dropped uncommitted, they are removed and the run directory keeps
/// its old set.
pub struct StagedOutputs<'l> {
    lock: &'l RunLock,
    stage: &'static str,
    staging: PathBuf,
    outputs: BTreeSet<String>,
    removes: BTreeSet<String>,
    inputs: StageRecord,
    committed: bool,
}

impl<'l> StagedOutputs<'l> {
    /// Starts the outputs of `stage` (its command name) in a fresh staging directory.
    pub fn begin(lock: &'l RunLock, stage: &'static str) -> Result<Self> {
        let staging = lock.run.path().join(format!("{STAGING_PREFIX}{stage}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        }
        std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        Ok(StagedOutputs {
            lock,
            stage,
            staging,
            outputs: BTreeSet::new(),
            removes: BTreeSet::new(),
            inputs: StageRecord::default(),
            committed: false,
        })
    }

    fn root(&self) -> &Path {
        self.lock.run.path()
    }

    /// Where to write output `name` (a path relative to the run directory).
    pub fn path(&mut self, name: &str) -> PathBuf {
        self.removes.remove(name);
        self.outputs.insert(name.to_string());
        let p = self.staging.join(name);
        if let Some(dir) = p.parent() {
            // A failure here is the writer's I/O error, naming the file.
            let _ = std::fs::create_dir_all(dir);
        }
        p
    }

    /// The new set does not have `name` (a file the stage no longer writes, or one it makes
    /// obsolete, such as a Phase 2 checkpoint once Phase 1 has changed).
    pub fn remove(&mut self, name: &str) {
        if !self.outputs.contains(name) {
            self.removes.insert(name.to_string());
        }
    }

    /// Checks the run directory's files `names`, which this stage has read, against the manifest
    /// (see [`Manifest::check_input`]) and records them as what its outputs are computed from.
    /// A run directory without a manifest (written before manifests existed) is not checked.
    pub fn read_inputs(&mut self, names: &[&str]) -> Result<()> {
        let manifest = Manifest::load(self.root())?;
        for &name in names {
            let sha = match &manifest {
                Some(m) => m.check_input(self.root(), self.stage, name)?,
                None => digest(&self.root().join(name))?.1,
            };
            self.inputs.inputs.insert(name.to_string(), sha);
        }
        Ok(())
    }

    /// Commits the staged outputs with the updated manifest as one set.
    pub fn commit(mut self) -> Result<()> {
        let root = self.root().to_path_buf();
        let mut manifest = Manifest::load(&root)?.unwrap_or_default();
        for name in &self.outputs {
            let staged = self.staging.join(name);
            let (bytes, sha256) = digest(&staged)?;
            // The rename would replace a link or a special file with a regular file.
            atomic::check_output(&root.join(name), "run directory")?;
            manifest.files.insert(
                name.clone(),
                FileRecord {
                    stage: self.stage.to_string(),
                    bytes,
                    sha256,
                },
            );
        }
        for name in &self.removes {
            manifest.files.remove(name);
        }
        manifest
            .stages
            .insert(self.stage.to_string(), std::mem::take(&mut self.inputs));
        atomic::write(&self.staging.join(MANIFEST_FILE), &manifest.to_bytes())?;
        let mut moves: Vec<String> = self.outputs.iter().cloned().collect();
        moves.push(MANIFEST_FILE.to_string());
        let journal = Journal {
            stage: self.stage.to_string(),
            staging: format!("{STAGING_PREFIX}{}", self.stage),
            moves,
            removes: self.removes.iter().cloned().collect(),
        };
        crash_point(0);
        let text = serde_json::to_vec_pretty(&journal).expect("a journal serialises");
        atomic::write(&root.join(JOURNAL_FILE), &text)?;
        sync_dir(&root)?;
        // From here the new set is decided: a failure below is finished by the next command.
        self.committed = true;
        replay(&root, &journal, true)
    }
}

impl Drop for StagedOutputs<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// `e` with a staged file's path replaced by the path it would have been committed to, so that
/// a failed write names `recall.png` in the run directory rather than a staging directory.
pub fn unstage(e: Error) -> Error {
    fn clean(p: PathBuf) -> PathBuf {
        p.components()
            .filter(|c| !c.as_os_str().to_string_lossy().starts_with(STAGING_PREFIX))
            .collect()
    }
    match e {
        Error::Io { path, source } => Error::Io {
            path: clean(path),
            source,
        },
        Error::BadFile { path, msg } => Error::BadFile {
            path: clean(path),
            msg,
        },
        other => other,
    }
}

/// Aborts the process at commit step `step` when the tests ask for it (module notes).
fn crash_point(step: usize) {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("CONVEXGAN_TEST_CRASH_AT_COMMIT_STEP")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if *at == Some(step) {
        eprintln!("CONVEXGAN_TEST_CRASH_AT_COMMIT_STEP: aborting before commit step {step}");
        std::process::abort();
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A relative path inside the run directory (a journal is read back from disk).
fn inside(root: &Path, name: &str, journal: &Path) -> Result<PathBuf> {
    let p = Path::new(name);
    if name.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::bad_file(
            journal,
            format!("names '{name}', which is not a path inside the run directory"),
        ));
    }
    Ok(root.join(p))
}

/// Moves the journal's files into place and removes the journal and the staging directory.
/// Each step can be repeated, so a replay that is itself interrupted is finished by the next.
fn replay(root: &Path, j: &Journal, live: bool) -> Result<()> {
    let jpath = root.join(JOURNAL_FILE);
    let staging = inside(root, &j.staging, &jpath)?;
    let mut dirs = BTreeSet::from([root.to_path_buf()]);
    for (i, name) in j.moves.iter().enumerate() {
        if live {
            crash_point(i + 1);
        }
        let (from, to) = (inside(&staging, name, &jpath)?, inside(root, name, &jpath)?);
        if from.exists() {
            let dir = to.parent().unwrap_or(root).to_path_buf();
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            dirs.insert(dir);
        }
    }
    for name in &j.removes {
        let p = inside(root, name, &jpath)?;
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&p, e)),
            _ => {}
        }
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    if live {
        crash_point(j.moves.len() + 1);
    }
    std::fs::remove_file(&jpath).map_err(|e| Error::io(&jpath, e))?;
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    sync_dir(root)
}

/// Finishes an interrupted commit and removes what killed commands left: staging directories
/// and the temporaries of atomic writes.
fn recover(root: &Path) -> Result<()> {
    let jpath = root.join(JOURNAL_FILE);
    if std::fs::symlink_metadata(&jpath).is_ok() {
        let bytes =
            crate::internal::io::read::read_regular(&jpath, "a commit journal", MAX_JOURNAL_BYTES)?;
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_file(
                &jpath,
                format!("is not a commit journal ({e}); remove it to keep the files as they are"),
            )
        })?;
        eprintln!(
            "{}: finishing the commit of {}'s outputs that an interrupted command left",
            root.display(),
            j.stage
        );
        replay(root, &j, false)?;
    }
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && name.starts_with(STAGING_PREFIX) {
            std::fs::remove_dir_all(e.path()).map_err(|err| Error::io(e.path(), err))?;
        } else if !is_dir && atomic::is_temporary_name(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_run_directory_is_refused_until_the_first_is_released() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::new(d.path().join("run"));
        let held = run.lock().unwrap();
        let e = run.lock().err().unwrap().to_string();
        assert!(e.contains("in use by another convexgan command"), "{e}");
        drop(held);
        // Nothing was written: the directory the lock made is gone again.
        assert!(!run.path().exists());
        let _again = run.lock().unwrap();
    }

    #[test]
    fn uncommitted_outputs_leave_nothing_and_committed_ones_arrive_as_a_set() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir::new(d.path());
        let lock = run.lock().unwrap();
        std::fs::write(d.path().join("old.txt"), b"old").unwrap();
        {
            let mut s = StagedOutputs::begin(&lock, "eval").unwrap();
            std::fs::write(s.path("a.txt"), b"a").unwrap();
        }
        assert!(!d.path().join("a.txt").exists());
        assert!(!d.path().join(".staging-eval").exists());
        let mut s = StagedOutputs::begin(&lock, "eval").unwrap();
        std::fs::write(s.path("a.txt"), b"a").unwrap();
        std::fs::write(s.path("sub/b.txt"), b"b").unwrap();
        s.remove("old.txt");
        s.commit().unwrap();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"a");
        assert_eq!(std::fs::read(d.path().join("sub/b.txt")).unwrap(), b"b");
        assert!(!d.path().join("old.txt").exists());
        assert!(!d.path().join(JOURNAL_FILE).exists());
        let m = Manifest::load(d.path()).unwrap().unwrap();
        assert_eq!(m.files.keys().collect::<Vec<_>>(), ["a.txt", "sub/b.txt"]);
        assert!(m.problems(d.path()).is_empty());
    }

    #[test]
    fn a_journal_left_by_a_killed_commit_is_replayed_and_a_hostile_one_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join(".staging-phase1")).unwrap();
        std::fs::write(root.join(".staging-phase1/x"), b"new").unwrap();
        std::fs::write(root.join("y"), b"new already").unwrap();
        std::fs::write(root.join("gone"), b"old").unwrap();
        std::fs::write(root.join(".x.77.0.tmp"), b"half").unwrap();
        let j = Journal {
            stage: "phase1".into(),
            staging: ".staging-phase1".into(),
            moves: vec!["x".into(), "y".into()],
            removes: vec!["gone".into()],
        };
        std::fs::write(root.join(JOURNAL_FILE), serde_json::to_vec(&j).unwrap()).unwrap();
        let lock = RunDir::new(root).lock().unwrap();
        assert_eq!(std::fs::read(root.join("x")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("y")).unwrap(), b"new already");
        let mut left: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["x", "y"]);
        drop(lock);
        let evil = Journal {
            stage: "phase1".into(),
            staging: ".staging-phase1".into(),
            moves: vec!["../outside".into()],
            removes: vec![],
        };
        std::fs::write(root.join(JOURNAL_FILE), serde_json::to_vec(&evil).unwrap()).unwrap();
        let e = RunDir::new(root).lock().err().unwrap().to_string();
        assert!(
            e.contains(".commit.json") && e.contains("not a path inside"),
            "{e}"
        );
        std::fs::write(root.join(JOURNAL_FILE), b"{").unwrap();
        let e = RunDir::new(root).lock().err().unwrap().to_string();
        assert!(e.contains("is not a commit journal"), "{e}");
    }
}
