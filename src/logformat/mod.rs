//! Apache `LogFormat` strings, compiled once into a plan and run against each line.
//!
//! STUB: the interface below is the contract the rest of the crate is written against.

use thiserror::Error;

/// A bad `LogFormat` string: what is wrong and the 1-based column of the offending `%` directive.
#[derive(Debug, Error)]
#[error("bad LogFormat at column {column}: {message}")]
pub struct FormatError {
    pub column: usize,
    pub message: String,
}

/// The BigQuery type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Integer,
    Timestamp,
    Boolean,
}

/// One key a record can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub description: String,
}

/// A compiled LogFormat.
#[derive(Debug, Clone)]
pub struct LogFormat {}

impl LogFormat {
    /// Compiles an Apache nickname (`common`, `combined`, ...) or a LogFormat string.
    pub fn new(_spec: &str) -> Result<LogFormat, FormatError> {
        todo!()
    }
}
