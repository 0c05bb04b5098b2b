//! The commands, one file each: what each does from a loaded configuration to its exit
//! status. `main` hands over to one of them and says the [`Error`] a command ends with as
//! its one line on stderr.
//!
//! - `log`: the piped logger (no subcommand): stdin -> spool -> Pub/Sub until the input ends.
//! - `parse`: stdin -> one JSON record per line on stdout, nothing published.
//! - `schema`: the BigQuery table schema of a format's records.
//! - `check`: one line per thing the logger needs (configuration, format, account, spool
//!   directory, credentials, topic), OK, WARN or FAIL.
//! - `spool_status`, `spool_verify`, `spool_replay`: the operator's tools for the spool
//!   directory (`spool status | verify | replay`).

pub mod check;
pub mod log;
pub mod parse;
pub mod schema;
pub mod spool_replay;
pub mod spool_status;
pub mod spool_verify;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Exit status for a refused command line or configuration.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed: one line, and the exit status that goes with it.
#[derive(Debug)]
pub struct Error {
    message: String,
    status: u8,
}

impl Error {
    /// Something the operator must set or fix first (exit 2).
    pub fn usage(message: impl fmt::Display) -> Error {
        Error {
            message: message.to_string(),
            status: EXIT_USAGE,
        }
    }

    /// The command could not do its job (exit 1).
    pub fn failure(message: impl fmt::Display) -> Error {
        Error {
            message: message.to_string(),
            status: 1,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Writes a command's whole output and flushes it: a full disk or a closed pipe is an error,
/// said as `{what}: writing to stdout: ...`, not a silent loss.
pub(crate) fn write_out(what: &str, out: &mut impl Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::failure(format_args!("{what}: writing to stdout: {e}")))
}

/// The one line a spool command fails with.
pub(crate) fn spool_failure(e: impl fmt::Display) -> Error {
    Error::failure(format_args!("spool: {e}"))
}
