//! Which keys a record carries and in what order: the fixed keys every record has, around
//! the columns its format's directives give (named in `names`), and each key in the forms it
//! is written in. Privacy takes some out: the fields `drop_fields` names get no columns
//! (the other columns keep the names they have without it), and `raw = "drop"` replaces
//! `raw` by `raw_hash` (with a key) or by nothing.

use super::buf::Padded;
use super::names::{ColumnSpec, ColumnType, NameSet, columns_of};
use super::privacy::{HashKey, Privacy, Raw};
use crate::logformat::LogFormat;

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

/// What the record's `raw` key is.
#[derive(Debug, Clone)]
pub(super) enum RawColumn {
    /// `raw`: the line.
    Line,
    /// `raw_hash`: the line's pseudonym under this key.
    Hash(HashKey),
    /// None: the record has no `raw`.
    Omitted,
}

impl RawColumn {
    fn of(privacy: &Privacy) -> RawColumn {
        match (privacy.raw, &privacy.key) {
            (Raw::Keep, _) => RawColumn::Line,
            (Raw::Drop, Some(key)) => RawColumn::Hash(key.clone()),
            (Raw::Drop, None) => RawColumn::Omitted,
        }
    }

    /// `,"raw":` or `,"raw_hash":`; `None` when omitted.
    pub(super) fn key(&self) -> Option<Vec<u8>> {
        match self {
            RawColumn::Line => Some(Fixed::Raw.key()),
            RawColumn::Hash(_) => Some(format!(",\"{RAW_HASH}\":").into_bytes()),
            RawColumn::Omitted => None,
        }
    }
}

/// The name of the line's pseudonym.
const RAW_HASH: &str = "raw_hash";

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
    /// Where each value of a record is: every column, and `raw` even when it is omitted.
    slots: Vec<Column>,
    /// The columns records carry: the slots less an omitted `raw`.
    columns: Vec<Column>,
    /// For each field of the format, in order, the keys of its columns (which follow one
    /// another, from [`HEAD`] on); none for a dropped field.
    pub(super) fields: Vec<Vec<Key>>,
    pub(super) raw: RawColumn,
}

impl Layout {
    pub(crate) fn new(format: &LogFormat, privacy: &Privacy) -> Layout {
        let raw = RawColumn::of(privacy);
        let fixed = |keys: &[Fixed]| -> Vec<Column> {
            keys.iter()
                .map(|&k| {
                    let (name, kind, description) = match (k, &raw) {
                        (Fixed::Raw, RawColumn::Hash(_)) => (
                            RAW_HASH,
                            ColumnType::String,
                            "Keyed hash of the whole line, when it did not parse or was not \
                             UTF-8 (the line itself is not sent)",
                        ),
                        _ => k.column(),
                    };
                    Column {
                        name: name.to_owned(),
                        kind,
                        description: description.to_owned(),
                    }
                })
                .collect()
        };
        let mut slots = fixed(&FIXED[..HEAD]);
        let mut fields = Vec::new();
        for (names, specs) in field_names(format) {
            let mut keys = Vec::new();
            if !names
                .first()
                .is_some_and(|n| privacy.drop_fields.contains(n))
            {
                for (name, c) in names.into_iter().zip(specs) {
                    keys.push(Key::new(&name));
                    slots.push(Column {
                        name,
                        kind: c.kind,
                        description: c.description,
                    });
                }
            }
            fields.push(keys);
        }
        slots.extend(fixed(&FIXED[HEAD..]));
        let mut columns = slots.clone();
        if matches!(raw, RawColumn::Omitted) {
            columns.retain(|c| c.name != Fixed::Raw.name());
        }
        Layout {
            slots,
            columns,
            fields,
            raw,
        }
    }

    /// Every key a record can carry, in output order.
    pub(crate) fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of places a record's values are noted in ([`Layout::index`], [`Layout::at`]).
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The place of column `name` among the slots.
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        let i = self.slots.iter().position(|c| c.name == name)?;
        (i != self.at(Fixed::Raw) || !matches!(self.raw, RawColumn::Omitted)).then_some(i)
    }

    /// The place of a fixed key among the slots.
    #[inline]
    pub(super) fn at(&self, key: Fixed) -> usize {
        let i = key as usize;
        if i < HEAD {
            i
        } else {
            self.slots.len() - FIXED.len() + i
        }
    }
}

/// Each directive's column names, as they are without privacy (so dropping a field renames
/// no other), and its columns.
fn field_names(format: &LogFormat) -> Vec<(Vec<String>, Vec<ColumnSpec>)> {
    let mut names = NameSet::default();
    for k in FIXED {
        names.reserve(k.name());
    }
    format
        .directives()
        .map(|directive| {
            let specs = columns_of(directive);
            let taken = specs.iter().map(|c| names.take(&c.name)).collect();
            (taken, specs)
        })
        .collect()
}

/// Whether `drop_fields` may name `name` for `format`: the first column of one of its
/// fields (which drops all the columns of that field); else why not.
pub(crate) fn check_drop_field(format: &LogFormat, name: &str) -> Result<(), String> {
    if name == Fixed::Raw.name() {
        return Err("`raw` is not dropped here: set raw = \"drop\"".into());
    }
    if FIXED.iter().any(|k| k.name() == name) {
        return Err(format!("{name:?} is in every record and cannot be dropped"));
    }
    for (names, _) in field_names(format) {
        match names.iter().position(|n| n == name) {
            Some(0) => return Ok(()),
            Some(_) => {
                return Err(format!(
                    "{name:?} comes with {} from one directive: name {:?} to drop them all",
                    names.join(", "),
                    names[0]
                ));
            }
            None => {}
        }
    }
    Err(format!("{name:?} is not a field of this format's records"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_keys_are_where_at_says() {
        for format in ["common", "%h", "%{X-Id}i %r %t"] {
            let layout = Layout::new(&LogFormat::new(format).unwrap(), &Privacy::default());
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

    #[test]
    fn dropped_fields_have_no_columns_and_rename_nothing() {
        let format = LogFormat::new("%r %m %h %t").unwrap();
        let privacy = Privacy {
            drop_fields: vec!["request".into(), "remote_host".into()],
            raw: Raw::Drop,
            ..Privacy::default()
        };
        let layout = Layout::new(&format, &privacy);
        let names: Vec<&str> = layout.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "host",
                "received_at",
                "method_2",
                "timestamp",
                "tz_offset",
                "truncated",
                "invalid_utf8",
                "parse_error"
            ],
            "raw is omitted without a key"
        );
        assert_eq!(layout.index("raw"), None);
        assert_eq!(layout.index("method_2"), Some(3));
        assert_eq!(layout.slots(), names.len() + 1);
        assert!(layout.fields[0].is_empty() && layout.fields[2].is_empty());
    }

    #[test]
    fn which_names_drop_fields_takes() {
        let format = LogFormat::new("combined").unwrap();
        assert_eq!(check_drop_field(&format, "user_agent"), Ok(()));
        assert_eq!(check_drop_field(&format, "request"), Ok(()));
        assert_eq!(check_drop_field(&format, "timestamp"), Ok(()));
        let refused = |name| check_drop_field(&format, name).unwrap_err();
        assert_eq!(
            refused("path"),
            "\"path\" comes with request, method, path, protocol from one directive: name \
             \"request\" to drop them all"
        );
        assert!(refused("tz_offset").contains("name \"timestamp\""));
        assert!(refused("raw").contains("raw = \"drop\""));
        assert!(refused("host").contains("every record"));
        assert!(refused("cookie_x").contains("not a field"));
    }
}
