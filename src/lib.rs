//! accesslog-pubsub: Apache httpd access logs from a `CustomLog` pipe to Google Cloud Pub/Sub.
//!
//! # Layout
//!
//! The piped logger's data flow, as [`run`] wires it: stdin -> `reader` -> `spool` ->
//! `publish` (which parses with `logformat` into `record` JSON on the way out).
//!
//! - `cli`: the command line (clap definitions), nothing else.
//! - `clock`: the wall clock in microseconds, read in one place.
//! - `config`: one table of settings; defaults, TOML file and flags -> one validated,
//!   immutable [`config::Config`] by area, rebuilt whole by [`config::Config::reload`].
//! - `destination`: where and how records are sent (topic, attributes, ordering key), as
//!   recorded in each spool segment.
//! - `reader`: cuts stdin into lines (CRLF, blank lines, over-long lines) in big reads.
//! - `scan`: byte searches over short fields (memchr) and a one-pass summary of a line.
//! - `logformat`: a `LogFormat` string compiled once into a plan; the memchr line parser that runs it.
//! - `record`: one parsed line -> one flat JSON object (`id`, `host`, fields, `raw`/`parse_error`).
//! - `spool`: the durable on-disk queue between the stdin reader and the publisher (its
//!   module doc has the exact file format).
//! - `publish`: spool batches -> Pub/Sub messages, each to its segment's destination ->
//!   acknowledgements back to the spool; records Pub/Sub refuses for good -> dead letters.
//! - `messages`: the only writer of stderr: the `accesslog-pubsub:` prefix, levels, rate limits.
//! - `stats`, `report`: the counters, and the periodic report and spool events made of them.
//! - `shutdown`: signals in one place: SIGTERM/SIGINT (drain, then stop; the second exits).
//! - `run`: the piped logger: wires reader -> spool -> publisher and ends them in order.
//! - `cmd`: the commands, one file each: `log` (the piped logger, through `run`), `parse`
//!   (reader -> record -> stdout), `schema` (the BigQuery table schema of a format's
//!   records), `spool_status`, `spool_verify`, `spool_replay`.
//!
//! The binary (`src/main.rs`) parses the command line, loads the configuration, hands over
//! to one `cmd`, and says the error it ends with as one line on stderr.

pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod destination;
pub mod logformat;
pub mod messages;
pub mod publish;
pub mod reader;
pub mod record;
pub mod report;
pub mod run;
pub(crate) mod scan;
pub mod shutdown;
pub mod spool;
pub mod stats;
