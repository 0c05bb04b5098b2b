//! Every directive compiles, gets its documented name and type, and parses a sample; bad
//! format strings are refused at the right column.

use serde_json::{Value, json};

use super::{ColumnType, LogFormat};
use crate::record::{Encoder, LineMeta, RecordId};

/// The record for `line` under `format`.
fn record(format: &str, line: &str) -> Value {
    let mut encoder = Encoder::new(LogFormat::new(format).unwrap(), "test-host");
    let meta = LineMeta {
        id: RecordId { stream: 1, seq: 1 },
        received_at_us: 0,
        truncated: false,
    };
    let mut out = Vec::new();
    encoder.encode(line.as_bytes(), &meta, &mut out);
    serde_json::from_slice(&out).unwrap()
}

/// The type of column `name` under `format`.
fn kind(format: &str, name: &str) -> ColumnType {
    let columns = LogFormat::new(format).unwrap().columns();
    match columns.iter().find(|c| c.name == name) {
        Some(c) => c.kind,
        None => panic!("{format}: no column {name} in {columns:?}"),
    }
}

use ColumnType::{Integer as I, String as S, Timestamp as T};

/// (format, sample line, key, type, expected value)
const ONE_KEY: &[(&str, &str, &str, ColumnType, &str)] = &[
    ("%a", "203.0.113.5", "client_ip", S, r#""203.0.113.5""#),
    ("%{c}a", "198.51.100.7", "peer_ip", S, r#""198.51.100.7""#),
    ("%A", "192.0.2.10", "local_ip", S, r#""192.0.2.10""#),
    ("%B", "1234", "bytes_sent", I, "1234"),
    ("%b", "-", "bytes_sent", I, "null"),
    ("%b", "0", "bytes_sent", I, "0"),
    (
        "%{session-id}C",
        "abc123",
        "cookie_session_id",
        S,
        r#""abc123""#,
    ),
    ("%D", "1500", "duration_us", I, "1500"),
    ("%{UNIQUE_ID}e", "Zx9a", "env_unique_id", S, r#""Zx9a""#),
    (
        "%f",
        "/srv/www/index.html",
        "filename",
        S,
        r#""/srv/www/index.html""#,
    ),
    (
        "%h",
        "client.example.com",
        "remote_host",
        S,
        r#""client.example.com""#,
    ),
    ("%h", "2001:db8::1", "remote_host", S, r#""2001:db8::1""#),
    ("%{c}h", "203.0.113.8", "peer_host", S, r#""203.0.113.8""#),
    ("%H", "HTTP/2.0", "protocol", S, r#""HTTP/2.0""#),
    (
        "%{X-Forwarded-For}i",
        "203.0.113.9, 198.51.100.2",
        "req_x_forwarded_for",
        S,
        r#""203.0.113.9, 198.51.100.2""#,
    ),
    (
        "%{referer}i",
        "https://example.com/",
        "referer",
        S,
        r#""https://example.com/""#,
    ),
    (
        "%{User-Agent}i",
        "curl/8.5.0",
        "user_agent",
        S,
        r#""curl/8.5.0""#,
    ),
    ("%k", "3", "keepalive_requests", I, "3"),
    ("%l", "-", "ident", S, "null"),
    ("%L", "YWJjZGVm", "request_log_id", S, r#""YWJjZGVm""#),
    ("%{c}L", "Y29ubg", "connection_log_id", S, r#""Y29ubg""#),
    ("%m", "PATCH", "method", S, r#""PATCH""#),
    ("%{cookie}n", "-", "note_cookie", S, "null"),
    (
        "%{Content-Type}o",
        "text/html",
        "resp_content_type",
        S,
        r#""text/html""#,
    ),
    ("%p", "443", "server_port", I, "443"),
    ("%{canonical}p", "80", "server_port", I, "80"),
    ("%{local}p", "8443", "local_port", I, "8443"),
    ("%{remote}p", "51234", "remote_port", I, "51234"),
    ("%P", "12345", "pid", I, "12345"),
    ("%{pid}P", "12345", "pid", I, "12345"),
    ("%{tid}P", "140226", "tid", I, "140226"),
    ("%{hextid}P", "7f3a", "tid", I, "32570"),
    ("%q", "?a=1&b=2", "query_string", S, r#""?a=1&b=2""#),
    ("%q", "", "query_string", S, "null"),
    ("%R", "proxy:fcgi", "handler", S, r#""proxy:fcgi""#),
    ("%s", "200", "status", I, "200"),
    ("%>s", "404", "status", I, "404"),
    ("%<s", "302", "original_status", I, "302"),
    ("%>s", "-", "status", I, "null"),
    ("%T", "2", "duration_us", I, "2000000"),
    ("%{s}T", "3", "duration_us", I, "3000000"),
    ("%{ms}T", "15", "duration_us", I, "15000"),
    ("%{us}T", "1234", "duration_us", I, "1234"),
    ("%u", "alice", "remote_user", S, r#""alice""#),
    ("%u", r#""""#, "remote_user", S, r#""""#),
    ("%u", "-", "remote_user", S, "null"),
    ("%U", "/cart/add", "url_path", S, r#""/cart/add""#),
    ("%v", "www.example.com", "vhost", S, r#""www.example.com""#),
    (
        "%V",
        "shop.example.com",
        "server_name",
        S,
        r#""shop.example.com""#,
    ),
    ("%X", "+", "connection_status", S, r#""+""#),
    ("%X", "-", "connection_status", S, r#""-""#),
    ("%I", "512", "bytes_in", I, "512"),
    ("%O", "2048", "bytes_out", I, "2048"),
    ("%S", "2560", "bytes_total", I, "2560"),
    ("%^FB", "734", "ttfb_us", I, "734"),
    (
        "%{Grpc-Status}^ti",
        "0",
        "req_trailer_grpc_status",
        S,
        r#""0""#,
    ),
    (
        "%{Grpc-Message}^to",
        "ok",
        "resp_trailer_grpc_message",
        S,
        r#""ok""#,
    ),
    (
        "%{SSL_PROTOCOL}x",
        "TLSv1.3",
        "ssl_protocol",
        S,
        r#""TLSv1.3""#,
    ),
    (
        "%{SSL_CIPHER}x",
        "TLS_AES_128_GCM_SHA256",
        "ssl_cipher",
        S,
        r#""TLS_AES_128_GCM_SHA256""#,
    ),
    ("%{version}c", "TLSv1.2", "ssl_version", S, r#""TLSv1.2""#),
    ("%400,501{User-Agent}i", "-", "user_agent", S, "null"),
    (
        "%!200,304{Referer}i",
        "https://example.org/",
        "referer",
        S,
        r#""https://example.org/""#,
    ),
    (
        "%t",
        "[10/Oct/2026:13:55:36 -0700]",
        "timestamp",
        T,
        r#""2026-10-10T20:55:36Z""#,
    ),
    (
        "%t",
        "[10/Oct/2026:13:55:36 -0700]",
        "tz_offset",
        S,
        r#""-07:00""#,
    ),
    (
        "%{begin}t",
        "[10/Oct/2026:13:55:36 +0000]",
        "timestamp",
        T,
        r#""2026-10-10T13:55:36Z""#,
    ),
    (
        "%{end}t",
        "[10/Oct/2026:13:55:36 +0000]",
        "timestamp",
        T,
        r#""2026-10-10T13:55:36Z""#,
    ),
    (
        "%{%d/%b/%Y:%H:%M:%S %z}t",
        "10/Oct/2026:13:55:36 +0200",
        "timestamp",
        T,
        r#""2026-10-10T11:55:36Z""#,
    ),
    (
        "%{sec}t",
        "1791000000",
        "timestamp",
        T,
        r#""2026-10-03T04:00:00Z""#,
    ),
    ("%{sec}t", "1791000000", "tz_offset", S, "null"),
    (
        "%{begin:msec}t",
        "1791000000123",
        "timestamp",
        T,
        r#""2026-10-03T04:00:00.123Z""#,
    ),
    (
        "%{end:usec}t",
        "1791000000123456",
        "timestamp",
        T,
        r#""2026-10-03T04:00:00.123456Z""#,
    ),
];

#[test]
fn every_directive_has_its_name_type_and_value() {
    for &(format, line, key, ty, want) in ONE_KEY {
        assert_eq!(kind(format, key), ty, "{format} {key}");
        let rec = record(format, line);
        let want: Value = serde_json::from_str(want).unwrap();
        assert_eq!(rec[key], want, "{format} on {line:?}: {rec}");
    }
}

#[test]
fn request_line_gives_four_keys() {
    let rec = record(r#""%r""#, r#""GET /a?b=1 HTTP/1.1""#);
    assert_eq!(rec["request"], "GET /a?b=1 HTTP/1.1");
    assert_eq!(rec["method"], "GET");
    assert_eq!(rec["path"], "/a?b=1");
    assert_eq!(rec["protocol"], "HTTP/1.1");
    for key in ["request", "method", "path", "protocol"] {
        assert_eq!(kind("%r", key), S);
    }
}

#[test]
fn literal_percent() {
    let rec = record("%h %% %>s", "203.0.113.1 % 200");
    assert_eq!(rec["remote_host"], "203.0.113.1");
    assert_eq!(rec["status"], 200);
    assert!(record("%h %% %>s", "203.0.113.1 x 200")["parse_error"].is_string());
}

#[test]
fn format_escapes_as_in_httpd_conf() {
    let format = LogFormat::new(r#"%h \"%r\"\t%>s"#).unwrap();
    assert_eq!(format.source(), r#"%h \"%r\"\t%>s"#);
    let rec = record(r#"%h \"%r\"\t%>s"#, "203.0.113.1 \"GET / HTTP/1.1\"\t200");
    assert_eq!(rec["method"], "GET");
    assert_eq!(rec["status"], 200);
}

#[test]
fn nicknames_expand() {
    assert_eq!(
        LogFormat::new("common").unwrap().source(),
        r#"%h %l %u %t "%r" %>s %b"#
    );
    assert_eq!(
        LogFormat::new("combinedio").unwrap().source(),
        r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O"#
    );
    for (name, format) in super::NICKNAMES {
        assert_eq!(LogFormat::new(name).unwrap().source(), *format);
    }
    let rec = record("referer", "https://example.com/a -> /b");
    assert_eq!(rec["referer"], "https://example.com/a");
    assert_eq!(rec["url_path"], "/b");
}

#[test]
fn duplicate_names_are_numbered() {
    let names = |f: &str| -> Vec<String> {
        LogFormat::new(f)
            .unwrap()
            .columns()
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    let n = names(r#"%h %h "%r" %m %D %T"#);
    for key in [
        "remote_host",
        "remote_host_2",
        "method",
        "method_2",
        "duration_us",
        "duration_us_2",
    ] {
        assert!(n.iter().any(|c| c == key), "{key} in {n:?}");
    }
    let rec = record("%h %h", "a b");
    assert_eq!(
        (rec["remote_host"].as_str(), rec["remote_host_2"].as_str()),
        (Some("a"), Some("b"))
    );
}

#[test]
fn record_keys_are_fixed_and_ordered() {
    let format = LogFormat::new("common").unwrap();
    let names: Vec<String> = format.columns().into_iter().map(|c| c.name).collect();
    let line = r#"203.0.113.1 - - [01/Nov/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5"#;
    let mut out = Vec::new();
    let meta = LineMeta {
        id: RecordId { stream: 1, seq: 1 },
        received_at_us: 0,
        truncated: false,
    };
    Encoder::new(format, "h").encode(line.as_bytes(), &meta, &mut out);
    let text = String::from_utf8(out).unwrap();
    // A parsed record has every column but parse_error, in column order.
    let at: Vec<Option<usize>> = names
        .iter()
        .map(|n| text.find(&format!("\"{n}\":")))
        .collect();
    assert_eq!(at.last(), Some(&None), "{text}");
    let present: Vec<usize> = at[..at.len() - 1].iter().map(|a| a.unwrap()).collect();
    assert!(present.windows(2).all(|w| w[0] < w[1]), "{text}");
    let rec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rec.as_object().unwrap().len(), names.len() - 1);
    assert_eq!(rec["truncated"], false);
    assert_eq!(rec["invalid_utf8"], false);
    assert_eq!(rec["raw"], Value::Null);
}

#[test]
fn several_time_items_make_one_timestamp() {
    let format = "[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %h";
    let rec = record(format, "[01/Nov/2026 00:30:00.042 +0330] 203.0.113.1");
    assert_eq!(rec["timestamp"], "2026-10-31T21:00:00.042Z");
    assert_eq!(rec["tz_offset"], "+03:30");
    assert_eq!(rec["remote_host"], "203.0.113.1");
    let names: Vec<String> = LogFormat::new(format)
        .unwrap()
        .columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("timestamp")).count(),
        1
    );

    let rec = record(
        "%{%Y-%m-%dT%H:%M:%S}t.%{usec_frac}t%{%z}t",
        "2026-11-01T00:00:00.000007-0100",
    );
    assert_eq!(rec["timestamp"], "2026-11-01T01:00:00.000007Z");
}

#[test]
fn end_items_do_not_clash_with_begin_items() {
    let rec = record("%{begin:sec}t %{end:sec}t", "1791000000 1791000002");
    assert_eq!(rec["timestamp"], "2026-10-03T04:00:00Z");
}

#[test]
fn local_time_without_offset() {
    let rec = record(
        "%{%Y-%m-%d %H:%M:%S}t %h",
        "2026-11-01 12:00:00 203.0.113.1",
    );
    let ts = rec["timestamp"].as_str().unwrap();
    assert!(ts.starts_with("2026-11-0") && ts.ends_with('Z'), "{rec}");
    assert!(rec["tz_offset"].is_string());
}

#[test]
fn integers_directly_followed_by_a_directive() {
    let rec = record("%>s%h", "404client.example.com");
    assert_eq!(rec["status"], 404);
    assert_eq!(rec["remote_host"], "client.example.com");
}

#[test]
fn bad_formats_name_the_directive_and_column() {
    let cases = [
        ("%h %l %Z", 7, "unknown directive %Z"),
        ("%h %{foo", 4, "unterminated { in directive %{foo"),
        ("%h %", 4, "lone % at the end of the format"),
        ("%h %>", 4, "unfinished directive %>"),
        ("%{x}p", 1, "%{x}p: expected canonical, local or remote"),
        ("%{min}T", 1, "%{min}T: expected s, ms or us"),
        ("%{gid}P", 1, "%{gid}P: expected pid, tid or hextid"),
        ("%h %i", 4, "directive %i needs a {NAME} argument"),
        ("%^XY", 1, "unknown directive %^XY"),
        (
            "%h%l",
            1,
            "directive %h must be followed by literal text, not by another directive",
        ),
        (
            "%{%H:%M}t",
            1,
            "the %t directives do not give a full date and time",
        ),
        ("%{%Q}t", 1, "bad strftime format in %{%Q}t"),
        ("", 1, "empty format"),
    ];
    for (format, column, message) in cases {
        match LogFormat::new(format) {
            Ok(_) => panic!("{format:?} compiled"),
            Err(e) => {
                assert_eq!(
                    (e.column, e.message.as_str()),
                    (column, message),
                    "{format:?}"
                );
                assert_eq!(
                    e.to_string(),
                    format!("bad LogFormat at column {column}: {message}")
                );
            }
        }
    }
}

#[test]
fn every_column_has_a_description() {
    let format = LogFormat::new(
        r#"%a %{c}a %A %B %{X}C %D %{X}e %f %h %{c}h %H %{X}i %k %l %L %m %{X}n %{X}o %p %{local}p %P %{tid}P %q "%r" %R %>s %<s %t %T %u %U %v %V %X %I %O %S %^FB %{X}^ti %{X}^to %{X}x %{X}c"#,
    )
    .unwrap();
    for c in format.columns() {
        assert!(!c.description.is_empty(), "{}", c.name);
        assert!(
            c.name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
            "{}",
            c.name
        );
    }
    assert_eq!(json!(record("%h", "x")["host"]), json!("test-host"));
}
