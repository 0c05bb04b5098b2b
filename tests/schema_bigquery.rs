//! Every record the program emits validates against the table schema it prints, under
//! BigQuery's rules for JSON rows: each key a column of the schema (no unknown keys, nothing
//! nested), TIMESTAMP values in a form BigQuery accepts, INTEGER values that are integers
//! within INT64 (and within 2^53, past which JSON numbers lose digits), BOOLEAN values true
//! or false, STRING values strings, null only where the column is NULLABLE; and the schema
//! itself uses valid column names and types.
//!
//! For every LogFormat nickname, the packaged `bigquery_combined`, the golden formats and
//! one format with every directive, lines are generated from the format itself (typical
//! values, `-` everywhere it may stand, escapes), and sent through `accesslog-pubsub parse`
//! together with lines that do not match (garbage, invalid UTF-8, an over-long line cut to
//! `max_line_bytes`, an empty line of fields).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use common::binary;

const FORMATS: [&str; 11] = [
    "common",
    "combined",
    "combinedio",
    "vhost_combined",
    "debian_common",
    "debian_combined",
    // The LogFormat of the packaged Apache snippets.
    r#"%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D "%{X-Forwarded-For}i""#,
    // The golden `detailed` format: strftime time items, status conditions, notes, SSL.
    r#"[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %a %{remote}p %v %>s %<s %D %{ms}T %X %k "%r" %I %O %S %^FB %{hextid}P "%{X-Request-Id}i" "%{Content-Type}o" %{SSL_PROTOCOL}x %{UNIQUE_ID}e %{cookie}n %{session}C %L "%400,500{User-Agent}i""#,
    // Every directive once.
    r#"%h %{c}h %a %{c}a %A %l %u %t "%r" %m %H %U %q %>s %<s %b %B %I %O %S %D %T %{ms}T %{us}T %{s}T %^FB %v %V %p %{local}p %{remote}p %P %{tid}P %{hextid}P %k %L %{c}L %f %R %X "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i" "%{Content-Type}o" %{sid}C %{HOME}e %{note}n %{Trailer}^ti %{Trailer}^to %{SSL_PROTOCOL}x %{SSL_CIPHER}c %% "%400,501{User-Agent}i" "%!200{Referer}i""#,
    // Epoch time items with fractions.
    "%{sec}t %{usec_frac}t %h %>s",
    "%{msec}t %h \"%r\" %B",
];

/// Which value to write for each directive.
#[derive(Clone, Copy, PartialEq)]
enum Values {
    Typical,
    /// `-` wherever Apache may write it, zeros and odd text elsewhere.
    Sparse,
}

/// The value Apache could write for directive `name` (with its `{arg}`).
fn value(name: &str, arg: &str, values: Values) -> String {
    let sparse = values == Values::Sparse;
    let text = |typical: &str| {
        if sparse {
            "-".to_owned()
        } else {
            typical.to_owned()
        }
    };
    match name {
        "h" | "a" | "A" => {
            if sparse {
                "2001:db8::1".into()
            } else {
                "192.0.2.7".into()
            }
        }
        "l" | "u" => text("alice"),
        "t" => match arg {
            "" => "[03/Dec/2026:10:00:00 +0100]".into(),
            "sec" => "1796292000".into(),
            "msec" => "1796292000123".into(),
            "usec" => "1796292000123456".into(),
            "msec_frac" => "123".into(),
            "usec_frac" => "123456".into(),
            "%d/%b/%Y %T" => "03/Dec/2026 10:00:00".into(),
            "%z" => "+0100".into(),
            other => panic!("no sample for %{{{other}}}t"),
        },
        "r" => {
            if sparse {
                "-".into()
            } else {
                r#"GET /a/b?q=\"x\"&n=1 HTTP/1.1"#.into()
            }
        }
        "m" => "PROPFIND".into(),
        "H" => "HTTP/2.0".into(),
        "U" => "/caf\\xc3\\xa9".into(),
        "q" => {
            if sparse {
                String::new()
            } else {
                "?q=1".into()
            }
        }
        "s" => {
            if sparse {
                "408".into()
            } else {
                "200".into()
            }
        }
        "b" => text("5120"),
        "B" | "I" | "O" | "S" | "k" => {
            if sparse {
                "0".into()
            } else {
                "9223372036854775".into()
            }
        }
        "D" | "T" | "^FB" => {
            if sparse {
                "0".into()
            } else {
                "1500".into()
            }
        }
        "v" | "V" => "www.example.com".into(),
        "p" => "443".into(),
        "P" => match arg {
            "hextid" => "7f3a2b1c".into(),
            _ => "4242".into(),
        },
        "L" => text("YdFUa1V4QWs"),
        "f" => "/var/www/html/index.html".into(),
        "R" => text("static-file"),
        "X" => "+".into(),
        "i" | "o" | "C" | "e" | "n" | "x" | "c" | "^ti" | "^to" => {
            if sparse {
                "-".into()
            } else {
                r#"Mozilla/5.0 \"quoted\" \\ tab\t \xff end"#.into()
            }
        }
        other => panic!("no sample for %{other}"),
    }
}

/// A line in `format` (a LogFormat string, not a nickname) with the given values.
fn line_for(format: &str, values: Values) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Modifiers: status conditions (`400,501`, `!200`) and `<`/`>`.
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '!' | ',' | '<' | '>'))
        {
            chars.next();
        }
        let mut arg = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                arg.push(c);
            }
        }
        let mut name = chars.next().expect("a directive after %").to_string();
        if name == "%" {
            out.push('%');
            continue;
        }
        if name == "^" {
            name.push(chars.next().expect("^ is followed by two letters"));
            name.push(chars.next().expect("^ is followed by two letters"));
        }
        out.push_str(&value(&name, &arg, values));
    }
    out
}

/// The format string of a nickname, as Apache and Debian define them.
fn expand(format: &str) -> &str {
    const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
    match format {
        "common" => r#"%h %l %u %t "%r" %>s %b"#,
        "combined" => COMBINED,
        "combinedio" => r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O"#,
        "vhost_combined" => r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#,
        "debian_common" => r#"%h %l %u %t "%r" %>s %O"#,
        "debian_combined" => r#"%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#,
        other => other,
    }
}

/// The input for one format: matching lines, then lines that do not match. Bytes, as one
/// line is not UTF-8.
fn input_for(format: &str) -> Vec<u8> {
    let spec = expand(format);
    let mut input = Vec::new();
    for values in [Values::Typical, Values::Sparse] {
        input.extend_from_slice(line_for(spec, values).as_bytes());
        input.push(b'\n');
    }
    // A matching line with CRLF, and one longer than max_line_bytes (cut and marked).
    input.extend_from_slice(line_for(spec, Values::Typical).as_bytes());
    input.extend_from_slice(b"\r\n");
    let long = line_for(spec, Values::Typical).replace("/a/b", &format!("/{}", "x".repeat(3000)));
    input.extend_from_slice(long.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(format!("{}\n", "y".repeat(3000)).as_bytes());
    input.extend_from_slice(b"this is not an access log line\n");
    input.extend_from_slice(b"\"\" - - [ ] \"\" \"\"\n");
    input.extend_from_slice(
        b"192.0.2.1 - - [03/Dec/2026:10:00:00 +0100] \"GET /\xff\xfe HTTP/1.1\" 200 5\n",
    );
    input.extend_from_slice(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n");
    input
}

/// `accesslog-pubsub ARGS` with `input` on stdin: its stdout.
fn run(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(binary())
        .args(["--config", "/dev/null", "--host", "web-1"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run accesslog-pubsub");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write the input");
    drop(stdin);
    let out = child.wait_with_output().expect("wait for accesslog-pubsub");
    assert!(
        out.status.success(),
        "accesslog-pubsub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the output is UTF-8")
}

/// A column of the schema: its BigQuery type and whether it may be null.
struct ColumnRule {
    kind: String,
    nullable: bool,
}

/// The schema `accesslog-pubsub schema` prints for `format`, checked for BigQuery's rules
/// on names, types and modes.
fn schema_for(format: &str) -> BTreeMap<String, ColumnRule> {
    let schema: Value =
        serde_json::from_str(&run(&["--format", format, "schema"], b"")).expect("schema is JSON");
    let mut columns = BTreeMap::new();
    let mut lowercase = std::collections::BTreeSet::new();
    for field in schema.as_array().expect("the schema is an array of fields") {
        let name = field["name"]
            .as_str()
            .expect("a field has a name")
            .to_owned();
        assert!(valid_column_name(&name), "{format}: column name {name:?}");
        assert!(
            lowercase.insert(name.to_lowercase()),
            "{format}: column {name} twice (BigQuery names are case-insensitive)"
        );
        let kind = field["type"]
            .as_str()
            .expect("a field has a type")
            .to_owned();
        assert!(
            ["STRING", "INTEGER", "BOOLEAN", "TIMESTAMP"].contains(&kind.as_str()),
            "{format}: {name}: type {kind}"
        );
        let mode = field["mode"].as_str().unwrap_or("NULLABLE");
        assert!(
            ["NULLABLE", "REQUIRED"].contains(&mode),
            "{format}: {name}: mode {mode}"
        );
        columns.insert(
            name,
            ColumnRule {
                kind,
                nullable: mode == "NULLABLE",
            },
        );
    }
    columns
}

/// BigQuery column names: letters, digits and underscores, not starting with a digit, at
/// most 300 characters, none of the reserved prefixes.
fn valid_column_name(name: &str) -> bool {
    const RESERVED: [&str; 6] = [
        "_table_",
        "_file_",
        "_partition",
        "_row_timestamp",
        "__root__",
        "_colon_",
    ];
    let lower = name.to_lowercase();
    !name.is_empty()
        && name.len() <= 300
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !RESERVED.iter().any(|p| lower.starts_with(p))
}

/// A TIMESTAMP string as BigQuery reads it from JSON: `YYYY-MM-DD[T| ]HH:MM:SS[.1-6
/// digits]` and then `Z`, `±HH:MM` or nothing (UTC), within years 0001 to 9999.
fn valid_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(u32::MAX);
    if b.len() < 19
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !matches!(b[10], b'T' | b' ')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    let in_range = number(0..4) >= 1
        && (1..=12).contains(&number(5..7))
        && (1..=31).contains(&number(8..10))
        && number(11..13) <= 23
        && number(14..16) <= 59
        && number(17..19) <= 59;
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=6).contains(&n) {
            return false;
        }
        rest = &fraction[n..];
    }
    let zone = match rest.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    in_range && zone
}

/// Why `value` does not fit `rule` under BigQuery's JSON rules, if it does not.
fn violation(rule: &ColumnRule, value: &Value) -> Option<String> {
    const MAX_EXACT: i64 = 1 << 53;
    match (rule.kind.as_str(), value) {
        (_, Value::Null) if rule.nullable => None,
        (_, Value::Null) => Some("null in a REQUIRED column".into()),
        (_, Value::Array(_) | Value::Object(_)) => Some("nested value in a flat column".into()),
        ("STRING", Value::String(_)) => None,
        ("BOOLEAN", Value::Bool(_)) => None,
        ("INTEGER", Value::Number(n)) => match n.as_i64() {
            Some(i) if (-MAX_EXACT..=MAX_EXACT).contains(&i) => None,
            Some(_) => Some("integer past 2^53 as a JSON number (must be a string)".into()),
            None => Some("not an INT64".into()),
        },
        ("INTEGER", Value::String(s)) if s.parse::<i64>().is_ok() => None,
        ("TIMESTAMP", Value::String(s)) if valid_timestamp(s) => None,
        (kind, _) => Some(format!("not a {kind} value")),
    }
}

#[test]
fn every_record_of_every_format_fits_the_schema_it_prints() {
    let mut checked = BTreeMap::new();
    for format in FORMATS {
        let columns = schema_for(format);
        let input = input_for(format);
        let output = run(
            &["--format", format, "--max-line-bytes", "2048", "parse"],
            &input,
        );
        let records: Vec<Value> = output
            .lines()
            .map(|l| serde_json::from_str(l).expect("parse prints JSON lines"))
            .collect();
        assert_eq!(records.len(), 9, "{format}: one record per non-blank line");
        let parsed = records
            .iter()
            .filter(|r| r.get("parse_error").is_none())
            .count();
        assert!(
            parsed >= 3,
            "{format}: generated lines did not parse: {output}"
        );
        for record in &records {
            let object = record.as_object().expect("a record is a JSON object");
            for (key, value) in object {
                let rule = columns
                    .get(key)
                    .unwrap_or_else(|| panic!("{format}: key {key} is not a column: {record}"));
                if let Some(why) = violation(rule, value) {
                    panic!("{format}: {key} = {value}: {why} ({}): {record}", rule.kind);
                }
            }
            for (name, rule) in &columns {
                assert!(
                    rule.nullable || object.contains_key(name),
                    "{format}: REQUIRED column {name} missing: {record}"
                );
            }
        }
        checked.insert(format, records.len());
    }
    assert_eq!(checked.len(), FORMATS.len());
}

#[test]
fn the_timestamp_rules_accept_what_bigquery_accepts_and_nothing_else() {
    for ok in [
        "2026-12-03T09:00:00Z",
        "2026-12-03T09:00:00.123456Z",
        "2026-12-03 09:00:00",
        "2026-12-03T09:00:00.1+01:00",
    ] {
        assert!(valid_timestamp(ok), "{ok}");
    }
    for bad in [
        "03/Dec/2026:10:00:00 +0100",
        "2026-12-03T09:00:00.1234567Z",
        "2026-13-03T09:00:00Z",
        "2026-12-03T09:00:00+0100",
        "1796292000",
        "",
    ] {
        assert!(!valid_timestamp(bad), "{bad}");
    }
}
