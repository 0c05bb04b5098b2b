//! The `accesslog-pubsub` binary: parse the command line, load the configuration, hand over
//! to the piped logger or a subcommand, and turn any error into one line on stderr.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use accesslog_pubsub::cli::{Cli, Command, SpoolAction};
use accesslog_pubsub::cmd::spool::{self as spool_command, ReplayEnd, SpoolCommandError};
use accesslog_pubsub::cmd::{parse as parse_command, schema};
use accesslog_pubsub::config::{self, Config};
use accesslog_pubsub::messages;
use accesslog_pubsub::publish::connect::ConnectError;
use accesslog_pubsub::run::{self, Finish, RunError};

/// Exit code for a refused command line or configuration.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid command line");
            messages::error(first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = match config::load(config::Sources {
        config_path: cli.config,
        flags: cli.settings,
    }) {
        Ok(config) => config,
        Err(e) => {
            messages::error(e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    messages::set_verbose(config.report.verbose);
    match cli.command {
        None => log(&config),
        Some(Command::Parse) => parse(&config),
        Some(Command::Schema) => {
            println!("{}", schema::bigquery_schema(&config.input.format));
            ExitCode::SUCCESS
        }
        Some(Command::Spool { action }) => spool(&config, action),
    }
}

/// `spool status | verify | replay`.
fn spool(config: &Config, action: SpoolAction) -> ExitCode {
    let mut out = io::stdout().lock();
    let result = match action {
        SpoolAction::Status => spool_command::status(config, &mut out).map(|()| true),
        SpoolAction::Verify => spool_command::verify(config, &mut out),
        SpoolAction::Replay { timeout } => {
            spool_command::replay(config, timeout.map(|t| t.0)).map(|end| end == ReplayEnd::Done)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e @ SpoolCommandError::Connect(ConnectError::MissingTopic)) => {
            messages::error(format_args!("spool: {e}"));
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            messages::error(format_args!("spool: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The piped logger: stdin -> spool -> Pub/Sub until the input ends.
fn log(config: &Config) -> ExitCode {
    match run::run(config, io::stdin()) {
        Ok(Finish::Clean) => ExitCode::SUCCESS,
        Ok(Finish::Unpublished { records }) => {
            messages::error(format_args!(
                "exiting with {records} records not yet published; they stay in the spool {} \
                 and are sent by the next run",
                config.spool.dir.display()
            ));
            ExitCode::FAILURE
        }
        Err(e @ RunError::Connect(ConnectError::MissingTopic)) => {
            messages::error(e);
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            messages::error(e);
            ExitCode::FAILURE
        }
    }
}

fn parse(config: &Config) -> ExitCode {
    match parse_command::run(config, io::stdin().lock(), io::stdout().lock()) {
        Ok(summary) => {
            let read = summary.read;
            if summary.parse_errors > 0 || read.truncated_lines > 0 {
                messages::note(format_args!(
                    "{} lines, {} did not match the format, {} truncated",
                    read.lines, summary.parse_errors, read.truncated_lines
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            messages::error(format_args!("parse: {e}"));
            ExitCode::FAILURE
        }
    }
}
