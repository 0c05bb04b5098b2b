//! One line in, one flat JSON object out: the record's keys, their order, and its JSON.
//!
//! `crate::logformat` gives a line's values, one per directive; this module names them and
//! writes them. `layout` decides which keys a format's records carry and in what order (the
//! fixed keys below, around the columns `names` gives each directive); the [`Encoder`]
//! (`encoder`) writes each record and hands a column's plain value to the publisher
//! ([`Encoder::value`]) for attributes and the ordering key. [`columns`] lists the keys, for
//! `schema` and the configuration's checks. `json` escapes strings; `buf` is the byte
//! buffer records are written into.
//!
//! Every field's value goes through one place on its way into the record (`Sink::field` in
//! `encoder`), and what the publisher derives from a record is read back from what was
//! written there. The privacy policy ([`Privacy`], `privacy`) transforms a field's value
//! just before that place (truncated or hashed addresses, redacted queries, ...), chosen per
//! field by its directive; a field it drops is one the layout gives no columns, and it
//! decides what `raw` holds. So records, attributes copied from fields and the ordering
//! key all carry the transformed values, and [`columns`] leaves dropped fields out.
//!
//! # Record keys
//!
//! A record carries `id`, `host`, `received_at`, the format's columns in format order, then
//! `truncated` and `invalid_utf8` (always `true`/`false`) and `raw` (the line, only when
//! `invalid_utf8` is true, else null). A line that does not match carries only `id`, `host`,
//! `received_at`, `raw`, `parse_error` (what did not match, with a 1-based byte column) and,
//! when set, `truncated`. Text that is not UTF-8 after unescaping gets U+FFFD and the record
//! gets `invalid_utf8: true` and `raw`. With privacy `raw = "drop"`, `raw` is `raw_hash`
//! (the line's pseudonym) when there is a key, else absent.
//!
//! # Column names
//!
//! | directive | key | type |
//! |---|---|---|
//! | `%h` / `%{c}h` | `remote_host` / `peer_host` | STRING |
//! | `%a` / `%{c}a` / `%A` | `client_ip` / `peer_ip` / `local_ip` | STRING |
//! | `%l` / `%u` | `ident` / `remote_user` | STRING |
//! | `%t`, `%{format}t` (all items together) | `timestamp` + `tz_offset` | TIMESTAMP + STRING |
//! | `%r` | `request`, `method`, `path`, `protocol` | STRING |
//! | `%m` / `%H` / `%U` / `%q` | `method` / `protocol` / `url_path` / `query_string` | STRING |
//! | `%>s`, `%s` / `%<s` | `status` / `original_status` | INTEGER |
//! | `%b`, `%B` / `%I` / `%O` / `%S` | `bytes_sent` / `bytes_in` / `bytes_out` / `bytes_total` | INTEGER |
//! | `%D`, `%T`, `%{s}T`, `%{ms}T`, `%{us}T` | `duration_us` | INTEGER |
//! | `%^FB` | `ttfb_us` | INTEGER |
//! | `%v` / `%V` | `vhost` / `server_name` | STRING |
//! | `%p`, `%{canonical}p` / `%{local}p` / `%{remote}p` | `server_port` / `local_port` / `remote_port` | INTEGER |
//! | `%P` / `%{tid}P`, `%{hextid}P` | `pid` / `tid` | INTEGER |
//! | `%k` | `keepalive_requests` | INTEGER |
//! | `%L` / `%{c}L` | `request_log_id` / `connection_log_id` | STRING |
//! | `%f` / `%R` / `%X` | `filename` / `handler` / `connection_status` | STRING |
//! | `%{Referer}i` / `%{User-Agent}i` / other `%{Name}i` | `referer` / `user_agent` / `req_<name>` | STRING |
//! | `%{Name}o` / `%{N}C` / `%{N}e` / `%{N}n` | `resp_<name>` / `cookie_<name>` / `env_<name>` / `note_<name>` | STRING |
//! | `%{N}^ti` / `%{N}^to` | `req_trailer_<name>` / `resp_trailer_<name>` | STRING |
//! | `%{VAR}x`, `%{VAR}c` (mod_ssl) | `ssl_<var>` (no doubled `ssl_`) | STRING |
//!
//! `<name>` is the argument in snake case: ASCII letters and digits lowercased, every run of
//! other characters one `_`, none at either end (`X-Forwarded-For` -> `x_forwarded_for`).
//! When a name is taken, the later directive gets `_2`, `_3`, ... (`%r` then `%m` gives
//! `method` and `method_2`). Modifiers (`<`, `>`, status conditions) do not change names,
//! except that `%<s` is `original_status`.
//!
//! # Writing
//!
//! Most values are in the record as they were written (text that needed no JSON escapes,
//! numbers, times); the others (unescaped text, text JSON had to escape) are copied to a
//! reused buffer for [`Encoder::value`]. Both are `Buf`s, whose bytes past the end are kept
//! initialized so that the many short copies (keys, small values) are fixed-size moves
//! rather than `memcpy` calls; the finished record is appended to the caller's buffer in one
//! copy. What repeats from line to line is prepared once: the keys in the forms they are
//! written in (`,"name":"`, `,"name":null`), the id's stream prefix, the text between the id
//! and the format's columns (per `received_at`). Nothing is allocated per line once the
//! buffers have grown, except for lines that are not UTF-8.

use crate::logformat::LogFormat;

pub use encoder::Encoder;
pub use layout::Column;
pub(crate) use layout::check_drop_field;
pub use names::ColumnType;
pub use privacy::{
    ClientIp, HashKey, KeyError, MIN_KEY_BYTES, Prefixes, Privacy, Query, Raw, RemoteUser,
};

mod buf;
mod encoder;
mod json;
mod layout;
mod names;
mod privacy;

/// Identity of a record: the stream it was read in (random per stream) and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    pub stream: u64,
    pub seq: u64,
}

impl RecordId {
    /// The id text before the seq: the stream in 16 lowercase hex digits, then `-`.
    pub fn prefix(stream: u64) -> [u8; 17] {
        let mut text = [b'-'; 17];
        for (i, d) in text[..16].iter_mut().enumerate() {
            *d = b"0123456789abcdef"[(stream >> (60 - 4 * i) & 0xf) as usize];
        }
        text
    }
}

/// The id as published: `<stream:016x>-<seq>`, e.g. `3b1f6a2c9d0e4f71-0`.
impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = Self::prefix(self.stream);
        f.write_str(std::str::from_utf8(&prefix).map_err(|_| std::fmt::Error)?)?;
        write!(f, "{}", self.seq)
    }
}

/// What the reader knows about a line besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct LineMeta {
    pub id: RecordId,
    /// When the line was read, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The line was longer than the maximum and was cut.
    pub truncated: bool,
}

/// Every key a record of `format` shaped by `privacy` can carry, in output order.
pub fn columns(format: &LogFormat, privacy: &Privacy) -> Vec<Column> {
    layout::Layout::new(format, privacy).columns().to_vec()
}

#[cfg(test)]
mod tests;
