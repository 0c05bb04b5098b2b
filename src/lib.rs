//! accesslog-pubsub: Apache httpd access logs from a `CustomLog` pipe to Google Cloud Pub/Sub.
//!
//! # Layout
//!
//! Top down; nothing below imports anything above it. The binary (`src/main.rs`) parses the
//! command line, loads the configuration, hands over to one `cmd`, and says the error it
//! ends with as one line on stderr. The piped logger's data flow, as `run` wires it: stdin
//! -> `reader` -> `spool` -> `publish` (which parses with `logformat` into `record` JSON on
//! the way out).
//!
//! - `cli`: the command line (clap definitions), nothing else.
//! - `cmd`: the commands, one file each: `log` (the piped logger, through `run`), `parse`
//!   (reader -> record -> stdout), `schema` (the BigQuery table schema of a format's
//!   records), `check` (is everything in place for the logger), `spool_status`,
//!   `spool_verify`, `spool_replay`.
//! - `run`: the piped logger: wires reader -> spool -> publisher and ends them in order.
//! - `startup`: what the logger and `spool replay` do first, in the order root needs: check
//!   the files root trusts, prepare the spool directory, read the credentials, drop privileges.
//! - `ownership`: who may write the spool directory and the files a root process trusts.
//! - `privileges`: the `user`/`group` account, and dropping to it for good.
//! - `shutdown`: signals in one place: SIGTERM/SIGINT (drain, then stop; the second exits),
//!   SIGUSR1 (the counters), SIGHUP (a reload, see `live`); SIGUSR2 and SIGPIPE end nothing.
//! - `metrics`: the counters shown: the SIGUSR1 line, the status file, the Prometheus
//!   endpoint.
//! - `live`: the configuration in force (an `arc-swap`), replaced whole on SIGHUP.
//! - `config`: one table of settings; defaults, TOML file and flags -> one validated,
//!   immutable [`config::Config`] by area, rebuilt whole by [`config::Config::reload`].
//! - `report`, `stats`: the periodic report and spool events, and the counters they are
//!   made of.
//! - `messages`: the only writer of stderr: the `accesslog-pubsub:` prefix, levels, rate limits.
//! - `publish`: spool batches -> Pub/Sub messages, each to its segment's destination ->
//!   acknowledgements back to the spool; records Pub/Sub refuses for good -> dead letters.
//! - `handover`: a logger without a usable configuration starting again with one on SIGHUP
//!   (its stdin reader stopped between two lines, then `exec`, same pid, same pipe).
//! - `pipe`: the stdin pipe: made bigger at start, and lines let gather in it between reads.
//! - `reader`: cuts stdin into lines (CRLF, blank lines, over-long lines) in big reads.
//! - `spool`: the durable on-disk queue between the stdin reader and the publisher (its
//!   module doc has the exact file format).
//! - `destination`: where and how records are sent (topic, attributes, ordering key), as
//!   recorded in each spool segment.
//! - `record`: a line's values -> one flat JSON object; owns every key, the column names and
//!   their order (`record::columns`, which `schema` and the configuration ask), and applies
//!   the privacy settings to each value on its way in (`record::privacy`).
//! - `logformat`: a `LogFormat` string compiled once into a plan; the memchr line parser that
//!   runs it, giving each directive's typed value. Knows directives, not JSON or column names.
//! - `scan`: byte searches over short fields (memchr), a one-pass summary of a line, and
//!   where sixteen bytes hold a given byte (SSE2).
//! - `rfc3339`: UTC instants as RFC 3339 text, for `%t` timestamps and `received_at`.
//! - `clock`: the wall clock in microseconds, read in one place.
//!
//! Only what the binary, the integration tests, the bench example and the man page need is
//! public (the facade below); the rest is private to the crate, so the compiler reports
//! what nothing uses.

// The facade: the binary uses `cli`, `cmd`, `config` and `messages`; the
// integration tests and the bench example `logformat`, `record`, `spool` and `Destination`;
// the man page generator `cli`.
pub mod cli;
pub mod cmd;
pub mod config;
pub mod logformat;
pub mod messages;
pub mod record;
pub mod spool;
pub use destination::Destination;

mod clock;
mod destination;
mod handover;
mod live;
mod metrics;
mod ownership;
mod pipe;
mod privileges;
mod publish;
mod reader;
mod report;
mod rfc3339;
mod run;
mod scan;
mod shutdown;
mod startup;
mod stats;
