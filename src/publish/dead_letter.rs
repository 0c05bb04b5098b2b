//! Records Pub/Sub refuses for good, set aside so they never block the rest: appended to the
//! dead-letter file in the spool directory ([`crate::spool::DEAD_LETTERS_FILE`]) and forced
//! to disk before their batch is acknowledged, so a record leaves the spool only once it is
//! published or kept there.
//!
//! One JSON object per line, keys in this order:
//!
//! ```json
//! {"set_aside_at":"2026-11-01T08:15:02.500001Z","topic":"projects/p/topics/t","id":"3b1f6a2c9d0e4f71-12","error":"...","attributes":{"env":"prod"},"ordering_key":null,"data":"{\"id\":\"3b1f6a2c9d0e4f71-12\",...}"}
//! ```
//!
//! `data` is the message's data (the JSON record) as a string, exactly as it was sent; the
//! record's `id` is repeated for `grep`. `jq -r .data` gives the records back.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use google_cloud_pubsub::model::Message;
use serde::Serialize;

use crate::spool::DEAD_LETTERS_FILE;

/// One refused record.
#[derive(Debug, Serialize)]
pub struct Letter<'a> {
    set_aside_at: String,
    topic: &'a str,
    id: String,
    error: String,
    attributes: std::collections::BTreeMap<&'a str, &'a str>,
    ordering_key: Option<&'a str>,
    data: std::borrow::Cow<'a, str>,
}

impl<'a> Letter<'a> {
    /// The letter for `message` (record `id`), refused by `topic` with `error`.
    pub fn new(topic: &'a str, id: String, error: String, message: &'a Message) -> Letter<'a> {
        Letter {
            set_aside_at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            topic,
            id,
            error,
            attributes: (message.attributes.iter())
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            ordering_key: Some(message.ordering_key.as_str()).filter(|k| !k.is_empty()),
            data: String::from_utf8_lossy(&message.data),
        }
    }
}

/// The dead-letter file of one spool directory, opened on first use.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Option<File>,
}

impl DeadLetters {
    pub fn new(spool_dir: &Path) -> DeadLetters {
        DeadLetters {
            path: spool_dir.join(DEAD_LETTERS_FILE),
            file: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `letters` with one write and forces them to disk.
    pub fn append(&mut self, letters: &[Letter<'_>]) -> io::Result<()> {
        let mut text = Vec::new();
        for letter in letters {
            serde_json::to_writer(&mut text, letter)?;
            text.push(b'\n');
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(&self.path)?,
            ),
        };
        file.write_all(&text)?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_lines_of_json_with_the_message_as_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut dead = DeadLetters::new(dir.path());
        let message = Message::new()
            .set_data(bytes::Bytes::from_static(
                br#"{"id":"00000000000000aa-3","status":200}"#,
            ))
            .set_attributes([("env", "prod")]);
        let letter = Letter::new(
            "projects/p/topics/t",
            "00000000000000aa-3".into(),
            "INVALID_ARGUMENT".into(),
            &message,
        );
        dead.append(&[letter]).unwrap();
        let text = std::fs::read_to_string(dead.path()).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["topic"], "projects/p/topics/t");
        assert_eq!(v["id"], "00000000000000aa-3");
        assert_eq!(v["attributes"]["env"], "prod");
        assert_eq!(v["ordering_key"], serde_json::Value::Null);
        assert_eq!(v["data"], r#"{"id":"00000000000000aa-3","status":200}"#);
        assert!(v["set_aside_at"].as_str().unwrap().ends_with('Z'));
    }
}
