//! Properties of the encoder for any input: it never panics, always writes exactly one valid
//! JSON object of the documented shape, and reads back what Apache's escaping wrote.

use accesslog_pubsub::logformat::LogFormat;
use accesslog_pubsub::record::{Encoder, LineMeta, Privacy, RecordId, columns};
use proptest::prelude::*;
use serde_json::Value;

const FORMATS: &[&str] = &[
    "common",
    "combined",
    "vhost_combined",
    "combinedio",
    r#"%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b"#,
    r#"[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %a %{c}a %>s%<s "%400,501{User-Agent}i" %D %{ms}T %X %{hextid}P"#,
    r#"%{msec}t %v %u "%{Cookie}i" %q %U %^FB %{X-Trace}^ti %k"#,
    r#"%h "%m %U%q %H" "%U%q" %U%q"#,
];

fn meta(truncated: bool) -> LineMeta {
    LineMeta {
        id: RecordId { stream: 7, seq: 9 },
        received_at_us: 1_793_531_702_000_000,
        truncated,
    }
}

/// Encodes and checks the shape every record must have; returns it.
fn check_shape(encoder: &mut Encoder, format: &LogFormat, line: &[u8], truncated: bool) -> Value {
    let mut out = b"prefix".to_vec();
    let ok = encoder.encode(line, &meta(truncated), &mut out);
    assert!(out.starts_with(b"prefix"), "encode must append");
    let text = std::str::from_utf8(&out[6..]).expect("output is UTF-8");
    assert!(!text.contains('\n'), "one line: {text}");
    let record: Value = serde_json::from_str(text).expect("output is one JSON object");
    let object = record.as_object().expect("an object");
    let names: Vec<String> = columns(format, &Privacy::default())
        .into_iter()
        .map(|c| c.name)
        .collect();
    if ok {
        assert_eq!(object.len(), names.len() - 1, "{text}");
        assert!(object.get("parse_error").is_none());
        assert_eq!(object["truncated"], truncated);
        assert_eq!(object["raw"].is_string(), object["invalid_utf8"] == true);
    } else {
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = vec!["host", "id", "parse_error", "raw", "received_at"];
        if truncated {
            want.push("truncated");
        }
        want.sort_unstable();
        assert_eq!(keys, want, "{text}");
        assert!(!object["parse_error"].as_str().unwrap().is_empty());
        assert_eq!(object["raw"], String::from_utf8_lossy(line).as_ref());
    }
    for name in object.keys() {
        assert!(names.contains(name), "{name} not in columns");
    }
    record
}

/// What `ap_escape_logitem` writes for `value`.
fn apache_escape(value: &[u8]) -> String {
    let mut s = String::new();
    for &b in value {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// A line of the `combined` format built from parts, with the parts.
#[derive(Debug, Clone)]
struct Parts {
    host: String,
    user: Option<String>,
    path: Vec<u8>,
    status: u16,
    bytes: Option<u32>,
    referer: Vec<u8>,
    agent: Vec<u8>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        "(203\\.0\\.113\\.[0-9]{1,3}|2001:db8::[0-9a-f]{1,4}|[a-z]{1,10}\\.example\\.com)",
        proptest::option::of("[a-z][a-z0-9.@]{0,12}"),
        proptest::collection::vec(any::<u8>(), 0..40),
        100u16..600,
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..60),
    )
        .prop_map(|(host, user, path, status, bytes, referer, agent)| Parts {
            host,
            user,
            path,
            status,
            bytes,
            referer,
            agent,
        })
}

impl Parts {
    fn line(&self) -> String {
        let quoted = |v: &[u8]| {
            if v == b"-" {
                "\\x2d".to_owned()
            } else {
                apache_escape(v)
            }
        };
        format!(
            r#"{} - {} [02/Nov/2026:23:59:59 -0330] "GET /{} HTTP/1.1" {} {} "{}" "{}""#,
            self.host,
            self.user.as_deref().unwrap_or("-"),
            apache_escape(&self.path),
            self.status,
            self.bytes.map_or("-".to_owned(), |b| b.to_string()),
            quoted(&self.referer),
            quoted(&self.agent),
        )
    }
}

/// The JSON string a field should become, and whether it was valid UTF-8.
fn expected(bytes: &[u8]) -> (String, bool) {
    (
        String::from_utf8_lossy(bytes).into_owned(),
        std::str::from_utf8(bytes).is_ok(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_give_one_valid_record(line in proptest::collection::vec(any::<u8>(), 0..300), truncated: bool) {
        for f in FORMATS {
            let format = LogFormat::new(f).unwrap();
            let mut encoder = Encoder::new(format.clone(), "h\"ost\u{1}");
            check_shape(&mut encoder, &format, &line, truncated);
        }
    }

    #[test]
    fn format_shaped_noise_gives_one_valid_record(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just(" ".to_owned()), Just("\"".to_owned()), Just("\\".to_owned()), Just("\\\"".to_owned()),
                Just("-".to_owned()), Just("[01/Nov/2026:09:15:02 +0100]".to_owned()), Just("200".to_owned()),
                Just("GET / HTTP/1.1".to_owned()), Just(":".to_owned()), Just("\\x".to_owned()),
                Just("\u{fffd}".to_owned()), Just("1791000000123".to_owned()), "[ -~]{0,8}",
            ],
            0..30,
        ),
        truncated: bool,
    ) {
        let line = pieces.concat();
        for f in FORMATS {
            let format = LogFormat::new(f).unwrap();
            let mut encoder = Encoder::new(format.clone(), "web-1");
            check_shape(&mut encoder, &format, line.as_bytes(), truncated);
        }
    }

    #[test]
    fn escaped_fields_read_back(parts in parts()) {
        let format = LogFormat::new("combined").unwrap();
        let mut encoder = Encoder::new(format.clone(), "web-1");
        let line = parts.line();
        let rec = check_shape(&mut encoder, &format, line.as_bytes(), false);
        prop_assert!(rec.get("parse_error").is_none(), "{} -> {}", line, rec);
        prop_assert_eq!(&rec["remote_host"], parts.host.as_str());
        prop_assert_eq!(rec["remote_user"].as_str(), parts.user.as_deref());
        prop_assert_eq!(&rec["status"], &Value::from(parts.status));
        prop_assert_eq!(&rec["bytes_sent"], &parts.bytes.map_or(Value::Null, Value::from));
        prop_assert_eq!(&rec["timestamp"], "2026-11-03T03:29:59Z");
        let mut all_utf8 = true;
        for (key, bytes) in [("referer", &parts.referer), ("user_agent", &parts.agent)] {
            let (text, utf8) = expected(bytes);
            all_utf8 &= utf8;
            prop_assert_eq!(&rec[key], text.as_str(), "{}", key);
        }
        let mut request = b"GET /".to_vec();
        request.extend_from_slice(&parts.path);
        request.extend_from_slice(b" HTTP/1.1");
        let (text, utf8) = expected(&request);
        all_utf8 &= utf8;
        prop_assert_eq!(&rec["request"], text.as_str());
        prop_assert_eq!(&rec["invalid_utf8"], &Value::Bool(!all_utf8));
    }

    /// `%U%q` split where the query starts, whatever the path and query hold (but a space,
    /// which ends `%U` or `%q` here, and a `?` in the path).
    #[test]
    fn path_and_query_read_back(
        path in proptest::collection::vec(any::<u8>().prop_filter("no ? or space", |b| *b != b'?' && *b != b' '), 0..30),
        query in proptest::option::of(proptest::collection::vec(any::<u8>().prop_filter("no space", |b| *b != b' '), 0..30)),
    ) {
        let format = LogFormat::new(r#""%m %U%q %H" "%U%q""#).unwrap();
        let mut encoder = Encoder::new(format.clone(), "web-1");
        let path = [b"/".as_slice(), &path].concat();
        let q = query.as_ref().map(|q| [b"?".as_slice(), q].concat());
        let logged = format!("{}{}", apache_escape(&path), q.as_deref().map(apache_escape).unwrap_or_default());
        let line = format!(r#""GET {logged} HTTP/1.1" "{logged}""#);
        let rec = check_shape(&mut encoder, &format, line.as_bytes(), false);
        prop_assert!(rec.get("parse_error").is_none(), "{} -> {}", line, rec);
        let want_path = expected(&path).0;
        let want_query = q.as_deref().map(|q| expected(q).0);
        for (p, q) in [("url_path", "query_string"), ("url_path_2", "query_string_2")] {
            prop_assert_eq!(&rec[p], want_path.as_str());
            prop_assert_eq!(rec[q].as_str(), want_query.as_deref());
        }
    }

    #[test]
    fn damaged_lines_give_one_valid_record(
        parts in parts(),
        cut in any::<prop::sample::Index>(),
        len in 0usize..20,
        insert in proptest::collection::vec(any::<u8>(), 0..6),
        truncated: bool,
    ) {
        let mut line = parts.line().into_bytes();
        let at = cut.index(line.len() + 1);
        let end = (at + len).min(line.len());
        line.splice(at..end, insert);
        let format = LogFormat::new("combined").unwrap();
        let mut encoder = Encoder::new(format.clone(), "web-1");
        check_shape(&mut encoder, &format, &line, truncated);
    }
}
