//! The BigQuery table schema for the records a LogFormat can produce.
//!
//! STUB.

use crate::logformat::LogFormat;

/// The schema as pretty JSON, ready for `bq mk --table ... schema.json`.
pub fn bigquery_schema(_format: &LogFormat) -> String {
    todo!()
}
