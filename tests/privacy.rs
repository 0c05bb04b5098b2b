//! The `[privacy]` settings end to end: what arrives in a real emulator (record, attributes
//! and ordering key) holds no client address, user name, redacted value or raw line of any
//! line piped in, and is exactly what `parse` shows; pseudonyms are the same in every
//! process with one key and change with another; a key file that is refused keeps every
//! line unsent until it is fixed, and SIGHUP reloads the key.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::logger::{
    PATIENCE, finish, has_a_segment, run_with_input, signal, spooled_records, wait_until,
    without_run_keys, write_lines,
};
use common::{Emulator, Pulled, binary, skip_or_fail};

const FORMAT: &str =
    r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i""#;

/// A key file of `key` with `mode` in `dir`.
fn key_file(dir: &Path, name: &str, key: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("{key}\n")).expect("write key file");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod key file");
    path
}

/// The client of line `i`: IPv4 (the same one on many lines), IPv6, IPv4-mapped IPv6, a
/// host name (HostnameLookups On).
fn client(i: usize) -> String {
    match i % 4 {
        0 => format!("192.0.2.{}", i % 50),
        1 => format!("2001:db8:{:x}::{:x}", i % 7, i),
        2 => format!("::ffff:198.51.100.{}", i % 9),
        _ => format!("client-{i}.dsl.example.net"),
    }
}

/// Line `i` of the test log, and what of it must never leave the host.
fn line(i: usize) -> (String, Vec<String>) {
    let client = client(i);
    let user = format!("user{i}x");
    let forwarded = format!("203.0.113.{}, 2001:db8:ff::{i:x} , unknown", i % 200);
    let line = format!(
        "{client} - {user} [10/Oct/2026:13:55:36 +0200] \"GET /p/{i}?page=2&Token=tok{i}x#top \
         HTTP/1.1\" 200 {i} \"https://shop.example/cart?x=1&token=ref{i}x\" \"agent/1.0\" \
         \"{forwarded}\""
    );
    let secrets = vec![
        client,
        user,
        format!("203.0.113.{}", i % 200),
        format!("2001:db8:ff::{i:x}"),
        format!("tok{i}x"),
        format!("ref{i}x"),
    ];
    (line, secrets)
}

/// A line that does not match the format, holding an address and a token.
fn garbage(i: usize) -> (String, Vec<String>) {
    let address = format!("198.18.0.{i}");
    (
        format!("{address} this is not a log line token=junk{i}x"),
        vec![address, format!("junk{i}x")],
    )
}

/// The test log: `n` lines and every tenth one garbage; with the secrets of all of them.
fn test_log(n: usize) -> (Vec<String>, Vec<String>) {
    let (mut lines, mut secrets) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (l, s) = if i % 10 == 9 { garbage(i) } else { line(i) };
        lines.push(l);
        secrets.extend(s);
    }
    (lines, secrets)
}

/// A configuration file for `topic` with the `[privacy]` table `privacy`.
fn config(dir: &Path, topic: &str, privacy: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "project = \"test\"\ntopic = \"{topic}\"\nformat = '{FORMAT}'\nspool_dir = \"{}\"\n\
         attribute_fields = [\"remote_host\"]\nordering_key_field = \"remote_host\"\n\
         [privacy]\n{privacy}",
        dir.join("spool").display()
    );
    fs::write(&path, text).expect("write config");
    path
}

fn hashing(key: &Path) -> String {
    format!(
        "client_ip = \"hash\"\nhash_key_file = \"{}\"\nremote_user = \"drop\"\n\
         redact_query_params = [\"token\"]\n",
        key.display()
    )
}

/// `accesslog-pubsub parse` of `lines` with `args`.
fn parse(args: &[&str], lines: &[String]) -> Output {
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    run_with_input(&[&["parse"], args].concat(), &input)
}

/// The `remote_host` of each record `parse` writes for `lines` with `args`.
fn remote_hosts(args: &[&str], lines: &[String]) -> Vec<Value> {
    (parsed(args, lines).into_iter())
        .map(|r| r["remote_host"].clone())
        .collect()
}

/// The records `parse` writes for `lines`.
fn parsed(args: &[&str], lines: &[String]) -> Vec<Value> {
    let out = parse(args, lines);
    assert!(
        out.status.success(),
        "parse failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).lines())
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// Everything a subscriber can read of a message: its data, attributes and ordering key.
fn readable(pulled: &Pulled) -> String {
    format!(
        "{} {:?} {:?}",
        String::from_utf8_lossy(&pulled.data),
        pulled.attributes,
        pulled.ordering_key
    )
}

/// The line number a record's path or `raw_hash`-less garbage says (`/p/{i}` or the status).
fn number(record: &Value) -> Option<u64> {
    record["bytes_sent"].as_u64()
}

fn is_pseudonym(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 22 && (s.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[test]
fn what_arrives_holds_no_address_user_token_or_raw_line_and_is_what_parse_shows() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("private");
    emulator.create_subscription("private-sub", "private");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(
        dir.path(),
        "hash.key",
        "a-site-key-of-32-bytes-or-so-123",
        0o600,
    );
    let config = config(dir.path(), "private", &hashing(&key));
    let (lines, secrets) = test_log(400);

    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accesslog-pubsub");
    write_lines(child.stdin.as_mut().expect("stdin"), &lines);
    let out = finish(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = emulator.pull_all("private-sub", lines.len(), PATIENCE);
    assert_eq!(pulled.len(), lines.len(), "every line arrived");

    for message in &pulled {
        let text = readable(message);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} got out: {text}");
        }
        let record = message.json();
        if record.get("parse_error").is_some() {
            assert!(record.get("raw").is_none(), "no raw line: {record}");
            assert!(is_pseudonym(&record["raw_hash"]), "{record}");
            continue;
        }
        let host = &record["remote_host"];
        assert!(is_pseudonym(host), "{record}");
        assert_eq!(
            message.attributes.get("remote_host").map(String::as_str),
            host.as_str()
        );
        assert_eq!(message.ordering_key.as_deref(), host.as_str());
        assert_eq!(record["remote_user"], Value::Null);
        let i = number(&record).expect("bytes_sent is the line number");
        assert_eq!(
            record["request"],
            format!("GET /p/{i}?page=2&Token=REDACTED#top HTTP/1.1")
        );
        assert_eq!(record["path"], format!("/p/{i}?page=2&Token=REDACTED#top"));
        assert_eq!(
            record["referer"],
            "https://shop.example/cart?x=1&token=REDACTED"
        );
        let forwarded: Vec<&str> = (record["req_x_forwarded_for"].as_str())
            .expect("forwarded-for kept as a list")
            .split(", ")
            .collect();
        assert_eq!(forwarded.len(), 3, "{record}");
        assert!(forwarded.iter().all(|e| is_pseudonym(&Value::from(*e))));
    }

    // One client, one pseudonym; two clients, two.
    let mut by_client: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in &pulled {
        let record = message.json();
        if let Some(i) = number(&record) {
            let host = record["remote_host"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            by_client.entry(client(i as usize)).or_default().push(host);
        }
    }
    let mut pseudonyms = BTreeMap::new();
    for (client, hosts) in &by_client {
        assert!(
            hosts.windows(2).all(|w| w[0] == w[1]),
            "{client}: {hosts:?}"
        );
        assert_eq!(
            pseudonyms.insert(hosts[0].clone(), client),
            None,
            "{client}"
        );
    }

    // `parse` with the same configuration shows exactly what was published.
    let shown = parsed(&["--config", config.to_str().expect("UTF-8")], &lines);
    let mut published: Vec<Value> = pulled.iter().map(|p| without_run_keys(p.json())).collect();
    let mut shown: Vec<Value> = shown.into_iter().map(without_run_keys).collect();
    let order = |v: &Value| v.to_string();
    published.sort_by_key(order);
    shown.sort_by_key(order);
    assert_eq!(published, shown);
}

#[test]
fn pseudonyms_are_the_same_in_every_process_with_one_key_and_change_with_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = key_file(dir.path(), "a.key", "0123456789abcdef-key-a", 0o600);
    let b = key_file(dir.path(), "b.key", "0123456789abcdef-key-b", 0o400);
    let lines: Vec<String> = ["192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "-"]
        .iter()
        .map(|c| format!("{c} - - [10/Oct/2026:13:55:36 +0200] \"GET / HTTP/1.1\" 200 1"))
        .collect();
    let hosts = |key: &Path| -> Vec<Value> {
        let key = key.to_str().expect("UTF-8");
        let args = [
            "--format",
            "common",
            "--client-ip",
            "hash",
            "--hash-key-file",
            key,
        ];
        remote_hosts(&args, &lines)
    };
    let first = hosts(&a);
    assert_eq!(first, hosts(&a), "same key, same pseudonyms");
    assert!(first[..3].iter().all(is_pseudonym), "{first:?}");
    assert_eq!(
        first[0], first[1],
        "an IPv4-mapped address is its IPv4 client"
    );
    assert_ne!(first[0], first[2]);
    assert_eq!(first[3], Value::Null, "`-` stays null");
    let other = hosts(&b);
    for (x, y) in first[..3].iter().zip(&other) {
        assert_ne!(x, y, "another key, other pseudonyms");
    }
}

#[test]
fn truncation_zeroes_the_host_part_and_never_keeps_a_host_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(dir.path(), "k", "0123456789abcdef-key", 0o600);
    let lines: Vec<String> = [
        "192.0.2.77",
        "2001:db8:1234:5678::1",
        "::ffff:198.51.100.200",
        "host.example.net",
    ]
    .iter()
    .map(|c| format!("{c} - - [10/Oct/2026:13:55:36 +0200] \"GET / HTTP/1.1\" 200 1"))
    .collect();
    let hosts = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["--format", "common", "--client-ip", "truncate"];
        args.extend(extra);
        remote_hosts(&args, &lines)
    };
    let without_key = hosts(&[]);
    assert_eq!(
        without_key,
        [
            Value::from("192.0.2.0"),
            Value::from("2001:db8:1234::"),
            Value::from("::ffff:198.51.100.0"),
            Value::Null,
        ]
    );
    let key = key.to_str().expect("UTF-8");
    let with_key = hosts(&[
        "--hash-key-file",
        key,
        "--ipv4-prefix",
        "16",
        "--ipv6-prefix",
        "32",
    ]);
    assert_eq!(with_key[0], "192.0.0.0");
    assert_eq!(with_key[1], "2001:db8::");
    assert!(
        is_pseudonym(&with_key[3]),
        "a host name is hashed: {with_key:?}"
    );
}

#[test]
fn key_files_that_are_missing_empty_short_or_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (dir.path().join("missing"), "No such file"),
        (key_file(dir.path(), "empty", "", 0o600), "is empty"),
        (
            key_file(dir.path(), "short", "0123456789", 0o600),
            "holds 10 bytes",
        ),
        (
            key_file(dir.path(), "open", "0123456789abcdef-key", 0o644),
            "open to group or others (mode 0644)",
        ),
    ];
    let line = vec!["192.0.2.1 - - [10/Oct/2026:13:55:36 +0200] \"GET / HTTP/1.1\" 200 1".into()];
    for (path, why) in cases {
        let key = path.to_str().expect("UTF-8");
        let out = parse(
            &[
                "--format",
                "common",
                "--client-ip",
                "hash",
                "--hash-key-file",
                key,
            ],
            &line,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--hash-key-file") && stderr.contains(why),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing parsed");
    }
    let out = parse(&["--format", "common", "--client-ip", "hash"], &line);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs hash_key_file"), "{stderr}");
}

#[test]
fn a_refused_key_keeps_every_line_unsent_and_sighup_reloads_the_key() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("private-hup");
    emulator.create_subscription("private-hup-sub", "private-hup");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(dir.path(), "hash.key", "the-first-key-0123456789", 0o644);
    let config = config(dir.path(), "private-hup", &hashing(&key));
    let spool = dir.path().join("spool");
    let stderr_path = dir.path().join("stderr");
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
        .stdin(Stdio::piped())
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start accesslog-pubsub");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let (first, secrets) = test_log(100);
    write_lines(&mut stdin, &first);
    wait_until("the lines kept in the spool", || {
        has_a_segment(&spool) && spooled_records(&spool) == 100
    });
    assert!(stderr().contains("open to group or others"), "{}", stderr());
    assert!(
        emulator
            .pull_all("private-hup-sub", 1, Duration::from_secs(2))
            .is_empty(),
        "nothing is sent while the key is refused"
    );

    // Fixed: everything kept is sent, hashed with the key.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    signal(pid, libc::SIGHUP);
    let sent = emulator.pull_all("private-hup-sub", 100, PATIENCE);
    assert_eq!(sent.len(), 100, "{}", stderr());
    let key_path = key.to_str().expect("UTF-8").to_owned();
    let host_of = |lines: &[String], key: &str| -> Value {
        let args = [
            "--format",
            FORMAT,
            "--client-ip",
            "hash",
            "--hash-key-file",
            key,
        ];
        remote_hosts(&args, lines)[0].clone()
    };
    // Line 1000 has the client of line 0.
    let probe = vec![line(1000).0];
    let under_a = host_of(&probe, &key_path);
    let arrived_for = |pulled: &[Pulled], i: u64| -> Value {
        (pulled.iter().map(Pulled::json))
            .find(|r| number(r) == Some(i))
            .map(|r| r["remote_host"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(arrived_for(&sent, 0), under_a);
    assert_eq!(client(0), client(1000));
    for message in &sent {
        let text = readable(message);
        assert!(!secrets.iter().any(|s| text.contains(s.as_str())), "{text}");
    }

    // A new key, reloaded: the lines after it get new pseudonyms.
    fs::write(&key, "the-second-key-0123456789\n").expect("new key");
    let before = stderr().matches("reload: configuration").count();
    signal(pid, libc::SIGHUP);
    wait_until("the reload", || {
        stderr().matches("reload: configuration").count() > before
    });
    write_lines(&mut stdin, &probe);
    stdin.flush().expect("flush");
    let after = emulator.pull_all("private-hup-sub", 1, PATIENCE);
    assert_eq!(after.len(), 1, "{}", stderr());
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{}", stderr());
    let under_b = host_of(&probe, &key_path);
    assert_ne!(under_a, under_b);
    assert_eq!(arrived_for(&after, 1000), under_b, "{}", stderr());
}

#[test]
fn schema_leaves_out_what_is_dropped_and_check_says_what_privacy_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(dir.path(), "hash.key", "0123456789abcdef-key", 0o600);
    let key = key.to_str().expect("UTF-8");
    let columns = |args: &[&str]| -> Vec<String> {
        let out = Command::new(binary())
            .args([
                "schema",
                "--format",
                "combined",
                "--drop-field",
                "user_agent",
            ])
            .args(args)
            .output()
            .expect("run schema");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let schema: Value = serde_json::from_slice(&out.stdout).expect("a JSON schema");
        (schema.as_array().expect("a list of columns").iter())
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let hashed = columns(&["--client-ip", "hash", "--hash-key-file", key]);
    assert!(hashed.contains(&"referer".to_owned()), "{hashed:?}");
    assert!(hashed.contains(&"raw_hash".to_owned()), "{hashed:?}");
    assert!(
        !hashed.iter().any(|c| c == "user_agent" || c == "raw"),
        "{hashed:?}"
    );
    let dropped = columns(&["--client-ip", "drop"]);
    assert!(
        !dropped.iter().any(|c| c == "raw" || c == "raw_hash"),
        "{dropped:?}"
    );

    // SAFETY: geteuid() has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail("needs root (check looks at the drop of privileges)");
        return;
    }
    let out = Command::new(binary())
        .args([
            "check",
            "--project",
            "test",
            "--topic",
            "t",
            "--user",
            "nobody",
        ])
        .args(["--client-ip", "hash", "--hash-key-file", key])
        .args(["--redact-query-param", "Token", "--endpoint"])
        .arg(common::logger::closed_endpoint())
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .env_remove("PUBSUB_EMULATOR_HOST")
        .output()
        .expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = (stdout.lines())
        .find(|l| l.contains("privacy:"))
        .unwrap_or_default();
    assert!(
        line.starts_with("WARN")
            && line.contains("client_ip hash, remote_user keep, query redact (Token)")
            && line.contains(&format!("chown nobody {key}")),
        "{stdout}"
    );
}
