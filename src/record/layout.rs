//! Which keys a record carries and in what order: the fixed keys every record has, around
//! the columns its format's directives give (named in `names`), and each key in the forms it
//! is written in.

use super::buf::Padded;
use super::names::{NameSet, columns_of};
use crate::logformat::LogFormat;

/// The BigQuery type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Integer,
    Timestamp,
    Boolean,
}

impl ColumnType {
    /// The BigQuery type name.
    pub fn bigquery_name(self) -> &'static str {
        match self {
            ColumnType::String => "STRING",
            ColumnType::Integer => "INTEGER",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
}

/// One key a record can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub description: String,
}

/// A key every record has, whatever its format (`parse_error` only when the line did not
/// match), declared in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fixed {
    Id,
    Host,
    ReceivedAt,
    Truncated,
    InvalidUtf8,
    Raw,
    ParseError,
}

/// The fixed keys in output order: the first [`HEAD`] come before the format's columns, the
/// others after them.
const FIXED: [Fixed; 7] = [
    Fixed::Id,
    Fixed::Host,
    Fixed::ReceivedAt,
    Fixed::Truncated,
    Fixed::InvalidUtf8,
    Fixed::Raw,
    Fixed::ParseError,
];
/// The number of fixed keys before the format's columns: the index of its first column.
pub(super) const HEAD: usize = 3;

impl Fixed {
    pub(super) fn name(self) -> &'static str {
        self.column().0
    }

    fn column(self) -> (&'static str, ColumnType, &'static str) {
        match self {
            Fixed::Id => (
                "id",
                ColumnType::String,
                "Record id: stream id (16 hex digits), dash, line number in the stream",
            ),
            Fixed::Host => ("host", ColumnType::String, "Host the line was read on"),
            Fixed::ReceivedAt => (
                "received_at",
                ColumnType::Timestamp,
                "When the line was read, UTC",
            ),
            Fixed::Truncated => (
                "truncated",
                ColumnType::Boolean,
                "The line was longer than the maximum and was cut",
            ),
            Fixed::InvalidUtf8 => (
                "invalid_utf8",
                ColumnType::Boolean,
                "The line or an unescaped field was not UTF-8; such values hold U+FFFD",
            ),
            Fixed::Raw => (
                "raw",
                ColumnType::String,
                "The whole line (lossy UTF-8), when it did not parse or was not UTF-8",
            ),
            Fixed::ParseError => (
                "parse_error",
                ColumnType::String,
                "Why the line did not match the format, with its byte column",
            ),
        }
    }

    /// `,"name":`
    pub(super) fn key(self) -> Vec<u8> {
        format!(",\"{}\":", self.name()).into_bytes()
    }
}

/// One column's key in the forms it is written in.
#[derive(Debug)]
pub(super) struct Key {
    /// `,"name":"`: the key and the opening quote of a string value.
    pub(super) open: Padded,
    /// `,"name":`, for numbers.
    pub(super) plain: Padded,
    /// `,"name":null`.
    pub(super) null: Padded,
}

impl Key {
    fn new(name: &str) -> Key {
        let key = format!(",\"{name}\":");
        Key {
            open: Padded::new(format!("{key}\"").as_bytes()),
            plain: Padded::new(key.as_bytes()),
            null: Padded::new(format!("{key}null").as_bytes()),
        }
    }
}

/// The columns of one format's records in order, and the keys of each field's columns.
#[derive(Debug)]
pub(crate) struct Layout {
    columns: Vec<Column>,
    /// For each field of the format, in order, the keys of its columns (which follow one
    /// another, from [`HEAD`] on).
    pub(super) fields: Vec<Vec<Key>>,
}

impl Layout {
    pub(crate) fn new(format: &LogFormat) -> Layout {
        let fixed = |keys: &[Fixed]| -> Vec<Column> {
            keys.iter()
                .map(|k| {
                    let (name, kind, description) = k.column();
                    Column {
                        name: name.to_owned(),
                        kind,
                        description: description.to_owned(),
                    }
                })
                .collect()
        };
        let mut names = NameSet::default();
        for k in FIXED {
            names.reserve(k.name());
        }
        let mut columns = fixed(&FIXED[..HEAD]);
        let mut fields = Vec::new();
        for directive in format.directives() {
            let mut keys = Vec::new();
            for c in columns_of(directive) {
                let name = names.take(&c.name);
                keys.push(Key::new(&name));
                columns.push(Column {
                    name,
                    kind: c.kind,
                    description: c.description,
                });
            }
            fields.push(keys);
        }
        columns.extend(fixed(&FIXED[HEAD..]));
        Layout { columns, fields }
    }

    /// Every key a record can carry, in output order.
    pub(crate) fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The index of column `name` in [`Layout::columns`].
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The index of a fixed key in [`Layout::columns`].
    #[inline]
    pub(super) fn at(&self, key: Fixed) -> usize {
        let i = key as usize;
        if i < HEAD {
            i
        } else {
            self.columns.len() - FIXED.len() + i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keys_are_where_at_says() {
        for format in ["common", "%h", "%{X-Id}i %r %t"] {
            let layout = Layout::new(&LogFormat::new(format).unwrap());
            for (i, key) in FIXED.into_iter().enumerate() {
                assert_eq!(key as usize, i);
                assert_eq!(
                    layout.columns()[layout.at(key)].name,
                    key.name(),
                    "{format}"
                );
            }
            assert_eq!(
                layout.fields.iter().map(Vec::len).sum::<usize>() + FIXED.len(),
                layout.columns().len()
            );
        }
    }
}
