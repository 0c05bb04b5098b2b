//! Odd lines through the public API: escapes, absent values, garbage requests, time zones,
//! special directives, parse errors, truncation, invalid UTF-8 and very long lines.

use accesslog_pubsub::logformat::LogFormat;
use accesslog_pubsub::record::{Encoder, LineMeta, RecordId};
use serde_json::{Value, json};

const COMBINED_LINE: &str = r#"203.0.113.7 - - [01/Nov/2026:09:15:02 +0100] "GET /index.html HTTP/1.1" 200 5120 "https://www.example.com/" "Mozilla/5.0 (X11; Linux x86_64)""#;

fn meta(truncated: bool) -> LineMeta {
    LineMeta {
        id: RecordId {
            stream: 0xfeed_beef,
            seq: 42,
        },
        received_at_us: 1_793_531_702_123_456,
        truncated,
    }
}

/// Encodes one line; returns the record and whether it parsed.
fn encode_bytes(format: &str, line: &[u8], truncated: bool) -> (Value, bool) {
    let mut encoder = Encoder::new(LogFormat::new(format).unwrap(), "web-1");
    let mut out = Vec::new();
    let ok = encoder.encode(line, &meta(truncated), &mut out);
    let record = serde_json::from_slice(&out).expect("always valid JSON");
    (record, ok)
}

fn parsed(format: &str, line: &str) -> Value {
    let (record, ok) = encode_bytes(format, line.as_bytes(), false);
    assert!(ok, "{line}: {record}");
    record
}

fn failed(format: &str, line: &str) -> Value {
    let (record, ok) = encode_bytes(format, line.as_bytes(), false);
    assert!(!ok, "{line}: {record}");
    record
}

fn combined(referer: &str, agent: &str) -> String {
    format!(
        r#"203.0.113.7 - - [01/Nov/2026:09:15:02 +0100] "GET / HTTP/1.1" 200 5120 "{referer}" "{agent}""#
    )
}

#[test]
fn a_plain_combined_line() {
    let rec = parsed("combined", COMBINED_LINE);
    assert_eq!(
        rec,
        json!({
            "id": "00000000feedbeef-42",
            "host": "web-1",
            "received_at": "2026-11-01T11:15:02.123456Z",
            "remote_host": "203.0.113.7",
            "ident": null,
            "remote_user": null,
            "timestamp": "2026-11-01T08:15:02Z",
            "tz_offset": "+01:00",
            "request": "GET /index.html HTTP/1.1",
            "method": "GET",
            "path": "/index.html",
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes_sent": 5120,
            "referer": "https://www.example.com/",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "truncated": false,
            "invalid_utf8": false,
            "raw": null
        })
    );
}

#[test]
fn escaped_quotes_and_backslashes_are_unescaped() {
    let rec = parsed(
        "combined",
        &combined("-", r#"Mozilla/5.0 (Tablet 10\" Build/X1)"#),
    );
    assert_eq!(rec["user_agent"], r#"Mozilla/5.0 (Tablet 10" Build/X1)"#);
    let rec = parsed("combined", &combined("-", r#"\""#));
    assert_eq!(rec["user_agent"], "\"");
    let rec = parsed("combined", &combined(r#"a \\ b \\"#, r#"\"quoted agent\""#));
    assert_eq!(rec["referer"], r"a \ b \");
    assert_eq!(rec["user_agent"], "\"quoted agent\"");
    let rec = parsed(
        "combined",
        r#"203.0.113.7 - - [01/Nov/2026:09:15:02 +0100] "GET /a\"b HTTP/1.1" 200 1 "-" "-""#,
    );
    assert_eq!(rec["path"], "/a\"b");
    assert_eq!(rec["request"], "GET /a\"b HTTP/1.1");
}

#[test]
fn c_escapes_and_unknown_escapes() {
    let rec = parsed("combined", &combined(r"tab\there\nnl\x41", r"\q stays"));
    assert_eq!(rec["referer"], "tab\there\nnlA");
    assert_eq!(rec["user_agent"], r"\q stays");
    assert_eq!(rec["invalid_utf8"], false);
}

#[test]
fn hex_escapes_that_are_not_utf8() {
    let rec = parsed("combined", &combined(r"http://\xe4\xe5.example/", "-"));
    assert_eq!(rec["referer"], "http://\u{fffd}\u{fffd}.example/");
    assert_eq!(rec["invalid_utf8"], true);
    // The raw line keeps the escapes, so nothing is lost.
    assert_eq!(rec["raw"], combined(r"http://\xe4\xe5.example/", "-"));
    // Escapes that make valid UTF-8 are just text.
    let rec = parsed("combined", &combined(r"\xc3\xa9t\xc3\xa9", "-"));
    assert_eq!(rec["referer"], "été");
    assert_eq!(rec["invalid_utf8"], false);
}

#[test]
fn dash_is_null_but_empty_quotes_are_empty() {
    let rec = parsed("combined", &combined("-", ""));
    assert_eq!(rec["referer"], Value::Null);
    assert_eq!(rec["user_agent"], "");
}

#[test]
fn request_timeout_with_dash_request() {
    let rec = parsed(
        "combined",
        r#"2001:db8::5 - - [01/Nov/2026:09:15:02 +0100] "-" 408 - "-" "-""#,
    );
    assert_eq!(rec["remote_host"], "2001:db8::5");
    assert_eq!(rec["status"], 408);
    for key in [
        "request",
        "method",
        "path",
        "protocol",
        "bytes_sent",
        "referer",
        "user_agent",
    ] {
        assert_eq!(rec[key], Value::Null, "{key}");
    }
}

#[test]
fn garbage_requests_keep_the_request_only() {
    for (request, logged) in [
        (r"\x16\x03\x01\x02", "\u{16}\u{3}\u{1}\u{2}"),
        ("", ""),
        (
            "<SCRIPT>alert(1)</SCRIPT> / HTTP/1.1",
            "<SCRIPT>alert(1)</SCRIPT> / HTTP/1.1",
        ),
        ("open 192.0.2.44 80", "open 192.0.2.44 80"),
    ] {
        let line =
            format!(r#"198.51.100.3 - - [01/Nov/2026:09:15:02 +0100] "{request}" 400 226 "-" "-""#);
        let rec = parsed("combined", &line);
        assert_eq!(rec["request"], logged);
        for key in ["method", "path", "protocol"] {
            assert_eq!(rec[key], Value::Null, "{request}: {key}");
        }
        assert_eq!(rec["status"], 400);
    }
}

#[test]
fn http09_request_has_no_protocol() {
    let rec = parsed(
        "common",
        r#"198.51.100.3 - - [01/Nov/2026:09:15:02 +0100] "GET /" 200 12"#,
    );
    assert_eq!(
        (rec["method"].as_str(), rec["path"].as_str()),
        (Some("GET"), Some("/"))
    );
    assert_eq!(rec["protocol"], Value::Null);
}

#[test]
fn offsets_crossing_a_date_boundary() {
    for (time, utc, offset) in [
        (
            "[01/Jan/2027:02:10:00 +0330]",
            "2026-12-31T22:40:00Z",
            "+03:30",
        ),
        (
            "[31/Dec/2026:20:00:00 -0700]",
            "2027-01-01T03:00:00Z",
            "-07:00",
        ),
        (
            "[01/Mar/2028:00:30:00 +0100]",
            "2028-02-29T23:30:00Z",
            "+01:00",
        ),
    ] {
        let rec = parsed(
            "common",
            &format!(r#"203.0.113.1 - - {time} "GET / HTTP/1.1" 200 1"#),
        );
        assert_eq!(rec["timestamp"], utc, "{time}");
        assert_eq!(rec["tz_offset"], offset, "{time}");
    }
}

#[test]
fn bad_timestamps_are_parse_errors() {
    for time in [
        "[31/Nov/2026:09:15:02 +0100]",
        "[01/Nox/2026:09:15:02 +0100]",
        "[01/Nov/2026:25:15:02 +0100]",
        "[01/Nov/2026:09:15:02 x0100]",
    ] {
        let rec = failed(
            "common",
            &format!(r#"203.0.113.1 - - {time} "GET / HTTP/1.1" 200 1"#),
        );
        assert_eq!(rec["parse_error"], "bad time for %t at column 17", "{time}");
    }
    let rec = failed(
        "common",
        r#"203.0.113.1 - - 01/Nov/2026:09:15:02 "GET / HTTP/1.1" 200 1"#,
    );
    assert_eq!(rec["parse_error"], r#"expected "[" for %t at column 17"#);
}

#[test]
fn status_conditional_directive() {
    let format = r#"%h %>s "%400,501{User-Agent}i" "%!200,304{Referer}i""#;
    let rec = parsed(format, r#"203.0.113.1 200 "-" "https://example.com/""#);
    assert_eq!(rec["user_agent"], Value::Null);
    assert_eq!(rec["referer"], "https://example.com/");
    let rec = parsed(format, r#"203.0.113.1 400 "curl/8.0" "-""#);
    assert_eq!(rec["user_agent"], "curl/8.0");
    assert_eq!(rec["referer"], Value::Null);
}

#[test]
fn millisecond_and_microsecond_times() {
    let rec = parsed("%{msec}t %h", "1793531702123 203.0.113.1");
    assert_eq!(rec["timestamp"], "2026-11-01T11:15:02.123Z");
    let rec = parsed("%{usec}t %h", "1793531702000042 203.0.113.1");
    assert_eq!(rec["timestamp"], "2026-11-01T11:15:02.000042Z");
    let rec = parsed(
        "[%{%d/%b/%Y %H:%M:%S}t.%{usec_frac}t %{%z}t] %h",
        "[01/Nov/2026 05:21:42.000042 +0100] 203.0.113.1",
    );
    assert_eq!(rec["timestamp"], "2026-11-01T04:21:42.000042Z");
    assert_eq!(rec["tz_offset"], "+01:00");
}

#[test]
fn durations_are_microseconds() {
    let rec = parsed("%D %T %{ms}T %{us}T %{s}T", "1500 2 15 77 1");
    assert_eq!(rec["duration_us"], 1500);
    assert_eq!(rec["duration_us_2"], 2_000_000);
    assert_eq!(rec["duration_us_3"], 15_000);
    assert_eq!(rec["duration_us_4"], 77);
    assert_eq!(rec["duration_us_5"], 1_000_000);
}

#[test]
fn literal_percent_sign() {
    let rec = parsed("%h 100%% %>s", "203.0.113.1 100% 204");
    assert_eq!(rec["status"], 204);
}

#[test]
fn bad_format_is_refused_with_its_column() {
    let err = LogFormat::new(r#"%h %l %u %t "%r" %>s %Q"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad LogFormat at column 22: unknown directive %Q"
    );
    assert_eq!(err.column, 22);
}

#[test]
fn non_numeric_status_is_a_parse_error() {
    let rec = failed(
        "common",
        r#"203.0.113.1 - - [01/Nov/2026:09:15:02 +0100] "GET / HTTP/1.1" abc 12"#,
    );
    assert_eq!(rec["parse_error"], "expected a number for %>s at column 63");
}

#[test]
fn parse_error_records_carry_only_their_keys() {
    let line = r#"203.0.113.1 - - [01/Nov/2026:09:15:02 +0100] "GET / HTTP/1.1" 200 12 extra"#;
    let rec = failed("common", line);
    assert_eq!(
        rec,
        json!({
            "id": "00000000feedbeef-42",
            "host": "web-1",
            "received_at": "2026-11-01T11:15:02.123456Z",
            "raw": line,
            "parse_error": "expected a number for %b at column 67",
        })
    );
    let rec = failed("combined", "garbage");
    assert_eq!(
        rec["parse_error"],
        r#"no " " after %h starting at column 1"#
    );
}

#[test]
fn trailing_text_after_the_format_is_a_parse_error() {
    let rec = failed("combined", &format!("{COMBINED_LINE} tail"));
    assert!(
        rec["parse_error"]
            .as_str()
            .unwrap()
            .contains("%{User-Agent}i"),
        "{rec}"
    );
    let rec = failed("%h %t", "203.0.113.1 [01/Nov/2026:09:15:02 +0100] tail");
    assert_eq!(rec["parse_error"], "unexpected text at column 41");
}

#[test]
fn truncated_flag_in_both_kinds_of_record() {
    let (rec, ok) = encode_bytes("combined", COMBINED_LINE.as_bytes(), true);
    assert!(ok);
    assert_eq!(rec["truncated"], true);
    let cut = &COMBINED_LINE[..COMBINED_LINE.len() - 10];
    let (rec, ok) = encode_bytes("combined", cut.as_bytes(), true);
    assert!(!ok);
    assert_eq!(rec["truncated"], true);
    assert_eq!(rec["raw"], cut);
    let (rec, _) = encode_bytes("combined", cut.as_bytes(), false);
    assert!(rec.get("truncated").is_none());
}

#[test]
fn invalid_utf8_in_the_raw_line() {
    let mut line = COMBINED_LINE.replace("X11", "X\u{1}1").into_bytes();
    let at = line.windows(3).position(|w| w == b"X\x011").unwrap();
    line[at + 1] = 0xff;
    let (rec, ok) = encode_bytes("combined", &line, false);
    assert!(ok);
    assert_eq!(rec["user_agent"], "Mozilla/5.0 (X\u{fffd}1; Linux x86_64)");
    assert_eq!(rec["invalid_utf8"], true);
    assert_eq!(rec["raw"], String::from_utf8_lossy(&line).as_ref());

    let (rec, ok) = encode_bytes("combined", b"\xff\xfe\x00 not a log line", false);
    assert!(!ok);
    assert_eq!(rec["raw"], "\u{fffd}\u{fffd}\u{0} not a log line");
}

#[test]
fn control_bytes_and_nuls_stay_valid_json() {
    let line = combined("a\u{0}b\u{1f}c", "tab\tdel\u{7f}");
    let rec = parsed("combined", &line);
    assert_eq!(rec["referer"], "a\u{0}b\u{1f}c");
    assert_eq!(rec["user_agent"], "tab\tdel\u{7f}");
}

#[test]
fn a_64_kib_line() {
    let path = format!("/{}", "a".repeat(64 * 1024));
    let line = format!(
        r#"203.0.113.1 - - [01/Nov/2026:09:15:02 +0100] "GET {path} HTTP/1.1" 414 - "-" "-""#
    );
    let rec = parsed("combined", &line);
    assert_eq!(rec["path"], path);
    assert_eq!(rec["status"], 414);
    let (rec, ok) = encode_bytes("combined", &line.as_bytes()[..65_536], true);
    assert!(!ok);
    assert_eq!(rec["truncated"], true);
}

#[test]
fn vhost_and_port() {
    let rec = parsed(
        "vhost_combined",
        r#"www.example.com:443 203.0.113.1 - - [01/Nov/2026:09:15:02 +0100] "GET / HTTP/2.0" 200 900 "-" "-""#,
    );
    assert_eq!(rec["vhost"], "www.example.com");
    assert_eq!(rec["server_port"], 443);
    assert_eq!(rec["bytes_out"], 900);
}

#[test]
fn values_for_the_publisher() {
    let mut encoder = Encoder::new(LogFormat::new("combined").unwrap(), "web-1");
    let mut out = Vec::new();
    let line = combined("-", r#"agent \"x\""#);
    assert!(encoder.encode(line.as_bytes(), &meta(false), &mut out));
    fn value_of<'a>(encoder: &'a Encoder, name: &str) -> Option<&'a str> {
        encoder.value(encoder.column_index(name).unwrap())
    }
    let value = |name: &str| value_of(&encoder, name).map(str::to_owned);
    assert_eq!(value("status").as_deref(), Some("200"));
    assert_eq!(value("user_agent").as_deref(), Some(r#"agent "x""#));
    assert_eq!(value("referer").as_deref(), None);
    assert_eq!(value("id").as_deref(), Some("00000000feedbeef-42"));
    assert_eq!(value("host").as_deref(), Some("web-1"));
    assert_eq!(value("timestamp").as_deref(), Some("2026-11-01T08:15:02Z"));
    assert_eq!(value("method").as_deref(), Some("GET"));
    assert_eq!(value("truncated").as_deref(), Some("false"));
    assert_eq!(value("parse_error").as_deref(), None);
    assert_eq!(encoder.column_index("no_such_column"), None);

    out.clear();
    assert!(!encoder.encode(b"garbage", &meta(false), &mut out));
    let value = |name: &str| value_of(&encoder, name).map(str::to_owned);
    assert_eq!(value("status").as_deref(), None);
    assert_eq!(value("raw").as_deref(), Some("garbage"));
    assert!(value("parse_error").is_some());
    assert_eq!(value("host").as_deref(), Some("web-1"));
}

#[test]
fn time_cache_does_not_leak_between_lines() {
    let mut encoder = Encoder::new(LogFormat::new("common").unwrap(), "web-1");
    let mut out = Vec::new();
    let mut timestamps = Vec::new();
    for time in [
        "[01/Nov/2026:09:15:02 +0100]",
        "[01/Nov/2026:09:15:02 +0100]",
        "[01/Nov/2026:09:15:02 +0000]",
        "[01/Nov/2026:09:15:03 +0000]",
        "[31/Nov/2026:09:15:03 +0000]",
        "[01/Nov/2026:09:15:03 +0000]",
    ] {
        out.clear();
        let line = format!(r#"203.0.113.1 - - {time} "GET / HTTP/1.1" 200 1"#);
        encoder.encode(line.as_bytes(), &meta(false), &mut out);
        let rec: Value = serde_json::from_slice(&out).unwrap();
        timestamps.push(rec["timestamp"].as_str().unwrap_or("error").to_owned());
    }
    assert_eq!(
        timestamps,
        [
            "2026-11-01T08:15:02Z",
            "2026-11-01T08:15:02Z",
            "2026-11-01T09:15:02Z",
            "2026-11-01T09:15:03Z",
            "error",
            "2026-11-01T09:15:03Z"
        ]
    );
}

/// The id, host and received_at every record of these tests starts with, then `fields`,
/// then the flags of a parsed UTF-8 line.
fn whole_record(fields: Value) -> Value {
    let mut rec = json!({
        "id": "00000000feedbeef-42",
        "host": "web-1",
        "received_at": "2026-11-01T11:15:02.123456Z",
    });
    let object = rec.as_object_mut().unwrap();
    object.extend(fields.as_object().unwrap().clone());
    object.extend(
        json!({"truncated": false, "invalid_utf8": false, "raw": null})
            .as_object()
            .unwrap()
            .clone(),
    );
    rec
}

#[test]
fn path_and_query_directly_adjacent() {
    let format = r#"%h "%m %U%q %H" %>s"#;
    let cases = [
        ("/search?q=a&page=2", "/search", json!("?q=a&page=2")),
        ("/search", "/search", Value::Null),
        ("/a?next=/b?c=d?", "/a", json!("?next=/b?c=d?")),
        ("/?", "/", json!("?")),
    ];
    for (target, path, query) in cases {
        let line = format!(r#"203.0.113.7 "GET {target} HTTP/1.1" 200"#);
        assert_eq!(
            parsed(format, &line),
            whole_record(json!({
                "remote_host": "203.0.113.7",
                "method": "GET",
                "url_path": path,
                "query_string": query,
                "protocol": "HTTP/1.1",
                "status": 200,
            })),
            "{line}"
        );
    }
}

#[test]
fn path_and_query_alone_and_quoted() {
    for (line, path, query) in [
        ("/a/b?x=1", "/a/b", json!("?x=1")),
        ("/a/b", "/a/b", Value::Null),
        ("/a?x=?y", "/a", json!("?x=?y")),
    ] {
        assert_eq!(
            parsed("%U%q", line),
            whole_record(json!({"url_path": path, "query_string": query})),
            "{line}"
        );
    }
    // Inside quotes the query ends at the first unescaped quote.
    assert_eq!(
        parsed(r#""%U%q" %>s"#, r#""/p?q=\"x\"" 200"#),
        whole_record(json!({"url_path": "/p", "query_string": "?q=\"x\"", "status": 200})),
    );
    assert_eq!(
        parsed(r#""%U%q" %>s"#, r#""/p" 200"#),
        whole_record(json!({"url_path": "/p", "query_string": null, "status": 200})),
    );
}

#[test]
fn a_directive_before_a_time() {
    let rec = parsed("%h%t %>s", "203.0.113.7[01/Nov/2026:09:15:02 +0100] 200");
    assert_eq!(rec["remote_host"], "203.0.113.7");
    assert_eq!(rec["timestamp"], "2026-11-01T08:15:02Z");
    let rec = parsed(
        "%h%{[%d/%b/%Y:%H:%M:%S %z]}t",
        "h[01/Nov/2026:09:15:02 +0100]",
    );
    assert_eq!(rec["remote_host"], "h");
    assert_eq!(rec["timestamp"], "2026-11-01T08:15:02Z");
    let rec = failed("%h%t", "203.0.113.7 01/Nov/2026");
    assert_eq!(rec["parse_error"], "no \"[\" after %h starting at column 1");
}

#[test]
fn adjacent_directives_without_a_known_first_byte_are_refused() {
    for (format, column, directive) in [
        ("%h%l", 1, "%h"),
        ("%U%!200q", 1, "%U"),
        ("%m %U%q%H", 6, "%q"),
        ("%h%{%d/%b/%Y %T}t", 1, "%h"),
    ] {
        let err = LogFormat::new(format).unwrap_err();
        assert_eq!(
            (err.column, err.message),
            (
                column,
                format!(
                    "directive {directive} must be followed by literal text, not by another directive"
                )
            ),
            "{format}"
        );
    }
}
