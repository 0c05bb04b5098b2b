//! accesslog-pubsub: Apache httpd access logs from a `CustomLog` pipe to Google Cloud Pub/Sub.
//!
//! # Layout
//!
//! The data flows top to bottom; nothing below imports anything above it.
//!
//! - `cli`: the command line (clap definitions), nothing else.
//! - `config`: TOML file + flags -> one validated, immutable [`config::Config`].
//! - `reader`: cuts stdin into lines (CRLF, blank lines, over-long lines) in big reads.
//! - `scan`: one pass over a line telling whether it is ASCII and free of control characters.
//! - `logformat`: a `LogFormat` string compiled once into a plan; the memchr line parser that runs it.
//! - `record`: one parsed line -> one flat JSON object (`id`, `host`, fields, `raw`/`parse_error`).
//! - `parse_command`: the `parse` subcommand: reader -> record -> stdout.
//! - `schema`: the BigQuery table schema of the records a `LogFormat` produces.
//! - `spool`: the durable on-disk queue between the stdin reader and the publisher.
//! - `publish`: spool batches -> Pub/Sub messages -> acknowledgements back to the spool.
//! - `stats`, `report`: the counters, and the periodic line on stderr when something is wrong.
//! - `run`: the piped logger: wires reader -> spool -> publisher, owns the shutdown.
//!
//! The binary (`src/main.rs`) parses the command line, loads the configuration and hands
//! over to `run` or a subcommand.

pub mod cli;
pub mod config;
pub mod logformat;
pub mod parse_command;
pub mod publish;
pub mod reader;
pub mod record;
pub mod report;
pub mod run;
pub(crate) mod scan;
pub mod schema;
pub mod spool;
pub mod spool_command;
pub mod stats;
