use std::collections::BTreeMap;

use clap::Args;

use super::settings::Size;
use super::table::{self, Default, SETTINGS};
use super::*;

const EXAMPLE: &str = include_str!("../../packaging/config.toml");
const README: &str = include_str!("../../README.md");

fn sources(config_path: &Path, flags: Settings) -> Sources {
    Sources {
        config_path: Some(config_path.to_path_buf()),
        flags,
    }
}

#[test]
fn every_flag_is_a_setting_of_the_table_and_its_help_shows_the_default() {
    let command = Settings::augment_args(clap::Command::new("test"));
    let mut keys = Vec::new();
    for arg in command.get_arguments() {
        let key = arg.get_id().as_str();
        let setting = table::setting(key).unwrap_or_else(|| panic!("{key} is not in the table"));
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert!(help.starts_with(setting.help), "{key}: {help}");
        match setting.default {
            Default::Value(text) | Default::Computed(text) => {
                assert!(
                    help.ends_with(&format!("[default: {text}]")),
                    "{key}: {help}"
                );
            }
            Default::None => assert!(!help.contains("[default:"), "{key}: {help}"),
        }
        keys.push(key);
    }
    let table: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    assert_eq!(keys, table, "the table lists every flag, in the same order");
}

#[test]
fn the_shipped_example_config_names_every_setting_and_sets_the_defaults() {
    let mut example: Settings = toml::from_str(EXAMPLE).expect("packaging/config.toml is valid");
    let defaults = Settings::defaults().expect("the defaults parse");
    // The deliberate differences: `format` is the LogFormat the packaged Apache snippets
    // write (tests/packaging.rs checks that they agree); `user` and `group` are the account
    // the packages create.
    assert_ne!(example.format, defaults.format);
    example.format.clone_from(&defaults.format);
    assert_eq!(example.user.take().as_deref(), Some("accesslog-pubsub"));
    assert_eq!(example.group.take().as_deref(), Some("accesslog-pubsub"));
    assert_eq!(
        example, defaults,
        "packaging/config.toml sets exactly the table's defaults, format, user and group aside"
    );
    for setting in SETTINGS {
        let mentioned = match setting.key {
            "attributes" => EXAMPLE.contains("[attributes]"),
            key => EXAMPLE.contains(&format!("{key} = ")),
        };
        assert!(
            mentioned,
            "packaging/config.toml does not mention {}",
            setting.key
        );
    }
}

/// The README's configuration table: each key of a row's first cell, with the row's default.
fn readme_defaults() -> BTreeMap<String, String> {
    let section = README
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a Configuration section");
    let mut defaults = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let default = cells[1].replace('`', "");
        for key in cells[0].split('`').skip(1).step_by(2) {
            let key = key.trim_start_matches('[').trim_end_matches(']');
            if !key.starts_with("--") {
                defaults.insert(key.to_string(), default.clone());
            }
        }
    }
    defaults
}

#[test]
fn the_readme_table_has_every_setting_with_its_default() {
    let readme = readme_defaults();
    for setting in SETTINGS {
        let said = readme
            .get(setting.key)
            .unwrap_or_else(|| panic!("the README's table has no row for {}", setting.key));
        let want = match setting.default {
            Default::Value(text) | Default::Computed(text) => text,
            Default::None => "none",
        };
        assert_eq!(said, want, "README default of {}", setting.key);
    }
    assert_eq!(readme.len(), SETTINGS.len(), "no other keys: {readme:?}");
}

#[test]
fn the_defaults_alone_are_a_valid_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("empty.toml");
    std::fs::write(&file, "").expect("write");
    let config = load(sources(&file, Settings::default())).expect("defaults are valid");
    assert_eq!(
        config.input.format.source(),
        LogFormat::new("combined").unwrap().source()
    );
    assert_eq!(config.input.max_line_bytes, 64 << 10);
    assert_eq!(config.publish.batch_max_bytes, 9_000_000);
    assert_eq!(
        config.spool.dir,
        PathBuf::from("/var/spool/accesslog-pubsub")
    );
    assert_eq!(
        config.spool.fsync,
        crate::spool::FsyncPolicy::Interval(Duration::from_secs(1))
    );
    assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(30));
    assert_eq!(config.report.interval, Duration::from_secs(60));
    assert!(!config.report.verbose);
    assert!(!config.input.host.is_empty(), "this machine's name");
}

#[test]
fn reload_reads_the_file_again_and_lays_the_same_flags_over_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "topic = \"a\"\nbatch_max_messages = 10\n[attributes]\nenv = \"prod\"\ndc = \"eu\"\n",
    )
    .expect("write");
    let flags = Settings {
        batch_max_messages: Some(500),
        attributes: vec!["env=test".parse().expect("KEY=VALUE")],
        ..Settings::default()
    };
    let config = load(sources(&file, flags)).expect("valid");
    assert_eq!(config.publish.topic.as_deref(), Some("a"));
    assert_eq!(config.publish.batch_max_messages, 500, "the flag wins");
    let attributes = |c: &Config| c.publish.attributes.clone();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(attributes(&config), [pair("dc", "eu"), pair("env", "test")]);

    std::fs::write(
        &file,
        "topic = \"b\"\nbatch_max_messages = 20\nmax_in_flight = 600\n[attributes]\nenv = \"x\"\n",
    )
    .expect("rewrite");
    let reloaded = config.reload().expect("still valid");
    assert_eq!(
        reloaded.publish.topic.as_deref(),
        Some("b"),
        "the file is read again"
    );
    assert_eq!(reloaded.publish.max_in_flight, 600);
    assert_eq!(
        reloaded.publish.batch_max_messages, 500,
        "the flag still wins"
    );
    assert_eq!(attributes(&reloaded), [pair("env", "test")]);
    assert_eq!(
        config.publish.topic.as_deref(),
        Some("a"),
        "the old one is untouched"
    );

    std::fs::write(&file, "batch_max_messages = \"many\"\n").expect("break it");
    let refused = config.reload().expect_err("a broken file is refused");
    assert!(refused.to_string().contains("line 1"), "{refused}");
}

#[test]
fn errors_name_the_file_and_key_or_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "batch_max_messages = 5000\nmax_line_bytes = \"2MiB\"\n",
    )
    .expect("write");
    let error = load(sources(&file, Settings::default())).expect_err("out of range");
    assert_eq!(
        error.to_string(),
        format!(
            "config {}: max_line_bytes: 2097152 is out of range (256 to 1048576 bytes)",
            file.display()
        )
    );
    let flags = Settings {
        max_line_bytes: Some(Size(4096)),
        batch_max_messages: Some(0),
        ..Settings::default()
    };
    let error = load(sources(&file, flags)).expect_err("out of range");
    assert_eq!(
        error.to_string(),
        "--batch-max-messages: 0 is out of range (1 to 1000, Pub/Sub's limit per request)"
    );
    let flags = Settings {
        attributes: vec!["googx=1".parse().expect("KEY=VALUE")],
        ..Settings::default()
    };
    let error = load(Sources {
        config_path: None,
        flags,
    });
    assert!(error.is_err_and(|e| {
        e.to_string()
            .starts_with("--attribute: attribute key \"googx\"")
    }),);
}

#[test]
fn the_metrics_endpoint_listens_on_loopback_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "metrics_listen = \"[::1]:9464\"\n").expect("write");
    let config = load(sources(&file, Settings::default())).expect("loopback is fine");
    assert_eq!(
        config.report.metrics_listen,
        Some("[::1]:9464".parse().expect("an address"))
    );
    std::fs::write(&file, "metrics_listen = \"0.0.0.0:9464\"\n").expect("rewrite");
    let error = load(sources(&file, Settings::default())).expect_err("not loopback");
    assert!(
        error.to_string().starts_with(&format!(
            "config {}: metrics_listen: 0.0.0.0:9464 is not a loopback address",
            file.display()
        )),
        "{error}"
    );
    std::fs::write(&file, "metrics_listen = \"localhost\"\n").expect("rewrite");
    let error = load(sources(&file, Settings::default())).expect_err("no port");
    assert!(error.to_string().contains("line 1"), "{error}");
}

/// A key file readable by its owner only, in `dir`.
fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, key).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[test]
fn the_privacy_table_is_read_and_flags_win_key_by_key() {
    use crate::record::{ClientIp, Query, Raw, RemoteUser};
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(dir.path(), "hash.key", "0123456789abcdef0123456789abcdef\n");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[privacy]\nclient_ip = \"hash\"\nhash_key_file = {:?}\nredact_query_params = \
             [\"token\"]\ndrop_fields = [\"user_agent\"]\n",
            key.display()
        ),
    )
    .expect("write");
    let config = load(sources(&file, Settings::default())).expect("valid");
    let privacy = &config.privacy;
    assert_eq!(privacy.client_ip, ClientIp::Hash);
    assert_eq!(privacy.query, Query::Redact, "listed parameters: redact");
    assert_eq!(privacy.raw, Raw::Drop, "privacy on: raw dropped");
    assert_eq!(privacy.remote_user, RemoteUser::Keep);
    assert_eq!(privacy.client_ip_headers[0], "X-Forwarded-For");
    assert!(privacy.key.is_some());

    let flags = Settings {
        privacy: settings::PrivacySettings {
            client_ip: Some(settings::ClientIpSetting::Truncate),
            raw: Some(settings::RawSetting::Keep),
            ..settings::PrivacySettings::default()
        },
        ..Settings::default()
    };
    let config = load(sources(&file, flags)).expect("valid");
    assert_eq!(
        config.privacy.client_ip,
        ClientIp::Truncate,
        "the flag wins"
    );
    assert_eq!(config.privacy.raw, Raw::Keep);
    assert_eq!(
        config.privacy.drop_fields,
        ["user_agent"],
        "the file's stays"
    );

    let names = |c: &Config| -> Vec<String> {
        crate::record::columns(&c.input.format, &c.privacy)
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    assert!(!names(&config).contains(&"user_agent".to_string()));
    std::fs::write(
        &file,
        "attribute_fields = [\"user_agent\"]\n[privacy]\ndrop_fields = [\"user_agent\"]\n",
    )
    .expect("rewrite");
    let error = load(sources(&file, Settings::default())).expect_err("a dropped attribute field");
    assert!(
        error.to_string().contains("\"user_agent\" is not a field"),
        "{error}"
    );
}

#[test]
fn privacy_settings_that_cannot_work_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    let refused = |text: &str| {
        std::fs::write(&file, text).expect("write");
        load(sources(&file, Settings::default()))
            .expect_err(text)
            .to_string()
            .replace(&format!("config {}: ", file.display()), "")
    };
    assert_eq!(
        refused("[privacy]\nclient_ip = \"hash\"\n"),
        "[privacy] client_ip: hash needs hash_key_file, the key the pseudonyms are made with"
    );
    assert!(
        refused("[privacy]\nremote_user = \"hash\"\n")
            .starts_with("[privacy] remote_user: hash needs")
    );
    assert!(
        refused("[privacy]\nquery = \"redact\"\n").starts_with("[privacy] query: redact needs")
    );
    assert!(
        refused("[privacy]\nquery = \"keep\"\nredact_query_params = [\"t\"]\n")
            .starts_with("[privacy] redact_query_params: query = \"keep\" redacts nothing")
    );
    assert_eq!(
        refused("[privacy]\nipv4_prefix = 33\n"),
        "[privacy] ipv4_prefix: 33 is out of range (0 to 32 bits)"
    );
    assert!(refused("[privacy]\ndrop_fields = [\"path\"]\n").contains("name \"request\""));
    assert!(
        refused("[privacy]\nclient_ip = \"mask\"\n").starts_with("line 2: unknown variant `mask`")
    );
    assert!(refused("[privacy]\nclientip = \"hash\"\n").contains("unknown field `clientip`"));

    let missing = dir.path().join("missing.key");
    let flags = Settings {
        privacy: settings::PrivacySettings {
            hash_key_file: Some(missing.clone()),
            ..settings::PrivacySettings::default()
        },
        ..Settings::default()
    };
    std::fs::write(&file, "").expect("write");
    let error = load(sources(&file, flags))
        .expect_err("no key file")
        .to_string();
    assert!(
        error.starts_with(&format!(
            "--hash-key-file: {}: No such file",
            missing.display()
        )),
        "{error}"
    );
}

#[test]
fn reload_reads_the_key_file_again() {
    use crate::record::{Encoder, LineMeta, RecordId};
    let dir = tempfile::tempdir().expect("temp dir");
    let key = key_file(dir.path(), "hash.key", "the first key, 16 bytes or more");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[privacy]\nclient_ip = \"hash\"\nhash_key_file = {:?}\n",
            key.display()
        ),
    )
    .expect("write");
    let line = b"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1";
    let remote_host = |config: &Config| {
        let mut encoder =
            Encoder::with_privacy(LogFormat::new("common").unwrap(), "h", &config.privacy);
        let meta = LineMeta {
            id: RecordId { stream: 1, seq: 0 },
            received_at_us: 0,
            truncated: false,
        };
        let mut out = Vec::new();
        encoder.encode(line, &meta, &mut out);
        let record: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        record["remote_host"]
            .as_str()
            .expect("a pseudonym")
            .to_string()
    };
    let config = load(sources(&file, Settings::default())).expect("valid");
    let first = remote_host(&config);
    assert_eq!(first, remote_host(&config.reload().expect("same key")));
    key_file(dir.path(), "hash.key", "the second key, rotated at last");
    let rotated = config.reload().expect("new key");
    assert_ne!(first, remote_host(&rotated), "a new key, new pseudonyms");
    std::fs::write(&key, "").expect("empty it");
    let error = config.reload().expect_err("an empty key file");
    assert!(error.to_string().ends_with("is empty"), "{error}");
}
