//! The command line: clap definitions, and what can still be read of a command line clap
//! refuses ([`Refused`]).
//!
//! Every setting of the configuration file is also a flag (see [`crate::config::Settings`];
//! their help and defaults come from `config::table`), accepted before or after the
//! subcommand; flags win over the file.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{DEFAULT_CONFIG_PATH, Dur, Settings};

/// Ships Apache httpd access logs from a `CustomLog "|..."` pipe to Google Cloud Pub/Sub.
///
/// With no subcommand it is the piped logger: it reads log lines from stdin, parses them with
/// the configured LogFormat and publishes one JSON message per line.
#[derive(Debug, Parser)]
#[command(name = "accesslog-pubsub", version, max_term_width = 100)]
pub struct Cli {
    #[arg(long, global = true, value_name = "PATH", help = config_help())]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse stdin and print one JSON record per line on stdout; publish nothing
    Parse,
    /// Print the BigQuery table schema (JSON) of the records for the configured format
    Schema,
    /// Check the configuration, the spool directory, the account, the credentials and the
    /// topic; one line each, OK, WARN or FAIL; exit 1 on any FAIL
    Check {
        /// Also parse this log file and say how many of its lines the format matches
        #[arg(long, value_name = "FILE")]
        sample: Option<PathBuf>,
    },
    /// Look into the disk spool (--spool-dir), check it, or send what is left in it
    Spool {
        #[command(subcommand)]
        action: SpoolAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum SpoolAction {
    /// Records not yet published, bytes, the oldest record's age, files set aside
    Status,
    /// Check every checksum of every spool file; exit 1 if anything is damaged
    Verify,
    /// Publish what no running logger holds, each segment to the destination it records,
    /// then exit (0 once all is acknowledged)
    Replay {
        /// Stop after this long, leaving the rest in the spool [default: no limit]
        #[arg(long, value_name = "DURATION")]
        timeout: Option<Dur>,
        /// Send everything to this project instead of the one each segment records
        #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
        to_project: Option<String>,
        /// Send everything to this topic instead of the one each segment records
        #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
        to_topic: Option<String>,
    },
}

/// The help of `--config`.
fn config_help() -> String {
    format!("The configuration file [default: {DEFAULT_CONFIG_PATH} when it exists]")
}

/// What can be told of a command line clap refused: whether it names a subcommand (then
/// the refusal stands, exit 2) or is the piped logger's (which must read on whatever is
/// wrong), and where that logger's spool and configuration file are, from `--spool-dir`
/// and `--config` wherever they stand.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refused {
    pub subcommand: bool,
    pub config: Option<PathBuf>,
    pub spool_dir: Option<PathBuf>,
}

impl Refused {
    /// Reads `args` (without the program name) as far as that goes.
    pub fn read(args: impl IntoIterator<Item = std::ffi::OsString>) -> Refused {
        let cli = Cli::command();
        let names: Vec<&str> = cli
            .get_subcommands()
            .map(|c| c.get_name())
            .chain(["help"])
            .collect();
        let mut refused = Refused::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(text) = arg.to_str() else { continue };
            if names.contains(&text) {
                refused.subcommand = true;
            }
            for (flag, slot) in [
                ("--config", &mut refused.config),
                ("--spool-dir", &mut refused.spool_dir),
            ] {
                if text == flag {
                    *slot = args.next().map(PathBuf::from);
                } else if let Some(value) =
                    text.strip_prefix(flag).and_then(|v| v.strip_prefix('='))
                {
                    *slot = Some(PathBuf::from(value));
                }
            }
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &[&str]) -> Refused {
        Refused::read(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn a_refused_command_line_still_tells_where_the_spool_is() {
        let got = read(&["--bogus", "--spool-dir", "/s", "--config=/c.toml"]);
        assert_eq!(
            got,
            Refused {
                subcommand: false,
                config: Some(PathBuf::from("/c.toml")),
                spool_dir: Some(PathBuf::from("/s")),
            }
        );
        assert_eq!(
            read(&["--spool-dir=/t"]).spool_dir,
            Some(PathBuf::from("/t"))
        );
    }

    #[test]
    fn a_subcommand_anywhere_keeps_the_refusal() {
        assert!(read(&["--bogus", "parse"]).subcommand);
        assert!(read(&["spool", "status", "--bogus"]).subcommand);
        assert!(!read(&["--format", "%h", "--bogus"]).subcommand);
    }
}
