//! The columns of each directive: name, type and description of what `%h`, `%r`, ... log
//! (the table in the module doc of `record`), header and variable names in BigQuery-legal
//! snake case, and duplicates numbered (`method`, `method_2`, ...).

use std::collections::HashSet;

use crate::logformat::{Directive, Logged, Named};

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

/// One column a directive gives, before duplicate names are numbered.
#[derive(Debug, Clone)]
pub(super) struct ColumnSpec {
    pub(super) name: String,
    pub(super) kind: ColumnType,
    pub(super) description: String,
}

/// The columns a directive's value is written to: none for a `%t` item that is part of
/// another's time, four for `%r`, two for the time, else one.
pub(super) fn columns_of(d: &Directive) -> Vec<ColumnSpec> {
    use ColumnType::{Integer, String};
    let one = |name: &str, kind, description: &str| vec![col(name, kind, description)];
    let mut columns = match &d.logged {
        Logged::ClientIp => one("client_ip", String, "Client IP address of the request (%a)"),
        Logged::PeerIp => one("peer_ip", String, "IP address of the TCP peer (%{c}a)"),
        Logged::LocalIp => one("local_ip", String, "Local IP address of the server (%A)"),
        Logged::RemoteHost => one("remote_host", String, "Remote host name or IP address (%h)"),
        Logged::PeerHost => one("peer_host", String, "Remote host of the TCP peer (%{c}h)"),
        Logged::Ident => one("ident", String, "Remote logname from identd (%l)"),
        Logged::RemoteUser => one("remote_user", String, "Authenticated user (%u)"),
        Logged::Time => vec![
            col(
                "timestamp",
                ColumnType::Timestamp,
                "Time of the request, UTC (%t)",
            ),
            col(
                "tz_offset",
                String,
                "UTC offset the time was logged in, e.g. -07:00 (%t)",
            ),
        ],
        Logged::TimePart => Vec::new(),
        Logged::Request => vec![
            col(
                "request",
                String,
                "First line of the request, unescaped (%r)",
            ),
            col("method", String, "Method from the request line (%r)"),
            col(
                "path",
                String,
                "Request target from the request line as sent, query included (%r)",
            ),
            col("protocol", String, "Protocol from the request line (%r)"),
        ],
        Logged::Method => one("method", String, "Request method (%m)"),
        Logged::Protocol => one("protocol", String, "Request protocol (%H)"),
        Logged::UrlPath => one(
            "url_path",
            String,
            "URL path requested, without query string (%U)",
        ),
        Logged::Query => one(
            "query_string",
            String,
            "Query string with its leading ? (%q)",
        ),
        Logged::Status => one("status", Integer, "Final HTTP status (%>s)"),
        Logged::OriginalStatus => one(
            "original_status",
            Integer,
            "Status of the original request, before internal redirects (%<s)",
        ),
        Logged::BytesSent { clf } => one(
            "bytes_sent",
            Integer,
            if *clf {
                "Response bytes sent, headers excluded (%b)"
            } else {
                "Response bytes sent, headers excluded (%B)"
            },
        ),
        Logged::BytesIn => one(
            "bytes_in",
            Integer,
            "Bytes received, headers and request included (%I)",
        ),
        Logged::BytesOut => one("bytes_out", Integer, "Bytes sent, headers included (%O)"),
        Logged::BytesTotal => one("bytes_total", Integer, "Bytes received and sent (%S)"),
        Logged::DurationUs => one(
            "duration_us",
            Integer,
            "Time taken to serve the request, microseconds (%D)",
        ),
        Logged::Duration { unit } => one(
            "duration_us",
            Integer,
            &format!("Time taken to serve the request, microseconds (%{{{unit}}}T)"),
        ),
        Logged::TimeToFirstByte => one(
            "ttfb_us",
            Integer,
            "Microseconds from request to first response byte (%^FB)",
        ),
        Logged::Vhost => one(
            "vhost",
            String,
            "Canonical ServerName of the virtual host (%v)",
        ),
        Logged::ServerName => one(
            "server_name",
            String,
            "Server name per UseCanonicalName (%V)",
        ),
        Logged::ServerPort => one("server_port", Integer, "Canonical port of the server (%p)"),
        Logged::LocalPort => one(
            "local_port",
            Integer,
            "Local port of the connection (%{local}p)",
        ),
        Logged::RemotePort => one(
            "remote_port",
            Integer,
            "Remote port of the client (%{remote}p)",
        ),
        Logged::Pid => one("pid", Integer, "Process id of the child (%P)"),
        Logged::Tid { hex: false } => one("tid", Integer, "Thread id of the child (%{tid}P)"),
        Logged::Tid { hex: true } => one(
            "tid",
            Integer,
            "Thread id of the child, logged in hex (%{hextid}P)",
        ),
        Logged::KeepAliveRequests => one(
            "keepalive_requests",
            Integer,
            "Keep-alive requests handled on this connection before this one (%k)",
        ),
        Logged::RequestLogId => one("request_log_id", String, "Error log id of the request (%L)"),
        Logged::ConnectionLogId => one(
            "connection_log_id",
            String,
            "Error log id of the connection (%{c}L)",
        ),
        Logged::Filename => one("filename", String, "File name served (%f)"),
        Logged::Handler => one(
            "handler",
            String,
            "Handler that generated the response (%R)",
        ),
        Logged::ConnectionStatus => one(
            "connection_status",
            String,
            "Connection status after the response: X aborted, + keep-alive, - closed (%X)",
        ),
        Logged::Named { kind, name } => vec![named(*kind, name)],
    };
    if let Some(c) = &d.condition {
        let list = c
            .statuses
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let when = if c.negate { "except for" } else { "only for" };
        for column in &mut columns {
            column.description = format!("{}; logged {when} status {list}", column.description);
        }
    }
    columns
}

fn col(name: &str, kind: ColumnType, description: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        kind,
        description: description.to_owned(),
    }
}

/// The column of a header, variable, cookie, ...: `req_<name>`, `cookie_<name>`, ...
fn named(kind: Named, name: &str) -> ColumnSpec {
    let s = snake(name);
    let (column, what, letter) = match kind {
        Named::RequestHeader if name.eq_ignore_ascii_case("Referer") => {
            ("referer".to_owned(), "Request header", "i")
        }
        Named::RequestHeader if name.eq_ignore_ascii_case("User-Agent") => {
            ("user_agent".to_owned(), "Request header", "i")
        }
        Named::RequestHeader => (format!("req_{s}"), "Request header", "i"),
        Named::ResponseHeader => (format!("resp_{s}"), "Response header", "o"),
        Named::Cookie => (format!("cookie_{s}"), "Value of cookie", "C"),
        Named::Env => (format!("env_{s}"), "Environment variable", "e"),
        Named::Note => (format!("note_{s}"), "Note", "n"),
        Named::RequestTrailer => (format!("req_trailer_{s}"), "Request trailer", "^ti"),
        Named::ResponseTrailer => (format!("resp_trailer_{s}"), "Response trailer", "^to"),
        Named::SslVar | Named::SslConnectionVar => {
            let letter = if kind == Named::SslVar { "x" } else { "c" };
            let column = if s.starts_with("ssl_") {
                s
            } else {
                format!("ssl_{s}")
            };
            (column, "mod_ssl variable", letter)
        }
    };
    col(
        &column,
        ColumnType::String,
        &format!("{what} {name} (%{{{name}}}{letter})"),
    )
}

/// BigQuery's limit on a column name's length.
const MAX_NAME: usize = 300;

/// `X-Forwarded-For` -> `x_forwarded_for`: ASCII letters and digits lowercased, every run of
/// anything else one `_`, no `_` at either end. May be empty.
pub(super) fn snake(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    let mut pending = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending && !s.is_empty() {
                s.push('_');
            }
            pending = false;
            s.push(c.to_ascii_lowercase());
        } else {
            pending = true;
        }
    }
    s
}

/// The names taken so far in one record.
#[derive(Debug, Default)]
pub(super) struct NameSet {
    used: HashSet<String>,
}

impl NameSet {
    /// Reserves `name` as is (the record's own keys).
    pub(super) fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_owned());
    }

    /// Takes `name`, or `name_2`, `name_3`, ... when it is taken; cut to BigQuery's limit.
    pub(super) fn take(&mut self, name: &str) -> String {
        let base: String = name.chars().take(MAX_NAME - 8).collect();
        let mut candidate = base.clone();
        let mut n = 1;
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{base}_{n}");
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rules() {
        assert_eq!(snake("X-Forwarded-For"), "x_forwarded_for");
        assert_eq!(snake("SSL_PROTOCOL"), "ssl_protocol");
        assert_eq!(snake("--a  b--"), "a_b");
        assert_eq!(snake("Ünïcode"), "n_code");
        assert_eq!(snake("-"), "");
    }

    #[test]
    fn duplicates_are_numbered() {
        let mut names = NameSet::default();
        names.reserve("id");
        assert_eq!(names.take("method"), "method");
        assert_eq!(names.take("method"), "method_2");
        assert_eq!(names.take("method"), "method_3");
        assert_eq!(names.take("id"), "id_2");
    }

    #[test]
    fn long_names_are_cut() {
        let mut names = NameSet::default();
        let long = "a".repeat(400);
        let first = names.take(&long);
        let second = names.take(&long);
        assert!(first.len() <= MAX_NAME && second.len() <= MAX_NAME);
        assert_ne!(first, second);
    }
}
