//! One error type for the library. Every variant names what it is about (a file, a tensor, an op,
//! a flag) so that a user can act on the message without a backtrace.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Operands of an op disagree in shape.
    #[error("shape mismatch in {op}: {detail}")]
    Shape { op: &'static str, detail: String },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file was read but its contents are wrong (corrupt, truncated, wrong header, wrong tensor).
    #[error("{}: {msg}", path.display())]
    BadFile { path: PathBuf, msg: String },

    /// A configuration value or argument is out of range or inconsistent.
    #[error("invalid {what}: {msg}")]
    Invalid { what: String, msg: String },

    /// A NaN or Inf turned up where only finite values are allowed.
    #[error("non-finite value in {0}")]
    NonFinite(String),

    /// The CUDA backend could not be created or an operation on it failed.
    #[error("CUDA: {0}")]
    Cuda(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }
    pub fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            msg: msg.into(),
        }
    }
    pub fn bad_file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
