//! Privacy: what of a line's values is kept, changed or left out before its record leaves
//! the host.
//!
//! [`Privacy`] is the policy (the configuration's `[privacy]` table, validated) and the key
//! pseudonyms are made with. The encoder applies it in one place, to each field's value
//! just before it is written (so the attributes and the ordering key read from the record
//! see what was written), through a [`Transform`] made once per format: a [`Rule`] per
//! field, chosen by what its directive logs. A URL written as it was logged (no escapes to
//! undo) is redacted as it is written: the transform says where its values to redact are.
//!
//! | field | rule |
//! |---|---|
//! | `%h`, `%a`, `%{c}a`, `%{c}h` | `client_ip`: keep, truncate (`address`), hash or drop |
//! | `%{Name}i` of a `client_ip_headers` name | `client_ip`, for each entry of the list |
//! | `%u` | `remote_user`: keep, hash or drop |
//! | `%r`, `%U`, `%q`, `%{Referer}i` | `query`: keep, redact the listed parameters (`query`), drop |
//!
//! `drop_fields` are fields the layout gives no columns (`super::layout`); `raw` decides
//! whether a record's `raw` holds the line, a pseudonym of it (`raw_hash`) or nothing. A
//! value a rule cannot transform safely (a host name where an address was expected, with
//! no key to hash it) is dropped, never kept. Values that repeat from line to line
//! (addresses, users) are remembered (`memo`).

mod address;
mod hash;
mod memo;
mod query;

use std::sync::Arc;

pub use address::Prefixes;
pub use hash::{HashKey, KeyError, MIN_KEY_BYTES};
pub(super) use query::REDACTED;

use crate::logformat::{Directive, Escaped, LogFormat, Logged, Named, Value, split_request};
use memo::Memo;

/// What becomes of the client address fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIp {
    #[default]
    Keep,
    /// Zero the host part ([`Prefixes`]); what is not an address is hashed, or dropped
    /// without a key.
    Truncate,
    Hash,
    Drop,
}

/// What becomes of `%u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteUser {
    #[default]
    Keep,
    Hash,
    Drop,
}

/// What becomes of the query of the URL fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Query {
    #[default]
    Keep,
    /// Values of the listed parameters replaced by [`REDACTED`].
    Redact,
    /// Query and fragment cut off.
    Drop,
}

/// What a record's `raw` holds (the line, when it did not parse or was not UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Raw {
    #[default]
    Keep,
    /// No line: `raw_hash`, its pseudonym, when there is a key; else nothing.
    Drop,
}

/// The privacy policy; [`Privacy::default`] changes nothing.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    pub client_ip: ClientIp,
    pub prefixes: Prefixes,
    /// Request headers that hold client addresses (`X-Forwarded-For`), any case.
    pub client_ip_headers: Vec<String>,
    pub remote_user: RemoteUser,
    /// Query parameters whose values are redacted, any case.
    pub redact_query_params: Vec<String>,
    pub query: Query,
    /// Record fields never sent.
    pub drop_fields: Vec<String>,
    pub raw: Raw,
    /// The key pseudonyms are made with.
    pub key: Option<HashKey>,
    /// The file it was read from (`check` looks at it).
    pub key_file: Option<std::path::PathBuf>,
}

impl Default for Prefixes {
    fn default() -> Prefixes {
        Prefixes { v4: 24, v6: 48 }
    }
}

impl Privacy {
    /// Nothing is changed: records are as without privacy.
    pub fn is_off(&self) -> bool {
        self.client_ip == ClientIp::Keep
            && self.remote_user == RemoteUser::Keep
            && self.query == Query::Keep
            && self.drop_fields.is_empty()
            && self.raw == Raw::Keep
    }

    /// Whether `header` (a `%{Name}i` name) holds client addresses.
    fn is_client_ip_header(&self, header: &str) -> bool {
        (self.client_ip_headers.iter()).any(|h| h.eq_ignore_ascii_case(header))
    }

    /// The rule for a directive's value.
    fn rule(&self, directive: &Directive) -> Rule {
        let url = if self.query == Query::Keep {
            Rule::Keep
        } else {
            Rule::Url
        };
        match &directive.logged {
            Logged::ClientIp | Logged::PeerIp | Logged::RemoteHost | Logged::PeerHost
                if self.client_ip != ClientIp::Keep =>
            {
                Rule::Address
            }
            Logged::Named {
                kind: Named::RequestHeader,
                name,
            } if self.client_ip != ClientIp::Keep && self.is_client_ip_header(name) => {
                Rule::AddressList
            }
            Logged::RemoteUser if self.remote_user != RemoteUser::Keep => Rule::User,
            Logged::Request | Logged::UrlPath | Logged::Query => url,
            Logged::Named {
                kind: Named::RequestHeader,
                name,
            } if name.eq_ignore_ascii_case("Referer") => url,
            _ => Rule::Keep,
        }
    }
}

/// What is done to one field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    Keep,
    Address,
    AddressList,
    User,
    Url,
    /// A field of `drop_fields`: the layout gives it no columns.
    Drop,
}

/// A [`Privacy`] applied to the fields of one format: the rule of each field, and the
/// buffers and memos the transforms reuse.
#[derive(Debug)]
pub(super) struct Transform {
    privacy: Arc<Privacy>,
    rules: Vec<Rule>,
    /// Bit `f` set when the rule of field `f` is not [`Rule::Keep`], for the first 64.
    changed: u64,
    names: query::Names,
    /// Where the values to redact in the last URL are ([`Transform::redactions`]).
    redactions: Vec<(usize, usize)>,
    /// The last transformed value.
    out: Vec<u8>,
    /// A value unescaped, before it is hashed; a parameter name decoded.
    scratch: Vec<u8>,
    addresses: Memo,
    users: Memo,
}

impl Transform {
    /// The transform of `privacy` for `format`'s fields, of which `dropped` says which
    /// the layout gives no columns; `None` when it changes no field and drops none.
    pub(super) fn new(
        privacy: &Arc<Privacy>,
        format: &LogFormat,
        dropped: impl Fn(usize) -> bool,
    ) -> Option<Transform> {
        let rules: Vec<Rule> = (format.directives().enumerate())
            .map(|(f, d)| {
                if dropped(f) {
                    Rule::Drop
                } else {
                    privacy.rule(d)
                }
            })
            .collect();
        if rules.iter().all(|r| *r == Rule::Keep) {
            return None;
        }
        let changed = (rules.iter().take(64).enumerate())
            .filter(|(_, r)| **r != Rule::Keep)
            .fold(0, |bits, (f, _)| bits | 1 << f);
        Some(Transform {
            privacy: Arc::clone(privacy),
            rules,
            changed,
            names: query::Names::new(&privacy.redact_query_params),
            redactions: Vec::new(),
            out: Vec::new(),
            scratch: Vec::new(),
            addresses: Memo::default(),
            users: Memo::default(),
        })
    }

    /// The rule of field `field` (its index in the format): [`Rule::Keep`] needs no call
    /// to [`Transform::apply`].
    #[inline]
    pub(super) fn rule(&self, field: usize) -> Rule {
        self.rules[field]
    }

    /// Whether the rule of field `field` is not [`Rule::Keep`]: a bit looked at, for the
    /// first 64 fields.
    #[inline(always)]
    pub(super) fn changes(&self, field: usize) -> bool {
        if field < 64 {
            self.changed >> field & 1 != 0
        } else {
            self.rules[field] != Rule::Keep
        }
    }

    /// For a [`Rule::Url`] field written as it was logged (no escapes to undo): where in
    /// `url` the values to redact are, in order (none when it has no query); the encoder
    /// writes the URL with them replaced by [`REDACTED`]. `None` when the policy drops
    /// queries instead, which [`Transform::apply`] does.
    #[inline]
    pub(super) fn redactions(&mut self, url: &[u8]) -> Option<&[(usize, usize)]> {
        if self.privacy.query != Query::Redact {
            return None;
        }
        self.find_redactions(url);
        Some(&self.redactions)
    }

    /// Sets [`Transform::redactions`] to where the values to redact in `url` are.
    #[inline]
    fn find_redactions(&mut self, url: &[u8]) {
        self.redactions.clear();
        if let Some(query) = query::query_start(url) {
            let (names, scratch) = (&self.names, &mut self.scratch);
            query::redactions(url, query, names, scratch, &mut self.redactions);
        }
    }

    /// The value of field `field` (its index in the format) as it is to be written. Out of
    /// line: the encoder's loop stays as small as without privacy for the fields kept.
    #[inline(never)]
    pub(super) fn apply<'a>(&'a mut self, field: usize, value: Value<'a>) -> Value<'a> {
        let rule = self.rules[field];
        let (Value::Text(text) | Value::Request(text)) = value else {
            return value;
        };
        let kept = match rule {
            Rule::Keep => return value,
            Rule::Drop => return Value::Null,
            Rule::Address => return self.address(text),
            Rule::AddressList => self.address_list(text),
            Rule::User => self.user(text),
            Rule::Url => return self.url(value, text),
        };
        if !kept {
            return Value::Null;
        }
        Value::Text(Escaped {
            raw: &self.out,
            clean: true,
        })
    }

    /// `client_ip` for an address field: a remembered result as it is in the memo.
    fn address<'a>(&'a mut self, text: Escaped<'_>) -> Value<'a> {
        let value = |raw: Option<&'a [u8]>| match raw {
            Some(raw) => Value::Text(Escaped { raw, clean: true }),
            None => Value::Null,
        };
        if self.privacy.client_ip == ClientIp::Drop {
            return Value::Null;
        }
        if let Some(i) = self.addresses.find(text.raw) {
            return value(self.addresses.result(i));
        }
        self.out.clear();
        let kept = self.one_address(text);
        let result = kept.then_some(&self.out[..]);
        self.addresses.put(text.raw, result);
        value(result)
    }

    /// `client_ip` for each entry of a forwarded-for list; entries that leave nothing are
    /// left out, and a list that is left with none is null.
    fn address_list(&mut self, text: Escaped<'_>) -> bool {
        if self.privacy.client_ip == ClientIp::Drop {
            return false;
        }
        let mut list = std::mem::take(&mut self.out);
        list.clear();
        for entry in address::entries(text.raw) {
            let before = list.len();
            if before > 0 {
                list.extend_from_slice(b", ");
            }
            let entry = Escaped {
                raw: entry,
                clean: false,
            };
            let kept = match self.addresses.get(entry.raw) {
                Some(known) => known.map(|r| list.extend_from_slice(r)).is_some(),
                None => {
                    self.out.clear();
                    let kept = self.one_address(entry);
                    self.addresses.put(entry.raw, kept.then_some(&self.out[..]));
                    list.extend_from_slice(&self.out);
                    kept
                }
            };
            if !kept {
                list.truncate(before);
            }
        }
        self.out = list;
        !self.out.is_empty()
    }

    /// Writes what `client_ip` makes of one address (or what stands in its place) to `out`;
    /// false when nothing is left.
    fn one_address(&mut self, text: Escaped<'_>) -> bool {
        let privacy = &self.privacy;
        let addr = address::parse(text.raw);
        match (privacy.client_ip, addr) {
            (ClientIp::Truncate, Some(addr)) => {
                address::write_addr(address::truncate(addr, privacy.prefixes), &mut self.out);
                true
            }
            (ClientIp::Truncate | ClientIp::Hash, _) => {
                let Some(key) = &privacy.key else {
                    return false;
                };
                self.scratch.clear();
                match addr {
                    Some(addr) => address::canonical(addr, &mut self.scratch),
                    None => {
                        text.unescape_into(&mut self.scratch);
                    }
                }
                self.out.extend_from_slice(&key.pseudonym(&self.scratch));
                true
            }
            (ClientIp::Keep, _) => {
                self.out.extend_from_slice(text.raw);
                true
            }
            (ClientIp::Drop, _) => false,
        }
    }

    /// `remote_user`; false when nothing is left.
    fn user(&mut self, text: Escaped<'_>) -> bool {
        let privacy = &self.privacy;
        let (RemoteUser::Hash, Some(key)) = (privacy.remote_user, &privacy.key) else {
            return false;
        };
        self.out.clear();
        if let Some(known) = self.users.get(text.raw) {
            return known.map(|r| self.out.extend_from_slice(r)).is_some();
        }
        self.scratch.clear();
        text.unescape_into(&mut self.scratch);
        self.out.extend_from_slice(&key.pseudonym(&self.scratch));
        self.users.put(text.raw, Some(&self.out));
        true
    }

    /// `query` for a URL field: `%r`'s target, `%U`, `%q` or a Referer. `%q` that is left
    /// without a query is null.
    fn url<'a>(&'a mut self, value: Value<'a>, text: Escaped<'a>) -> Value<'a> {
        let raw = text.raw;
        if query::query_start(raw).is_none() {
            return value;
        }

        let (head, url, tail) = match value {
            Value::Request(_) => match split_request(raw) {
                Some(parts) => {
                    let (s, e) = parts.target;
                    (&raw[..s], &raw[s..e], &raw[e..])
                }
                None => (&raw[..0], raw, &raw[..0]),
            },
            _ => (&raw[..0], raw, &raw[..0]),
        };
        self.out.clear();
        self.out.extend_from_slice(head);
        match self.privacy.query {
            Query::Drop => query::drop_query(url, &mut self.out),
            _ => {
                self.find_redactions(url);
                if self.redactions.is_empty() {
                    return value;
                }
                let out = &mut self.out;
                query::write_redacted(url, &self.redactions, |piece| out.extend_from_slice(piece));
            }
        }
        self.out.extend_from_slice(tail);
        if self.out.is_empty() {
            return Value::Null;
        }
        let text = Escaped {
            raw: &self.out,
            clean: text.clean,
        };
        match value {
            Value::Request(_) => Value::Request(text),
            _ => Value::Text(text),
        }
    }
}

#[cfg(test)]
mod tests;
