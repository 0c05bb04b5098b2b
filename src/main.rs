//! The `accesslog-pubsub` binary: parse the command line, load the configuration, hand over
//! to one command, and say the error it ends with as one line on stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use accesslog_pubsub::cli::{Cli, Command, Refused, SpoolAction};
use accesslog_pubsub::cmd::{self, EXIT_USAGE};
use accesslog_pubsub::config::{self, Settings, Sources};
use accesslog_pubsub::messages;

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
            let problem = first.trim_start_matches("error: ");
            let refused = Refused::read(std::env::args_os().skip(1));
            // A subcommand, or someone at a terminal: the refusal stands. The piped logger
            // reads on whatever is wrong, as with a bad configuration.
            if refused.subcommand || std::io::stdin().is_terminal() {
                messages::error(problem);
                return ExitCode::from(EXIT_USAGE);
            }
            let sources = Sources {
                config_path: refused.config,
                flags: Settings {
                    spool_dir: refused.spool_dir,
                    ..Settings::default()
                },
            };
            return cmd::log::execute_with_bad_command_line(&sources, problem).unwrap_or_else(
                |e| {
                    messages::error(&e);
                    e.exit_code()
                },
            );
        }
    };
    let sources = Sources {
        config_path: cli.config,
        flags: cli.settings,
    };
    let config = match config::load(sources.clone()) {
        Ok(config) => config,
        // The piped logger never exits on a bad configuration: httpd would respawn it and
        // nobody would read its pipe.
        Err(e) if cli.command.is_none() => {
            let result = cmd::log::execute_unconfigured(&sources, &e.to_string());
            return result.unwrap_or_else(|e| {
                messages::error(&e);
                e.exit_code()
            });
        }
        Err(e) => {
            messages::error(e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    messages::set_verbose(config.report.verbose);
    let result = match cli.command {
        None => cmd::log::execute(&config),
        Some(Command::Parse) => cmd::parse::execute(&config),
        Some(Command::Schema) => cmd::schema::execute(&config),
        Some(Command::Check { sample }) => cmd::check::execute(&config, sample.as_deref()),
        Some(Command::Spool { action }) => match action {
            SpoolAction::Status => cmd::spool_status::execute(&config),
            SpoolAction::Verify => cmd::spool_verify::execute(&config),
            SpoolAction::Replay {
                timeout,
                to_project,
                to_topic,
            } => cmd::spool_replay::execute(
                &config,
                &cmd::spool_replay::Replay {
                    timeout: timeout.map(|t| t.0),
                    to_project,
                    to_topic,
                },
            ),
        },
    };
    result.unwrap_or_else(|e| {
        messages::error(&e);
        e.exit_code()
    })
}
