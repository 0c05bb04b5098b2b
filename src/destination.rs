//! Where and how a record is sent: the topic, and everything that shapes its message (static
//! attributes, record fields copied into attributes, the ordering key field).
//!
//! Each spool segment records the destination of its lines in its header, as the canonical
//! JSON text of [`Destination`], so records go where they were meant to go when they were
//! read, whoever sends them and whatever the configuration says by then. The JSON is an
//! object with the keys in the order below; keys whose value is empty are left out, so a
//! setting added later (with an empty default) leaves the text of existing destinations
//! unchanged:
//!
//! ```json
//! {"project":"acme","topic":"weblogs","attributes":{"env":"prod"},"attribute_fields":["vhost"],"ordering_key_field":"vhost"}
//! ```
//!
//! A text with a key this version does not know is refused ([`Destination::from_json`]): its
//! records are left for a version that knows how to send them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Where and how records are published. Two destinations are the same only if every field is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub project: String,
    /// The topic's short name.
    pub topic: String,
    /// Static message attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Record fields copied into attributes of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_fields: Vec<String>,
    /// The record field whose value becomes the ordering key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key_field: Option<String>,
}

impl Destination {
    /// `projects/{project}/topics/{topic}`.
    pub fn topic_path(&self) -> String {
        format!("projects/{}/topics/{}", self.project, self.topic)
    }

    /// The canonical JSON text (see the module doc).
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a text written by [`to_json`](Self::to_json).
    pub(crate) fn from_json(text: &[u8]) -> Result<Destination, serde_json::Error> {
        serde_json::from_slice(text)
    }
}

/// `projects/p/topics/t`, followed by what else shapes the messages, if anything:
/// `projects/p/topics/t (attributes env=prod; attribute fields vhost, status; ordering key vhost)`.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.topic_path())?;
        let mut parts = Vec::new();
        if !self.attributes.is_empty() {
            let pairs: Vec<String> = (self.attributes.iter())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.push(format!("attributes {}", pairs.join(", ")));
        }
        if !self.attribute_fields.is_empty() {
            parts.push(format!(
                "attribute fields {}",
                self.attribute_fields.join(", ")
            ));
        }
        if let Some(field) = &self.ordering_key_field {
            parts.push(format!("ordering key {field}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join("; "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(topic: &str) -> Destination {
        Destination {
            project: "acme".into(),
            topic: topic.into(),
            attributes: BTreeMap::new(),
            attribute_fields: Vec::new(),
            ordering_key_field: None,
        }
    }

    #[test]
    fn canonical_json_leaves_empty_settings_out_and_round_trips() {
        let d = plain("weblogs");
        assert_eq!(d.to_json(), r#"{"project":"acme","topic":"weblogs"}"#);
        let full = Destination {
            attributes: [("env".to_string(), "prod".to_string())].into(),
            attribute_fields: vec!["vhost".into()],
            ordering_key_field: Some("vhost".into()),
            ..plain("weblogs")
        };
        let text = full.to_json();
        assert_eq!(
            text,
            r#"{"project":"acme","topic":"weblogs","attributes":{"env":"prod"},"attribute_fields":["vhost"],"ordering_key_field":"vhost"}"#
        );
        assert_eq!(Destination::from_json(text.as_bytes()).unwrap(), full);
        assert_eq!(
            full.to_string(),
            "projects/acme/topics/weblogs (attributes env=prod; attribute fields vhost; ordering key vhost)"
        );
        assert_eq!(d.to_string(), "projects/acme/topics/weblogs");
    }

    #[test]
    fn a_setting_this_version_does_not_know_is_refused() {
        let text = br#"{"project":"acme","topic":"weblogs","redact":["remote_host"]}"#;
        assert!(Destination::from_json(text).is_err());
    }
}
