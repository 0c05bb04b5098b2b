//! What the packages ship fits together: every Apache snippet writes the LogFormat that the
//! shipped config.toml's `format` names, and pipes into the installed binary with it.

use std::fs;
use std::path::Path;

const SNIPPETS: [&str; 4] = [
    "apache-conf/debian/conf-available/accesslog-pubsub.conf",
    "apache-conf/debian/accesslog-pubsub-vhost.conf",
    "apache-conf/rhel/conf.d/accesslog-pubsub.conf",
    "apache-conf/rhel/accesslog-pubsub-vhost.conf",
];

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The active (uncommented) lines of an Apache config file.
fn directives(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The format string and nickname of a `LogFormat "..." nickname` line, with Apache's
/// `\"` unescaped.
fn log_format(line: &str) -> (String, &str) {
    let rest = line.strip_prefix("LogFormat \"").expect("a LogFormat line");
    let (quoted, nickname) = rest.rsplit_once("\" ").expect("LogFormat \"...\" nickname");
    (quoted.replace("\\\"", "\""), nickname)
}

#[test]
fn every_snippet_writes_the_format_of_the_shipped_config() {
    let config: toml::Table = toml::from_str(&read("packaging/config.toml")).expect("TOML");
    let format = config["format"].as_str().expect("config.toml sets format");
    for path in SNIPPETS {
        let text = read(path);
        let lines = directives(&text);
        assert_eq!(
            lines.len(),
            2,
            "{path}: want a LogFormat and a log line: {lines:?}"
        );
        let (written, nickname) = log_format(lines[0]);
        assert_eq!(
            written, format,
            "{path}: the LogFormat differs from config.toml's format"
        );
        let log_line = if path.contains("vhost") {
            format!("CustomLog \"|/usr/bin/accesslog-pubsub\" {nickname}")
        } else {
            format!("GlobalLog \"|/usr/bin/accesslog-pubsub\" {nickname}")
        };
        assert_eq!(lines[1], log_line, "{path}");
    }
}
