//! Each privacy setting on whole records, as `parse` prints them and as the publisher reads
//! their fields back for attributes and the ordering key; and a property test that nothing
//! of the client addresses or redacted values in a line gets out.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;
use crate::record::{Encoder, LineMeta, RecordId};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const XFF: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i""#;

fn key() -> HashKey {
    HashKey::new(KEY).unwrap()
}

/// The pseudonym of `value` under [`KEY`], as text.
fn pseudonym(value: &str) -> String {
    String::from_utf8(key().pseudonym(value.as_bytes()).to_vec()).unwrap()
}

fn encoder(format: &str, privacy: Privacy) -> Encoder {
    Encoder::with_privacy(LogFormat::new(format).unwrap(), "web-1", &Arc::new(privacy))
}

fn encode(encoder: &mut Encoder, line: &str) -> Json {
    encode_bytes(encoder, line.as_bytes())
}

fn encode_bytes(encoder: &mut Encoder, line: &[u8]) -> Json {
    let meta = LineMeta {
        id: RecordId { stream: 7, seq: 1 },
        received_at_us: 0,
        truncated: false,
    };
    let mut out = Vec::new();
    encoder.encode(line, &meta, &mut out);
    serde_json::from_slice(&out).expect("a record is JSON")
}

/// A combined line from `client`, requesting `target`, with that Referer.
fn combined(client: &str, user: &str, target: &str, referer: &str) -> String {
    format!(
        r#"{client} - {user} [10/Oct/2000:13:55:36 -0700] "GET {target} HTTP/1.1" 200 2326 "{referer}" "Mozilla/5.0""#
    )
}

fn ip(client_ip: ClientIp, key: Option<HashKey>) -> Privacy {
    Privacy {
        client_ip,
        client_ip_headers: vec!["X-Forwarded-For".into(), "X-Real-IP".into()],
        key,
        ..Privacy::default()
    }
}

/// The `remote_host` each client address becomes.
fn remote_hosts(privacy: Privacy, clients: &[&str]) -> Vec<Json> {
    let mut encoder = encoder("combined", privacy);
    clients
        .iter()
        .map(|c| encode(&mut encoder, &combined(c, "-", "/", "-"))["remote_host"].clone())
        .collect()
}

const CLIENTS: [&str; 6] = [
    "192.0.2.201",
    "2001:db8:aaaa:bbbb::1",
    "::ffff:192.0.2.201",
    "crawler.example.com",
    "-",
    "192.0.2.201",
];

#[test]
fn truncate_zeroes_the_host_part_and_hashes_or_drops_what_is_not_an_address() {
    assert_eq!(
        remote_hosts(ip(ClientIp::Truncate, Some(key())), &CLIENTS),
        [
            json!("192.0.2.0"),
            json!("2001:db8:aaaa::"),
            json!("::ffff:192.0.2.0"),
            json!(pseudonym("crawler.example.com")),
            Json::Null,
            json!("192.0.2.0"),
        ]
    );
    assert_eq!(
        remote_hosts(ip(ClientIp::Truncate, None), &CLIENTS)[3],
        Json::Null,
        "a host name without a key to hash it is dropped, never kept"
    );
    let narrow = Privacy {
        prefixes: Prefixes { v4: 16, v6: 32 },
        ..ip(ClientIp::Truncate, None)
    };
    assert_eq!(
        remote_hosts(narrow, &CLIENTS[..2]),
        [json!("192.0.0.0"), json!("2001:db8::")]
    );
}

#[test]
fn hash_gives_one_pseudonym_per_address_under_one_key() {
    let hashed = remote_hosts(ip(ClientIp::Hash, Some(key())), &CLIENTS);
    assert_eq!(
        hashed,
        [
            json!(pseudonym("192.0.2.201")),
            json!(pseudonym("2001:db8:aaaa:bbbb::1")),
            json!(pseudonym("192.0.2.201")),
            json!(pseudonym("crawler.example.com")),
            Json::Null,
            json!(pseudonym("192.0.2.201")),
        ],
        "an IPv4-mapped address is its IPv4's client; a repeat gives the same"
    );
    assert!(hashed[0].as_str().is_some_and(|p| p.len() == 22));
    let other = HashKey::new(b"another key, also 32 bytes long.").unwrap();
    let rehashed = remote_hosts(ip(ClientIp::Hash, Some(other)), &CLIENTS);
    assert_ne!(hashed[0], rehashed[0], "another key, other pseudonyms");
    assert_eq!(
        remote_hosts(ip(ClientIp::Hash, None), &CLIENTS[..1]),
        [Json::Null],
        "no key, nothing to hash with: dropped"
    );
}

#[test]
fn drop_leaves_every_address_field_null() {
    let format = r#"%h %a %{c}a %{c}h "%{X-Forwarded-For}i" "%{X-Real-IP}i" %A"#;
    let mut encoder = encoder(format, ip(ClientIp::Drop, None));
    let record = encode(
        &mut encoder,
        r#"192.0.2.1 192.0.2.2 10.0.0.1 10.0.0.1 "192.0.2.9, 10.0.0.1" "192.0.2.9" 10.1.1.1"#,
    );
    for field in [
        "remote_host",
        "client_ip",
        "peer_ip",
        "peer_host",
        "req_x_forwarded_for",
        "req_x_real_ip",
    ] {
        assert_eq!(record[field], Json::Null, "{field}");
    }
    assert_eq!(
        record["local_ip"], "10.1.1.1",
        "the server's own address stays"
    );
}

#[test]
fn forwarded_for_lists_have_each_entry_transformed() {
    let line = |xff: &str| {
        format!(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua" "{xff}""#
        )
    };
    let mut truncating = encoder(XFF, ip(ClientIp::Truncate, Some(key())));
    let xff = |encoder: &mut Encoder, value: &str| {
        encode(encoder, &line(value))["req_x_forwarded_for"].clone()
    };
    assert_eq!(
        xff(&mut truncating, "192.0.2.201, 2001:db8:1:2::3,10.0.0.7"),
        "192.0.2.0, 2001:db8:1::, 10.0.0.0"
    );
    assert_eq!(
        xff(&mut truncating, " 192.0.2.201:51234 ,, [2001:db8::9]:443 "),
        "192.0.2.0, 2001:db8::"
    );
    assert_eq!(
        xff(&mut truncating, "unknown, 192.0.2.1, garbage!"),
        json!(format!(
            "{}, 192.0.2.0, {}",
            pseudonym("unknown"),
            pseudonym("garbage!")
        ))
    );
    assert_eq!(xff(&mut truncating, "-"), Json::Null);
    let mut no_key = encoder(XFF, ip(ClientIp::Truncate, None));
    assert_eq!(xff(&mut no_key, "unknown, 192.0.2.1"), "192.0.2.0");
    assert_eq!(xff(&mut no_key, "unknown, _hidden"), Json::Null);
    let mut hashing = encoder(XFF, ip(ClientIp::Hash, Some(key())));
    assert_eq!(
        xff(&mut hashing, "192.0.2.201,  192.0.2.201:8080"),
        json!(format!(
            "{}, {}",
            pseudonym("192.0.2.201"),
            pseudonym("192.0.2.201")
        ))
    );
    let unlisted = r#"%h "%{X-Other-IP}i""#;
    let mut other = encoder(unlisted, ip(ClientIp::Hash, Some(key())));
    assert_eq!(
        encode(&mut other, r#"192.0.2.1 "192.0.2.2""#)["req_x_other_ip"],
        "192.0.2.2",
        "a header not in client_ip_headers is kept"
    );
    let mut any_case = encoder(r#"%h "%{x-real-ip}i""#, ip(ClientIp::Drop, None));
    assert_eq!(
        encode(&mut any_case, r#"192.0.2.1 "192.0.2.2""#)["req_x_real_ip"],
        Json::Null
    );
}

#[test]
fn remote_user_is_hashed_or_dropped() {
    let users = |remote_user, key| {
        let mut encoder = encoder(
            "combined",
            Privacy {
                remote_user,
                key,
                ..Privacy::default()
            },
        );
        ["alice", "-", "b\\\"ob"].map(|u| {
            encode(&mut encoder, &combined("192.0.2.1", u, "/", "-"))["remote_user"].clone()
        })
    };
    assert_eq!(
        users(RemoteUser::Hash, Some(key())),
        [
            json!(pseudonym("alice")),
            Json::Null,
            json!(pseudonym("b\"ob"))
        ],
        "the user name as httpd got it (unescaped) is hashed"
    );
    assert_eq!(
        users(RemoteUser::Drop, None),
        [Json::Null, Json::Null, Json::Null]
    );
    assert_eq!(users(RemoteUser::Keep, None)[0], "alice");
}

fn redacting(query: Query) -> Privacy {
    Privacy {
        redact_query_params: vec!["token".into(), "Session_ID".into()],
        query,
        ..Privacy::default()
    }
}

#[test]
fn redacted_parameters_in_every_url_field() {
    let mut encoder = encoder("combined", redacting(Query::Redact));
    let record = encode(
        &mut encoder,
        &combined(
            "192.0.2.1",
            "-",
            "/login?user=bob&TOKEN=s3cr3t&session_id=abc#top",
            "https://example.com/a?%73ession_id=xyz&x=1",
        ),
    );
    assert_eq!(
        record["request"],
        "GET /login?user=bob&TOKEN=REDACTED&session_id=REDACTED#top HTTP/1.1"
    );
    assert_eq!(
        record["path"],
        "/login?user=bob&TOKEN=REDACTED&session_id=REDACTED#top"
    );
    assert_eq!(record["method"], "GET");
    assert_eq!(record["protocol"], "HTTP/1.1");
    assert_eq!(
        record["referer"],
        "https://example.com/a?%73ession_id=REDACTED&x=1"
    );

    let mut parts = self::encoder(r#"%m %U%q %H "%{Referer}i""#, redacting(Query::Redact));
    let record = encode(
        &mut parts,
        r#"GET /search?token=t1&q=shoes&token=t2 HTTP/1.1 "-""#,
    );
    assert_eq!(record["url_path"], "/search");
    assert_eq!(
        record["query_string"],
        "?token=REDACTED&q=shoes&token=REDACTED"
    );
    let record = encode(&mut parts, r#"GET /plain HTTP/1.1 "-""#);
    assert_eq!(record["url_path"], "/plain");
    assert_eq!(record["query_string"], Json::Null);
}

#[test]
fn odd_queries_are_redacted_or_left_as_they_are() {
    let mut encoder = encoder("combined", redacting(Query::Redact));
    let path = |encoder: &mut Encoder, target: &str| {
        encode(encoder, &combined("192.0.2.1", "-", target, "-"))["path"].clone()
    };
    assert_eq!(path(&mut encoder, "/a?token"), "/a?token");
    assert_eq!(path(&mut encoder, "/a?token=&b=1"), "/a?token=&b=1");
    assert_eq!(path(&mut encoder, "/a?token=x=y"), "/a?token=REDACTED");
    assert_eq!(
        path(&mut encoder, "/a?token=%22quoted%22"),
        "/a?token=REDACTED"
    );
    assert_eq!(
        path(&mut encoder, "/a?t=\\\"x\\\"&token=\\\"y\\\""),
        "/a?t=\"x\"&token=REDACTED",
        "escaped quotes in values stay whole"
    );
    let record = encode(
        &mut encoder,
        r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01token=x" 400 0 "-" "-""#,
    );
    assert_eq!(
        record["request"], "\u{16}\u{3}\u{1}token=x",
        "no query: untouched"
    );
    let record = encode(
        &mut encoder,
        r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "garbage ?token=x" 400 0 "-" "-""#,
    );
    assert_eq!(
        record["request"], "garbage ?token=REDACTED",
        "not a request line"
    );
}

#[test]
fn query_drop_cuts_query_and_fragment() {
    let mut encoder = encoder("combined", redacting(Query::Drop));
    let record = encode(
        &mut encoder,
        &combined(
            "192.0.2.1",
            "-",
            "/a/b?x=1&token=2#frag",
            "https://example.com/?q=secret",
        ),
    );
    assert_eq!(record["request"], "GET /a/b HTTP/1.1");
    assert_eq!(record["path"], "/a/b");
    assert_eq!(record["referer"], "https://example.com/");
    let mut parts = self::encoder("%U%q", redacting(Query::Drop));
    let record = encode(&mut parts, "/search?q=secret");
    assert_eq!(record["url_path"], "/search");
    assert_eq!(record["query_string"], Json::Null);
}

#[test]
fn dropped_fields_are_not_in_the_record() {
    let privacy = Privacy {
        drop_fields: vec!["user_agent".into(), "request".into()],
        ..Privacy::default()
    };
    let mut encoder = encoder("combined", privacy);
    let record = encode(&mut encoder, &combined("192.0.2.1", "-", "/", "-"));
    let keys: Vec<&str> = record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for gone in ["user_agent", "request", "method", "path", "protocol"] {
        assert!(!keys.contains(&gone), "{gone}: {keys:?}");
    }
    assert_eq!(record["status"], 200);
    assert_eq!(record["remote_host"], "192.0.2.1");
    assert_eq!(encoder.column_index("user_agent"), None);
}

#[test]
fn raw_drop_keeps_parse_error_and_a_pseudonym_of_the_line() {
    let bad = "192.0.2.1 this is not combined";
    let privacy = |key| Privacy {
        raw: Raw::Drop,
        key,
        ..ip(ClientIp::Hash, None)
    };
    let mut with_key = encoder("combined", privacy(Some(key())));
    let record = encode(&mut with_key, bad);
    assert_eq!(record["raw_hash"], json!(pseudonym(bad)));
    assert!(record["parse_error"].as_str().is_some());
    assert!(record.get("raw").is_none(), "{record}");
    assert!(!record.to_string().contains("192.0.2.1"));
    let raw_hash = with_key.column_index("raw_hash").expect("a column");
    assert_eq!(with_key.value(raw_hash), Some(pseudonym(bad).as_str()));

    let invalid =
        b"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /\xff HTTP/1.1\" 200 1 \"-\" \"-\"";
    let record = encode_bytes(&mut with_key, invalid);
    assert_eq!(record["invalid_utf8"], true);
    assert_eq!(
        record["raw_hash"],
        json!(String::from_utf8(key().pseudonym(invalid).to_vec()).unwrap())
    );
    assert_eq!(record["remote_host"], json!(pseudonym("192.0.2.1")));
    let record = encode(&mut with_key, &combined("192.0.2.1", "-", "/", "-"));
    assert_eq!(record["raw_hash"], Json::Null);

    let mut without_key = encoder("combined", privacy(None));
    for line in [bad.as_bytes(), invalid] {
        let record = encode_bytes(&mut without_key, line);
        assert!(record.get("raw").is_none() && record.get("raw_hash").is_none());
        assert!(!record.to_string().contains("192.0.2.1"), "{record}");
    }
    assert_eq!(without_key.column_index("raw"), None);
}

#[test]
fn attributes_and_the_ordering_key_read_the_transformed_values() {
    let mut encoder = encoder(
        XFF,
        Privacy {
            redact_query_params: vec!["token".into()],
            query: Query::Redact,
            ..ip(ClientIp::Truncate, Some(key()))
        },
    );
    encode(
        &mut encoder,
        r#"192.0.2.201 - - [10/Oct/2000:13:55:36 -0700] "GET /?token=abc HTTP/1.1" 200 1 "-" "ua" "198.51.100.7""#,
    );
    let value = |name| encoder.value(encoder.column_index(name).unwrap());
    assert_eq!(value("remote_host"), Some("192.0.2.0"));
    assert_eq!(value("req_x_forwarded_for"), Some("198.51.100.0"));
    assert_eq!(value("path"), Some("/?token=REDACTED"));
}

#[test]
fn off_changes_nothing() {
    let line = combined("192.0.2.1", "alice", "/a?token=x", "-");
    let mut plain = Encoder::new(LogFormat::new("combined").unwrap(), "web-1");
    let mut off = encoder("combined", Privacy::default());
    assert!(Privacy::default().is_off());
    assert_eq!(encode(&mut plain, &line), encode(&mut off, &line));
}

proptest! {
    /// With `client_ip = "hash"`, two redacted parameters and `raw = "drop"`, no client
    /// address and no value of a redacted parameter is anywhere in what is published: the
    /// record, any column's value (attributes), and so the ordering key.
    #[test]
    fn no_address_or_redacted_value_gets_out(
        v4 in any::<[u8; 4]>(),
        v6 in any::<[u16; 8]>(),
        use_v6 in any::<bool>(),
        forwarded in prop::collection::vec(any::<[u8; 4]>(), 0..4),
        secret in "[A-Za-z0-9._~-]{6,24}",
        session in "[A-Za-z0-9%]{6,24}",
        other in "[a-z]{1,8}",
        name_case in prop::sample::select(vec!["token", "TOKEN", "Token", "%74oken", "t%6Fken"]),
        fragment in any::<bool>(),
        broken in any::<bool>(),
    ) {
        let client = if use_v6 {
            std::net::Ipv6Addr::from(v6).to_string()
        } else {
            std::net::Ipv4Addr::from(v4).to_string()
        };
        let chain: Vec<String> = forwarded.iter().map(|a| std::net::Ipv4Addr::from(*a).to_string()).collect();
        let target = format!(
            "/p?{other}={other}&{name_case}={secret}&sid={session}{}",
            if fragment { "#sid=x" } else { "" }
        );
        let referer = format!("https://example.com/r?sid={session}&{other}=1");
        let mut line = format!(
            r#"{client} - - [10/Oct/2000:13:55:36 -0700] "GET {target} HTTP/1.1" 200 1 "{referer}" "ua" "{}""#,
            chain.join(", ")
        );
        if broken {
            line.push_str(" trailing");
        }
        let privacy = Privacy {
            redact_query_params: vec!["token".into(), "sid".into()],
            query: Query::Redact,
            raw: Raw::Drop,
            ..ip(ClientIp::Hash, Some(key()))
        };
        let mut encoder = encoder(XFF, privacy);
        let meta = LineMeta { id: RecordId { stream: 7, seq: 1 }, received_at_us: 0, truncated: false };
        let mut out = Vec::new();
        encoder.encode(line.as_bytes(), &meta, &mut out);
        let record = String::from_utf8(out).unwrap();
        let mut published = vec![record];
        for name in ["remote_host", "request", "path", "referer", "req_x_forwarded_for", "raw_hash", "parse_error"] {
            if let Some(v) = encoder.column_index(name).and_then(|i| encoder.value(i)) {
                published.push(v.to_string());
            }
        }
        let mut secrets = vec![client.clone(), secret.clone(), session.clone()];
        secrets.extend(chain);
        for text in &published {
            for s in &secrets {
                prop_assert!(!text.contains(s.as_str()), "{s:?} in {text}");
            }
        }
    }
}

/// `url` with the values of `names` redacted, by [`query::redact`].
fn redacted(url: &str, names: &query::Names) -> String {
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    if !query::redact(url.as_bytes(), names, &mut out, &mut scratch) {
        return url.to_owned();
    }
    String::from_utf8(out).unwrap()
}

/// Pieces of request targets and Referers: the bytes of a query, escaped quotes, spaces.
fn url_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "/", "a", "T", "?", "#", "&", "=", "%", "+", " ", "tk", "x", "?tk=", "&a+=", r#"\""#,
        ]),
        0..20,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    /// Redaction changes a record only where the rules say: with `query = "redact"`, a
    /// line's record (and the values the publisher reads from it) is the record without
    /// privacy of the line whose request target (or whole request, when it is not a request
    /// line) and Referer were redacted beforehand.
    #[test]
    fn a_redacted_record_is_that_of_the_line_redacted_beforehand(
        method in prop::sample::select(vec!["GET", "-", "<x>"]),
        target in url_text(),
        protocol in prop::sample::select(vec![" HTTP/1.1", " HTTP/2", ""]),
        referer in url_text(),
    ) {
        let params = vec!["tk".to_string(), "a+".to_string()];
        let names = query::Names::new(&params);
        let request = format!("{method} {target}{protocol}");
        let request_redacted = match split_request(request.as_bytes()) {
            Some(parts) => {
                let (s, e) = parts.target;
                format!("{}{}{}", &request[..s], redacted(&request[s..e], &names), &request[e..])
            }
            None => redacted(&request, &names),
        };
        let line = |request: &str, referer: &str| {
            format!(r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "{request}" 200 1 "{referer}" "ua""#)
        };
        let privacy = Privacy {
            redact_query_params: params.clone(),
            query: Query::Redact,
            ..Privacy::default()
        };
        let mut private = encoder("combined", privacy);
        let mut plain = encoder("combined", Privacy::default());
        let got = encode(&mut private, &line(&request, &referer));
        let want = encode(&mut plain, &line(&request_redacted, &redacted(&referer, &names)));
        prop_assert_eq!(got, want);
        for name in ["request", "method", "path", "protocol", "referer"] {
            let value = |encoder: &Encoder| {
                encoder.column_index(name).and_then(|i| encoder.value(i)).map(str::to_owned)
            };
            prop_assert_eq!(value(&private), value(&plain), "{}", name);
        }
    }
}
