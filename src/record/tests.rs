//! Every directive gets its documented name and type and gives its sample's value; the
//! record's keys and their order; the publisher's view of a record.

use serde_json::{Value, json};

use super::{ColumnType, Encoder, LineMeta, Privacy, RecordId, columns};
use crate::logformat::LogFormat;

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
    let columns = columns(&LogFormat::new(format).unwrap(), &Privacy::default());
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
fn a_nickname_names_its_columns() {
    let rec = record("referer", "https://example.com/a -> /b");
    assert_eq!(rec["referer"], "https://example.com/a");
    assert_eq!(rec["url_path"], "/b");
}

#[test]
fn duplicate_names_are_numbered() {
    let names = |f: &str| -> Vec<String> {
        columns(&LogFormat::new(f).unwrap(), &Privacy::default())
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
    let names: Vec<String> = columns(&format, &Privacy::default())
        .into_iter()
        .map(|c| c.name)
        .collect();
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
    let names: Vec<String> = columns(&LogFormat::new(format).unwrap(), &Privacy::default())
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
fn every_column_has_a_description() {
    let format = LogFormat::new(
        r#"%a %{c}a %A %B %{X}C %D %{X}e %f %h %{c}h %H %{X}i %k %l %L %m %{X}n %{X}o %p %{local}p %P %{tid}P %q "%r" %R %>s %<s %t %T %u %U %v %V %X %I %O %S %^FB %{X}^ti %{X}^to %{X}x %{X}c"#,
    )
    .unwrap();
    for c in columns(&format, &Privacy::default()) {
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

/// Every column's value for the publisher is what the record says, line after line (so
/// nothing is left over from the line before).
#[test]
fn values_match_the_record() {
    let cases: [(&str, &[u8], &[u8]); 4] = [
        (
            "combined",
            include_bytes!("../../tests/golden/combined.log"),
            b"1.2.3.4 - \"\" [01/Nov/2026:09:15:02 +0100] \"-\" 408 - \"-\" \"-\"\n\
              ::1 - bob [01/Nov/2026:09:15:02 +0100] \"GET /a\tb HTTP/1.1\" 200 - \"\xc3\xa9\" \"a\\x07\"\n\
              ::1 - - [01/Nov/2026:09:15:03 +0100] \"\\x16\\x03\" 400 0 \"\\\"q\\\"\" \"\xff\"\n",
        ),
        (
            include_str!("../../tests/golden/detailed.format"),
            include_bytes!("../../tests/golden/detailed.log"),
            b"",
        ),
        (
            include_str!("../../tests/golden/ssl_request.format"),
            include_bytes!("../../tests/golden/ssl_request.log"),
            b"",
        ),
        (
            "vhost_combined",
            include_bytes!("../../tests/golden/vhost_combined.log"),
            b"1.2.3.4:80 \t \"a\tb\" - [01/Nov/2026:09:15:02 +0100] \"GET /\\\"x\\\" HTTP/1.1\" 200 1 \"\xff\" \"\\xe4\"\n",
        ),
    ];
    for (format, log, more) in cases {
        let format = LogFormat::new(format.trim_end()).unwrap();
        let names: Vec<String> = columns(&format, &Privacy::default())
            .into_iter()
            .map(|c| c.name)
            .collect();
        let mut encoder = Encoder::new(format, "web-1");
        let lines = log
            .split(|&b| b == b'\n')
            .chain(more.split(|&b| b == b'\n'));
        for (seq, line) in lines.filter(|l| !l.is_empty()).enumerate() {
            let meta = LineMeta {
                id: RecordId {
                    stream: 7,
                    seq: seq as u64,
                },
                received_at_us: 1_790_000_000_000_000 + (seq as i64 / 3),
                truncated: seq % 5 == 4,
            };
            let mut out = b"before".to_vec();
            encoder.encode(line, &meta, &mut out);
            let record: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&out[6..]).unwrap();
            for (i, name) in names.iter().enumerate() {
                let want = match record.get(name) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(v) => Some(v.to_string()),
                };
                let line = String::from_utf8_lossy(line);
                assert_eq!(
                    encoder.value(i).map(str::to_owned),
                    want,
                    "{name} of {line}"
                );
            }
        }
    }
}

#[test]
fn integers_past_2_to_the_53_are_json_strings() {
    let rec = record("%B %I %>s", "9007199254740993 9007199254740992 200");
    assert_eq!(rec["bytes_sent"], "9007199254740993");
    assert_eq!(rec["bytes_in"], 9_007_199_254_740_992_u64);
    assert_eq!(rec["status"], 200);
}
