//! The piped logger, run when no subcommand is given: stdin -> spool -> Pub/Sub until the
//! input ends (see `run` for the wiring and `shutdown` for the signals).
//! Exit 0 once everything read was published; 1 with records left in the spool.

use std::io;
use std::process::ExitCode;

use crate::config::Config;
use crate::publish::connect::{self, ConnectError};
use crate::run::{self, Finish, RunError};
use crate::{messages, shutdown, startup};

pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    let shutdown = shutdown::listen().map_err(|e| super::Error::failure(RunError::Start(e)))?;
    // Refuse a configuration without a topic before anything is touched.
    connect::destination(config).map_err(super::Error::usage)?;
    run::enlarge_stdin_pipe();
    let prepared =
        startup::prepare(config, startup::SpoolDir::Create).map_err(super::Error::usage)?;
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
