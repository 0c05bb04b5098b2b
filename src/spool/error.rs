//! The spool's error type: every message names the file or directory it is about.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, and where.
///
/// Displayed as `spool /var/spool/x: cannot create directory: Permission denied (os error 13)`.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {}: {what}: {error}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        error: io::Error,
    },
    #[error("spool {}: cannot get random bytes for a stream id: {error}", path.display())]
    Random {
        path: PathBuf,
        error: getrandom::Error,
    },
}

impl SpoolError {
    pub(crate) fn io(path: &Path, what: &'static str, error: io::Error) -> Self {
        SpoolError::Io {
            path: path.to_path_buf(),
            what,
            error,
        }
    }
}
