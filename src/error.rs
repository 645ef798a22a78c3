//! One error type for the library. Every variant names what it is about (a file, a tensor, an op,
//! a flag) so that a user can act on the message without a backtrace.

use std::path::PathBuf;

/// Every failure the library reports. The `Display` text names the subject (op, file, field) and
/// what is wrong with it; [`Error::Io`] keeps the underlying [`std::io::Error`] as its source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Operands of an op disagree in shape.
    #[error("shape mismatch in {op}: {detail}")]
    Shape {
        /// The op, layer or stage whose operands disagree (`"gather_rows"`, `"mlp forward"`, …).
        op: &'static str,
        /// The shapes involved and which dimension differs.
        detail: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory that was being opened, read or written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A file was read but its contents are wrong (corrupt, truncated, wrong header, wrong tensor).
    #[error("{}: {msg}", path.display())]
    BadFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with the line, tensor or field where that is known.
        msg: String,
    },

    /// A configuration value or argument is out of range or inconsistent.
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// The value at fault: a configuration field or flag (`"phase2.ns (--ns)"`), or what an
        /// argument stands for.
        what: String,
        /// Why it is rejected, usually with the accepted range.
        msg: String,
    },

    /// A NaN or Inf turned up where only finite values are allowed; the text says where (the
    /// tensor or loss, and the row and column when known).
    #[error("non-finite value in {0}")]
    NonFinite(String),

    /// The CUDA backend could not be created or an operation on it failed; the text carries the
    /// driver, NVRTC, cuBLAS or cuDNN message and the call that failed.
    #[error("CUDA: {0}")]
    Cuda(String),
}

/// `std::result::Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Shape`] for `op`.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }
    /// An [`Error::Invalid`] naming the value `what`.
    pub fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            msg: msg.into(),
        }
    }
    /// An [`Error::BadFile`] for `path`.
    pub fn bad_file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// An [`Error::Io`] for `path`, keeping `source`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
