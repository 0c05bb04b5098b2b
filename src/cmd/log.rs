//! The piped logger, run when no subcommand is given: stdin -> spool -> Pub/Sub until the
//! input ends (see `run` for the wiring and `shutdown` for the signals).
//! Exit 0 once everything read was published; 1 with records left in the spool.
//!
//! A configuration that cannot be used (refused by `config`, no topic, a refused file or
//! spool directory, an unknown user, credentials that do not load) never ends the logger
//! while httpd writes into its pipe: it reads on and keeps the lines unparsed in the spool
//! ([`run::run_unconfigured`]) for the next logger with a usable configuration, or for
//! itself: a SIGHUP that finds the configuration fixed starts it again with it
//! ([`crate::handover`]). A refused command line does the same, except that a SIGHUP
//! cannot fix it.

use std::io;
use std::process::ExitCode;

use crate::config::{self, Config, Sources};
use crate::handover;
use crate::pipe::{self, Gather};
use crate::publish::connect::{self, ConnectError};
use crate::run::{self, Finish, RunError, Unconfigured};
use crate::spool::SpoolOptions;
use crate::startup::StartError;
use crate::{messages, shutdown, startup};

pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    let shutdown = listen()?;
    // A configuration without a topic is refused before anything is touched.
    let prepared = match connect::destination(config).map_err(StartError::from) {
        Ok(_) => startup::prepare(config, startup::SpoolDir::Create),
        Err(e) => Err(e),
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let usable = || {
                let config = config.reload().map_err(|e| e.to_string())?;
                connect::destination(&config).map_err(|e| e.to_string())?;
                Ok(())
            };
            return unconfigured(config.spool.clone(), &e.to_string(), &usable, shutdown);
        }
    };
    if prepared.stays_root {
        messages::warn(startup::STAYS_ROOT);
    }
    match run::run(config, prepared, io::stdin(), Some(Gather::on(0)), shutdown) {
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
    let spool = SpoolOptions::new(config::spool_dir_of(sources));
    let usable = || {
        let config = config::load(sources.clone()).map_err(|e| e.to_string())?;
        connect::destination(&config).map_err(|e| e.to_string())?;
        Ok(())
    };
    unconfigured(spool, problem, &usable, listen()?)
}

/// The piped logger when its command line was refused (`problem` says why): a reload
/// cannot change the command line, only httpd.conf and a graceful restart can.
pub fn execute_with_bad_command_line(
    sources: &Sources,
    problem: &str,
) -> Result<ExitCode, super::Error> {
    let spool = SpoolOptions::new(config::spool_dir_of(sources));
    let usable = || {
        Err(
            "the command line is read only at start: fix the CustomLog line in httpd.conf, \
             then apachectl graceful"
                .to_string(),
        )
    };
    let problem = format!("{problem} (on the command line)");
    unconfigured(spool, &problem, &usable, listen()?)
}

/// Signals handled, and the stdin pipe made bigger, as the logger does first.
fn listen() -> Result<shutdown::Shutdown, super::Error> {
    let shutdown = shutdown::listen().map_err(|e| super::Error::failure(RunError::Start(e)))?;
    pipe::enlarge_stdin();
    Ok(shutdown)
}

/// Reads, keeping the lines in `spool`, until the input ends (exit 1 with what was kept) or
/// a SIGHUP finds the configuration `usable`: then the logger starts again with it, in this
/// process, on the same stdin, and takes over what was kept.
fn unconfigured(
    spool: SpoolOptions,
    problem: &str,
    usable: &dyn Fn() -> Result<(), String>,
    mut shutdown: shutdown::Shutdown,
) -> Result<ExitCode, super::Error> {
    let dir = spool.dir.clone();
    let mut kept_before = 0;
    loop {
        let kept = match run::run_unconfigured(spool.clone(), problem, usable, &mut shutdown)
            .map_err(super::Error::failure)?
        {
            Unconfigured::Ended(kept) => kept,
            Unconfigured::Usable(kept) => {
                messages::note(format_args!(
                    "reload: the configuration can be used now; starting again with it (same \
                     process, same pipe), {} lines kept in the spool {} go out first",
                    kept_before + kept.kept,
                    dir.display()
                ));
                let e = handover::restart();
                messages::error(format_args!(
                    "cannot start again with the new configuration ({e}); reading on without one"
                ));
                kept_before += kept.kept;
                continue;
            }
        };
        return Err(super::Error::failure(format_args!(
            "exiting without a usable configuration: {} lines kept unparsed in the spool {} \
             for the next logger with a usable one, {} dropped",
            kept_before + kept.kept,
            dir.display(),
            kept.dropped
        )));
    }
}
