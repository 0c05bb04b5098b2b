//! The piped logger, run when no subcommand is given: stdin -> spool -> Pub/Sub until the
//! input ends (see `run` for the wiring and `shutdown` for the signals).
//! Exit 0 once everything read was published; 1 with records left in the spool.
//!
//! A configuration that cannot be used (refused by `config`, no topic, a refused file or
//! spool directory, an unknown user, credentials that do not load) never ends the logger
//! while httpd writes into its pipe: it reads on and keeps the lines unparsed in the spool
//! ([`run::run_unconfigured`]) for the next logger with a usable configuration.

use std::io;
use std::process::ExitCode;

use crate::config::{self, Config, Sources};
use crate::publish::connect::{self, ConnectError};
use crate::run::{self, Finish, RunError};
use crate::spool::SpoolOptions;
use crate::startup::StartError;
use crate::{messages, shutdown, startup};

pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    let shutdown = shutdown::listen().map_err(|e| super::Error::failure(RunError::Start(e)))?;
    run::enlarge_stdin_pipe();
    // A configuration without a topic is refused before anything is touched.
    let prepared = match connect::destination(config).map_err(StartError::from) {
        Ok(_) => startup::prepare(config, startup::SpoolDir::Create),
        Err(e) => Err(e),
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return unconfigured(config.spool.clone(), &e.to_string(), shutdown),
    };
    if prepared.stays_root {
        messages::warn(startup::STAYS_ROOT);
    }
    match run::run(config, prepared, io::stdin(), shutdown) {
        Ok(Finish::Clean) => Ok(ExitCode::SUCCESS),
        Ok(Finish::Unpublished { records }) => Err(super::Error::failure(format_args!(
            "exiting with {records} records not yet published; they stay in the spool {} \
             and are sent by the next run",
            config.spool.dir.display()
        ))),
        Err(e @ RunError::Connect(ConnectError::MissingTopic)) => Err(super::Error::usage(e)),
        Err(e) => Err(super::Error::failure(e)),
    }
}

/// The piped logger when the configuration could not even be loaded: `problem` says why.
pub fn execute_unconfigured(sources: &Sources, problem: &str) -> Result<ExitCode, super::Error> {
    let shutdown = shutdown::listen().map_err(|e| super::Error::failure(RunError::Start(e)))?;
    run::enlarge_stdin_pipe();
    let spool = SpoolOptions::new(config::spool_dir_of(sources));
    unconfigured(spool, problem, shutdown)
}

/// Reads until the input ends, keeping the lines in `spool`; exit 1 with what was kept.
fn unconfigured(
    spool: SpoolOptions,
    problem: &str,
    shutdown: shutdown::Shutdown,
) -> Result<ExitCode, super::Error> {
    let dir = spool.dir.clone();
    let kept = run::run_unconfigured(spool, problem, io::stdin(), shutdown)
        .map_err(super::Error::failure)?;
    Err(super::Error::failure(format_args!(
        "exiting without a usable configuration: {} lines kept unparsed in the spool {} \
         for the next logger with a usable one, {} dropped",
        kept.kept,
        dir.display(),
        kept.dropped
    )))
}
