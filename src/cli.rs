//! The command line: clap definitions and nothing else.
//!
//! Every setting of the configuration file is also a flag (see [`crate::config::Settings`];
//! their help and defaults come from `config::table`), accepted before or after the
//! subcommand; flags win over the file.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};

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
