//! Atomic file writes: write a temporary file beside the target, flush it to disk, then rename it
//! over the target, so an interrupted run leaves either the old file or the new one, never half,
//! and a concurrent reader sees either no file or the whole of it.
//!
//! Temporaries are named `.<name>.<pid>.<n>.tmp` (`.tmp.<ext>` for [`write_with`]), so
//! [`remove_stale`] can find what a killed process left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically, creating its directory.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    commit(path, "", |tmp| {
        let io = |e| Error::io(path, e);
        let mut f = std::fs::File::create(tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)
    })
}

/// Lets `fill` write the file at a temporary path beside `path` ending in `.<ext>` (for writers
/// that pick the format from the extension), then renames it over `path`. The temporary file
/// exists (empty) when `fill` is called, so an unwritable directory is an I/O error naming `path`;
/// it is removed when `fill` or the rename fails.
pub fn write_with(path: &Path, ext: &str, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    commit(path, ext, |tmp| {
        std::fs::File::create(tmp).map_err(|e| Error::io(path, e))?;
        fill(tmp)
    })
}

fn commit(path: &Path, ext: &str, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    // The rename would replace a symbolic link, a device or a FIFO at `path` with a regular file.
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_file() {
            return Err(Error::bad_file(
                path,
                format!(
                    "exists and is {}; outputs are written only to regular files or new paths",
                    describe(&m)
                ),
            ));
        }
    }
    let tmp = temporary(path, ext)?;
    let result =
        fill(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A fresh temporary path beside `path` (its directory created), ending in `.<ext>` unless `ext`
/// is empty.
fn temporary(path: &Path, ext: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = directory(path);
    let name = path.file_name().ok_or_else(|| {
        Error::invalid(
            "output path",
            format!("{} has no file name", path.display()),
        )
    })?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(path, e))?;
    let ext = if ext.is_empty() {
        String::new()
    } else {
        format!(".{ext}")
    };
    Ok(dir.join(format!(
        ".{}.{}.{}.tmp{ext}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Removes temporaries a killed process left beside `path`.
pub fn remove_stale(path: &Path) {
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(directory(path)) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && is_temporary_name(&n) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether a file name is one of this module's temporaries (`.<name>.<pid>.<n>.tmp[.<ext>]`).
pub fn is_temporary_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(at) = rest.rfind(".tmp") else {
        return false;
    };
    let (head, tail) = (&rest[..at], &rest[at + 4..]);
    if !(tail.is_empty() || tail.starts_with('.') && !tail[1..].contains('.')) {
        return false;
    }
    let mut parts = head.rsplitn(3, '.');
    let digits =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_some_and(|s| !s.is_empty())
}

/// An error, naming `flag`, unless `path` is a regular file or a new path: checked before any
/// work, so that a command does not train for minutes and then fail to write (or replace a
/// device node, a FIFO or a symlink's target with a regular file).
pub fn check_output(path: &Path, flag: &str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(Error::invalid(
            flag,
            format!(
                "{} exists and is {}; give a regular file or a new path",
                path.display(),
                describe(&m)
            ),
        )),
        Err(_) => Ok(()),
    }
}

fn describe(m: &std::fs::Metadata) -> &'static str {
    if m.is_dir() {
        "a directory"
    } else if m.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let err = write_with(&path, "png", |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".tmp.png"));
            Err(Error::invalid("fill", "fails"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        std::fs::write(dir.path().join("sub/.a.txt.1.2.tmp"), b"stale").unwrap();
        remove_stale(&path);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn temporaries_are_told_from_outputs_by_name() {
        for t in [".a.txt.12.0.tmp", ".recall.png.3.44.tmp.png", ".x.1.2.tmp"] {
            assert!(is_temporary_name(t), "{t}");
        }
        for f in [
            "a.txt",
            ".commit.json",
            ".a.tmp",
            ".a.x.1.tmp",
            ".a.1.2.tmp.b.c",
            "a.1.2.tmp",
        ] {
            assert!(!is_temporary_name(f), "{f}");
        }
    }

    #[test]
    fn a_write_never_replaces_a_link_or_a_special_file() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = write(&link, b"new").unwrap_err().to_string();
        assert!(e.contains("a symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        let e = write(Path::new("/dev/null"), b"x").unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn outputs_must_be_regular_files_or_new_paths() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        check_output(&file, "--out").unwrap();
        check_output(&d.path().join("new"), "--out").unwrap();
        let e = check_output(d.path(), "--out").unwrap_err().to_string();
        assert!(e.contains("--out") && e.contains("a directory"), "{e}");
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = check_output(&link, "--save-sampler")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a symbolic link"), "{e}");
        let e = check_output(Path::new("/dev/null"), "--out")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
