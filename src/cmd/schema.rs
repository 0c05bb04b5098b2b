//! The BigQuery table schema for the records a LogFormat can produce: every column
//! [`record::columns`] lists (the fields the privacy settings drop left out), all NULLABLE.

use std::io;
use std::process::ExitCode;

use serde::Serialize;

use crate::config::Config;
use crate::logformat::LogFormat;
use crate::record::{self, Privacy};

/// One entry of a BigQuery JSON schema file.
#[derive(Serialize)]
struct Field<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: &'static str,
    description: &'a str,
}

/// `schema`: the configured format's schema, to stdout.
pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    let text = bigquery_schema(&config.input.format, &config.privacy) + "\n";
    super::write_out("schema", &mut io::stdout().lock(), &text)?;
    Ok(ExitCode::SUCCESS)
}

/// The schema as pretty JSON, ready for `bq mk --table ... schema.json`.
pub(crate) fn bigquery_schema(format: &LogFormat, privacy: &Privacy) -> String {
    let columns = record::columns(format, privacy);
    let fields: Vec<Field<'_>> = columns
        .iter()
        .map(|c| Field {
            name: &c.name,
            kind: c.kind.bigquery_name(),
            mode: "NULLABLE",
            description: &c.description,
        })
        .collect();
    // Serializing plain strings into a String cannot fail.
    serde_json::to_string_pretty(&fields).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_schema() {
        let format = LogFormat::new("combined").unwrap();
        let schema: serde_json::Value =
            serde_json::from_str(&bigquery_schema(&format, &Privacy::default())).unwrap();
        let fields = schema.as_array().unwrap();
        let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "id",
                "host",
                "received_at",
                "remote_host",
                "ident",
                "remote_user",
                "timestamp",
                "tz_offset",
                "request",
                "method",
                "path",
                "protocol",
                "status",
                "bytes_sent",
                "referer",
                "user_agent",
                "truncated",
                "invalid_utf8",
                "raw",
                "parse_error"
            ]
        );
        let type_of = |name: &str| {
            fields.iter().find(|f| f["name"] == name).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(type_of("timestamp"), "TIMESTAMP");
        assert_eq!(type_of("received_at"), "TIMESTAMP");
        assert_eq!(type_of("status"), "INTEGER");
        assert_eq!(type_of("truncated"), "BOOLEAN");
        assert_eq!(type_of("user_agent"), "STRING");
        for f in fields {
            assert_eq!(f["mode"], "NULLABLE");
            assert!(!f["description"].as_str().unwrap().is_empty());
            assert_eq!(f.as_object().unwrap().len(), 4);
        }
    }
}
