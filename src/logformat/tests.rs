//! Formats compile to what their directives log, lines give typed values, and bad format
//! strings are refused at the right column.

use super::directive::Condition;
use super::{LogFormat, Logged, Named, Parser, Value};

/// What each field of a line is, as text: `null`, `text:..`, `digits:..`, `int:..`,
/// `request:..`, `time:<utc> <offset>`, `part`; or the error message.
fn values(format: &str, line: &str) -> Result<Vec<String>, String> {
    let format = LogFormat::new(format).unwrap();
    let describe = |e| {
        let mut message = String::new();
        Parser::new(format.clone()).describe(&e, &mut message);
        message
    };
    let mut parser = Parser::new(format.clone());
    let parsed = parser.parse(line.as_bytes()).map_err(describe)?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    parsed
        .values()
        .map(|value| {
            Ok(match value.map_err(describe)? {
                Value::Null => "null".to_owned(),
                Value::Text(t) => format!("text:{}", text(t.raw)),
                Value::Digits(d) => format!("digits:{}", text(d)),
                Value::Int(v) => format!("int:{v}"),
                Value::Request(t) => format!("request:{}", text(t.raw)),
                Value::Time(t) => format!(
                    "time:{} {}",
                    text(t.utc()),
                    text(t.offset().unwrap_or(b"-"))
                ),
                Value::TimePart => "part".to_owned(),
            })
        })
        .collect()
}

#[test]
fn combined_line_gives_typed_values() {
    let line =
        r#"203.0.113.7 - "" [01/Nov/2026:09:15:02 +0100] "GET /a\"b HTTP/1.1" 200 - "-" "curl/8""#;
    assert_eq!(
        values("combined", line).unwrap(),
        [
            "text:203.0.113.7",
            "null",
            "text:",
            "time:2026-11-01T08:15:02Z +01:00",
            r#"request:GET /a\"b HTTP/1.1"#,
            "digits:200",
            "null",
            "null",
            "text:curl/8",
        ]
    );
}

#[test]
fn integers_and_times_are_converted() {
    assert_eq!(
        values("%T %{ms}T %D %{hextid}P %>s", "2 15 007 0x7f -").unwrap(),
        ["int:2000000", "int:15000", "int:7", "int:127", "null"]
    );
    assert_eq!(
        values(
            "%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t",
            "01/Nov/2026 00:30:00.042 +0330"
        )
        .unwrap(),
        ["time:2026-10-31T21:00:00.042Z +03:30", "part", "part"]
    );
    assert_eq!(values("%q %X", " -").unwrap(), ["null", "text:-"]);
    assert_eq!(
        values("%h %>s", "a 2x"),
        Err("expected a number for %>s at column 3".to_owned())
    );
    assert_eq!(
        values("%h %t", "a [32/Oct/2000:13:55:36 -0700]"),
        Err("bad time for %t at column 3".to_owned())
    );
}

#[test]
fn directives_say_what_they_log() {
    let format = LogFormat::new(
        "%s %>s %<s %b %B %{c}a %a %{Referer}i %{X-Id}i %{ms}T %T %400,501{User-Agent}i %t %{msec_frac}t",
    )
    .unwrap();
    let logged: Vec<(Logged, Option<Condition>)> = format
        .directives()
        .map(|d| (d.logged.clone(), d.condition.clone()))
        .collect();
    let named = |kind, name: &str| Logged::Named {
        kind,
        name: name.to_owned(),
    };
    assert_eq!(
        logged,
        [
            (Logged::Status, None),
            (Logged::Status, None),
            (Logged::OriginalStatus, None),
            (Logged::BytesSent { clf: true }, None),
            (Logged::BytesSent { clf: false }, None),
            (Logged::PeerIp, None),
            (Logged::ClientIp, None),
            (named(Named::RequestHeader, "Referer"), None),
            (named(Named::RequestHeader, "X-Id"), None),
            (Logged::Duration { unit: "ms".into() }, None),
            (Logged::Duration { unit: "s".into() }, None),
            (
                named(Named::RequestHeader, "User-Agent"),
                Some(Condition {
                    negate: false,
                    statuses: vec![400, 501]
                })
            ),
            (Logged::Time, None),
            (Logged::TimePart, None),
        ]
    );
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
    assert_eq!(
        values("referer", "https://example.com/a -> /b").unwrap(),
        ["text:https://example.com/a", "text:/b"]
    );
}

#[test]
fn format_escapes_as_in_httpd_conf() {
    assert_eq!(
        values(r#"%h \"%r\"\t%>s"#, "203.0.113.1 \"GET / HTTP/1.1\"\t200").unwrap(),
        ["text:203.0.113.1", "request:GET / HTTP/1.1", "digits:200"]
    );
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
fn adjacent_directives_end_at_the_first_byte_of_the_next() {
    let time = "time:2026-11-01T08:15:02Z +01:00";
    assert_eq!(
        values("%U%q%t", "/a?b=[c][01/Nov/2026:09:15:02 +0100]"),
        // A `[` in the query ends it: the limit of taking the first such byte.
        Err("expected \"[dd/Mon/yyyy:HH:MM:SS +zzzz]\" for %t at column 6".to_owned())
    );
    assert_eq!(
        values("%U%q%t", "/a?b=c[01/Nov/2026:09:15:02 +0100]").unwrap(),
        ["text:/a", "text:?b=c", time]
    );
    assert_eq!(
        values("%U%q%t", "/a[01/Nov/2026:09:15:02 +0100]").unwrap(),
        ["text:/a", "null", time]
    );
    assert_eq!(
        values("%>s%U%q", "200/x?").unwrap(),
        ["digits:200", "text:/x", "text:?"]
    );
    assert_eq!(values("%U%q", "/x?y?z").unwrap(), ["text:/x", "text:?y?z"]);
}
