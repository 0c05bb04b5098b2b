//! The subcommands, one file each: what each does from a loaded configuration to its
//! output and exit status.
//!
//! - `parse`: stdin -> one JSON record per line on stdout, nothing published.
//! - `schema`: the BigQuery table schema of a format's records.
//! - `spool`: `spool status | verify | replay`.

pub mod parse;
pub mod schema;
pub mod spool;
