//! Spooled lines -> Pub/Sub messages: the JSON record as data, the destination's attributes,
//! the optional ordering key, all within Pub/Sub's limits.
//!
//! Lines are parsed here, on the way out of the spool, with the LogFormat and host recorded
//! in their segment's header, and shaped for the destination their segment records (its
//! static attributes, attribute fields and ordering key field), so a configuration reload
//! only applies to lines read after it. The privacy settings are the exception: they (and
//! their key) are the configuration's in force when a record is sent, so a reload that
//! tightens them covers the lines already spooled too. The JSON of a whole batch is written
//! into one buffer; each message's data is a slice of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use google_cloud_pubsub::model::Message;

use crate::config::{Config, MAX_ATTRIBUTE_VALUE_BYTES};
use crate::destination::Destination;
use crate::live::Live;
use crate::logformat::LogFormat;
use crate::messages;
use crate::record::{Encoder, LineMeta, Privacy, RecordId};
use crate::spool::{Batch, Route, SegmentInfo};
use crate::stats::Stats;

/// Largest message data sent: Pub/Sub takes 10 MB per message and per request, and the
/// attributes and request framing need room too.
pub const MAX_DATA_BYTES: usize = 9_000_000;
/// An over-large record is re-encoded from this much of its line (JSON escaping can grow a
/// line up to six times, and an invalid-UTF-8 record carries the line twice).
const OVERSIZED_LINE_CUT: usize = MAX_DATA_BYTES / 16;
/// Pub/Sub's limit on an ordering key.
const MAX_ORDERING_KEY_BYTES: usize = 1024;

/// An encoder for one (format, host) and where a destination's attribute fields and
/// ordering key field are in its records.
struct Shape {
    encoder: Encoder,
    attribute_fields: Vec<(String, usize)>,
    ordering_field: Option<usize>,
}

/// What a [`Shape`] is made for: format, host, attribute fields, ordering key field.
type ShapeKey = (String, String, Vec<String>, Option<String>);

/// Builds messages for batches from any segment, for any destination.
pub struct MessageBuilder {
    shapes: HashMap<ShapeKey, Shape>,
    /// Used for segments whose recorded format and host are unusable or unconfigured.
    fallback_format: LogFormat,
    fallback_host: String,
    /// What records carry of their lines.
    privacy: Arc<Privacy>,
}

/// The [`MessageBuilder`] of the configuration in force, made again when a reload brings a
/// new one. It is looked at just before each use: a batch may have waited in the spool
/// across a reload, and it goes out under the privacy settings (and key) in force when it
/// is sent.
pub struct LiveBuilder {
    generation: u64,
    builder: MessageBuilder,
}

impl LiveBuilder {
    pub fn new(live: &Live) -> LiveBuilder {
        let current = live.load();
        LiveBuilder {
            generation: current.generation,
            builder: MessageBuilder::new(&current.config),
        }
    }

    /// The builder of the configuration in force now.
    pub fn get(&mut self, live: &Live) -> &mut MessageBuilder {
        let current = live.load();
        if current.generation != self.generation {
            self.generation = current.generation;
            self.builder = MessageBuilder::new(&current.config);
        }
        &mut self.builder
    }
}

impl MessageBuilder {
    pub fn new(config: &Config) -> MessageBuilder {
        MessageBuilder {
            shapes: HashMap::new(),
            fallback_format: config.input.format.clone(),
            fallback_host: config.input.host.clone(),
            privacy: Arc::clone(&config.privacy),
        }
    }

    /// The messages for records `indices` of `batch`, shaped for `destination`, each with
    /// its index. Parse errors and oversized records are counted when `first_send`.
    pub fn build(
        &mut self,
        batch: &Batch,
        destination: &Destination,
        indices: &[u32],
        first_send: bool,
        stats: &Stats,
    ) -> Vec<(u32, Message)> {
        let shape = self.shape(&batch.stream, destination);
        let statics = &destination.attributes;
        let mut json = Vec::with_capacity(batch.data.len() * 2 + indices.len() * 256);
        let mut parts = Vec::with_capacity(indices.len());
        for &index in indices {
            let i = index as usize;
            let record = &batch.records[i];
            let mut meta = LineMeta {
                id: RecordId {
                    stream: batch.stream.stream,
                    seq: record.seq,
                },
                received_at_us: record.received_at_us,
                truncated: record.truncated,
            };
            let line = batch.line(i);
            let start = json.len();
            let mut parsed = shape.encoder.encode(line, &meta, &mut json);
            if json.len() - start > MAX_DATA_BYTES {
                json.truncate(start);
                meta.truncated = true;
                let cut = &line[..line.len().min(OVERSIZED_LINE_CUT)];
                parsed = shape.encoder.encode(cut, &meta, &mut json);
                if first_send {
                    Stats::add(&stats.oversized, 1);
                }
            }
            if first_send && !parsed {
                Stats::add(&stats.parse_errors, 1);
            }
            let attributes = attributes(statics, shape);
            let ordering_key = shape
                .ordering_field
                .and_then(|f| shape.encoder.value(f))
                .map(|v| cut_at_char(v, MAX_ORDERING_KEY_BYTES).to_string());
            parts.push((index, start, json.len(), attributes, ordering_key));
        }
        let data = Bytes::from(json);
        parts
            .into_iter()
            .map(|(index, start, end, attributes, ordering_key)| {
                let mut message = Message::new().set_data(data.slice(start..end));
                if !attributes.is_empty() {
                    message = message.set_attributes(attributes);
                }
                if let Some(key) = ordering_key {
                    message = message.set_ordering_key(key);
                }
                (index, message)
            })
            .collect()
    }
}

impl MessageBuilder {
    /// The encoder for a segment's format and host, with a destination's fields found in
    /// it. A segment whose header was damaged has neither, an unconfigured one no usable
    /// format: their lines are parsed with the configured ones.
    fn shape(&mut self, segment: &SegmentInfo, destination: &Destination) -> &mut Shape {
        let format = match segment.route {
            Route::Unconfigured => "",
            _ => segment.format.as_str(),
        };
        let key = (
            format.to_string(),
            segment.host.clone(),
            destination.attribute_fields.clone(),
            destination.ordering_key_field.clone(),
        );
        let (fallback, fallback_host) = (&self.fallback_format, &self.fallback_host);
        let privacy = &self.privacy;
        self.shapes.entry(key).or_insert_with(|| {
            let format = match LogFormat::new(format) {
                Ok(format) => format,
                Err(_) if format.is_empty() => fallback.clone(),
                Err(e) => {
                    messages::warn(format_args!(
                        "spooled lines were read with a LogFormat this version refuses ({e}); \
                         parsing them with the configured format instead"
                    ));
                    fallback.clone()
                }
            };
            let host = if segment.host.is_empty() {
                fallback_host
            } else {
                &segment.host
            };
            let encoder = Encoder::with_privacy(format, host, privacy);
            let attribute_fields = (destination.attribute_fields.iter())
                .filter_map(|name| encoder.column_index(name).map(|i| (name.clone(), i)))
                .collect();
            let ordering_field =
                (destination.ordering_key_field.as_deref()).and_then(|n| encoder.column_index(n));
            Shape {
                encoder,
                attribute_fields,
                ordering_field,
            }
        })
    }
}

/// The static attributes plus the destination's fields of the record just encoded.
fn attributes(statics: &BTreeMap<String, String>, shape: &Shape) -> Vec<(String, String)> {
    if statics.is_empty() && shape.attribute_fields.is_empty() {
        return Vec::new();
    }
    let mut attributes: Vec<(String, String)> = statics
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, column) in &shape.attribute_fields {
        if let Some(value) = shape.encoder.value(*column) {
            let value = cut_at_char(value, MAX_ATTRIBUTE_VALUE_BYTES);
            attributes.push((name.clone(), value.to_string()));
        }
    }
    attributes
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_at_char(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut_at_char("héllo", 2), "h");
        assert_eq!(cut_at_char("héllo", 3), "hé");
        assert_eq!(cut_at_char("abc", 10), "abc");
    }
}
