//! Bounded reads: every file the crate reads whole goes through [`read_regular`], which refuses
//! what is not a regular file (a directory, a FIFO that would block forever, a device such as
//! `/dev/zero` that would never end) and a file above the caller's limit, before reading a byte,
//! and stops at the limit if the file grows while it is read.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Limits by kind of file (bytes).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
pub const MAX_TEXT_BYTES: u64 = 4 << 30;
pub const MAX_TENSOR_FILE_BYTES: u64 = 256 << 30;
pub const MAX_MODEL_BYTES: u64 = 16 << 30;

/// What kind of thing is at `path`, for messages.
fn kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// An error unless `path` (symbolic links followed) is a regular file of at most `max` bytes;
/// `what` says what was expected ("a TOML configuration"). Returns its length.
pub fn check_regular(path: &Path, what: &str, max: u64) -> Result<u64> {
    let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !m.is_file() {
        return Err(Error::bad_file(
            path,
            format!("is {}, expected {what}", kind(&m)),
        ));
    }
    if m.len() > max {
        return Err(Error::bad_file(
            path,
            format!("{} bytes, more than the {max} accepted for {what}", m.len()),
        ));
    }
    Ok(m.len())
}

/// The bytes of the regular file at `path`, at most `max` of them (see the module notes).
pub fn read_regular(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let len = check_regular(path, what, max)?;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::bad_file(
            path,
            format!("grew past the {max} bytes accepted for {what} while it was read"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_oversized_ones_are_refused_before_reading() {
        let d = tempfile::tempdir().unwrap();
        let e = read_regular(Path::new("/dev/zero"), "a TOML configuration", 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero") && e.contains("is a device"), "{e}");
        let e = read_regular(d.path(), "a TOML configuration", 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        let fifo = d.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success());
        if matches!(ok, Ok(true)) {
            let e = read_regular(&fifo, "a file", 10).unwrap_err().to_string();
            assert!(e.contains("is a FIFO"), "{e}");
        }
        let f = d.path().join("big");
        std::fs::write(&f, [1u8; 11]).unwrap();
        let e = read_regular(&f, "a file", 10).unwrap_err().to_string();
        assert!(e.contains("11 bytes, more than the 10"), "{e}");
        assert_eq!(read_regular(&f, "a file", 11).unwrap(), vec![1u8; 11]);
    }
}
