//! The one table of settings: each setting's key, its default and what it does.
//!
//! Every default is written here and nowhere else. The flags' help (`--help`, the man page)
//! is made from this table, the defaults are parsed from it with the flags' own parsers
//! ([`super::Settings::defaults`]), and tests check that the example file
//! `packaging/config.toml` and the README's table say the same. The keys whose help starts
//! with `[privacy]` are in the file's `[privacy]` table.

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// This value, written as on the command line.
    Value(&'static str),
    /// Worked out at start; the text says how.
    Computed(&'static str),
    /// None: the setting is off (or, for `project` and `topic`, must be given to publish).
    None,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setting {
    /// The key in the file (`snake_case`); the flag is the same in `--kebab-case`.
    pub key: &'static str,
    pub default: Default,
    /// The flag's help, without the default.
    pub help: &'static str,
}

/// Every setting, in the order `--help` lists them.
pub(crate) const SETTINGS: &[Setting] = &[
    Setting {
        key: "format",
        default: Default::Value("combined"),
        help: "Apache LogFormat nickname (common, combined, combinedio, vhost_combined, \
               debian_common, debian_combined) or a LogFormat string as written in httpd.conf",
    },
    Setting {
        key: "host",
        default: Default::Computed("this machine's hostname"),
        help: "The `host` field of every record",
    },
    Setting {
        key: "max_line_bytes",
        default: Default::Value("64KiB"),
        help: "Longer lines are cut to this size and marked `truncated` (e.g. 65536, 64KiB, 1MiB)",
    },
    Setting {
        key: "read_coalesce",
        default: Default::Value("20ms"),
        help: "After a read from stdin that emptied the pipe, wait up to this long before \
               reading again, so one read takes many lines; a quarter-full pipe ends the wait \
               (0 to 50ms; 0 reads at once)",
    },
    Setting {
        key: "project",
        default: Default::None,
        help: "Google Cloud project of the topic",
    },
    Setting {
        key: "topic",
        default: Default::None,
        help: "Pub/Sub topic to publish to (its short name)",
    },
    Setting {
        key: "spool_dir",
        default: Default::Value("/var/spool/accesslog-pubsub"),
        help: "Directory of the disk spool",
    },
    Setting {
        key: "spool_max_bytes",
        default: Default::Value("1GiB"),
        help: "Spool size limit; past it `spool_full_policy` applies",
    },
    Setting {
        key: "memory_max_bytes",
        default: Default::Value("64MiB"),
        help: "When the spool cannot be written (disk full or failing), lines are held in memory \
               up to this size and sent from there; past it they are dropped (and counted)",
    },
    Setting {
        key: "spool_full_policy",
        default: Default::Value("drop_oldest"),
        help: "When the spool is full: drop_oldest (make room by deleting the oldest records) or \
               drop_newest (refuse new lines until it is back under 90%)",
    },
    Setting {
        key: "spool_fsync",
        default: Default::Value("interval"),
        help: "When spooled lines are forced to disk: interval (every spool_fsync_interval), \
               always (after every read from stdin) or never (left to the kernel)",
    },
    Setting {
        key: "spool_fsync_interval",
        default: Default::Value("1s"),
        help: "The fsync interval of spool_fsync = \"interval\"",
    },
    Setting {
        key: "endpoint",
        default: Default::Computed("http://$PUBSUB_EMULATOR_HOST when that is set, else Google's"),
        help: "Pub/Sub endpoint; an http:// endpoint is an emulator and gets no credentials",
    },
    Setting {
        key: "credentials_file",
        default: Default::Computed(
            "Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, metadata server",
        ),
        help: "JSON credentials file (service account key, ...)",
    },
    Setting {
        key: "batch_max_messages",
        default: Default::Value("1000"),
        help: "Messages per publish request, 1 to 1000",
    },
    Setting {
        key: "batch_max_bytes",
        default: Default::Value("9MB"),
        help: "Bytes per publish request, up to 9.5MB",
    },
    Setting {
        key: "batch_max_delay",
        default: Default::Value("250ms"),
        help: "Longest a line waits for its batch to fill; then the batch is sent partly filled",
    },
    Setting {
        key: "max_in_flight",
        default: Default::Value("4000"),
        help: "Messages published but not yet acknowledged, at most",
    },
    Setting {
        key: "attributes",
        default: Default::None,
        help: "A static message attribute (repeatable); in the file: `[attributes]` env = \"prod\"",
    },
    Setting {
        key: "attribute_fields",
        default: Default::None,
        help: "A record field copied into a message attribute of the same name (repeatable)",
    },
    Setting {
        key: "ordering_key_field",
        default: Default::None,
        help: "A record field whose value becomes the message's ordering key",
    },
    Setting {
        key: "user",
        default: Default::None,
        help: "Started as root: the user to run as once what needs root is done (the spool \
               directory, the credentials); its own group unless `group` is set",
    },
    Setting {
        key: "group",
        default: Default::None,
        help: "Started as root: the group to run as (needs `user`)",
    },
    Setting {
        key: "shutdown_timeout",
        default: Default::Value("5s"),
        help: "After the input ends, how long to keep publishing what is pending",
    },
    Setting {
        key: "drain_timeout",
        default: Default::Value("30s"),
        help: "After SIGTERM, how long to keep reading until end of input",
    },
    Setting {
        key: "report_interval",
        default: Default::Value("60s"),
        help: "How often to check for trouble and report it on stderr (one line, only when \
               something is wrong, unless --verbose)",
    },
    Setting {
        key: "verbose",
        default: Default::Value("false"),
        help: "Report every interval even when nothing is wrong",
    },
    Setting {
        key: "status_file",
        default: Default::None,
        help: "A JSON file of the counters, rewritten every 5s (a temporary file renamed over it) \
               and once more at exit",
    },
    Setting {
        key: "metrics_listen",
        default: Default::None,
        help: "A loopback address and port (e.g. 127.0.0.1:9464) serving the counters as \
               Prometheus text at /metrics",
    },
    Setting {
        key: "client_ip",
        default: Default::Value("keep"),
        help: "[privacy] What becomes of client addresses (%h, %a, %{c}a, %{c}h and each address \
               in the client_ip_headers): keep, truncate (zero the host part; what is not an \
               address is hashed, or dropped without a key), hash (a keyed pseudonym) or drop",
    },
    Setting {
        key: "client_ip_headers",
        default: Default::Value(
            "X-Forwarded-For,X-Real-IP,X-Client-IP,True-Client-IP,CF-Connecting-IP,Forwarded",
        ),
        help: "[privacy] A request header (%{Name}i) holding client addresses, treated as \
               client_ip says (repeatable, or comma-separated)",
    },
    Setting {
        key: "ipv4_prefix",
        default: Default::Value("24"),
        help: "[privacy] Bits of an IPv4 address client_ip = truncate keeps (0 to 32)",
    },
    Setting {
        key: "ipv6_prefix",
        default: Default::Value("48"),
        help: "[privacy] Bits of an IPv6 address client_ip = truncate keeps (0 to 128)",
    },
    Setting {
        key: "hash_key_file",
        default: Default::None,
        help: "[privacy] The file of the key pseudonyms are made with (HMAC-SHA256): at least 16 \
               bytes, readable by its owner only; read at start and at each reload",
    },
    Setting {
        key: "remote_user",
        default: Default::Value("keep"),
        help: "[privacy] What becomes of the user name (%u): keep, hash or drop",
    },
    Setting {
        key: "redact_query_params",
        default: Default::None,
        help: "[privacy] A query parameter whose value is replaced by REDACTED in every URL \
               logged (the request, its path, %U, %q, the Referer); any case (repeatable)",
    },
    Setting {
        key: "query",
        default: Default::Computed("redact when redact_query_params names any, else keep"),
        help: "[privacy] What becomes of the query of those URLs: keep, redact (the \
               redact_query_params) or drop (query and fragment)",
    },
    Setting {
        key: "drop_fields",
        default: Default::None,
        help: "[privacy] A record field never sent, e.g. cookie_session (repeatable); for %r \
               and %t name the first of their fields, which drops all of them",
    },
    Setting {
        key: "raw",
        default: Default::Computed(
            "drop when another privacy setting changes something, else keep",
        ),
        help: "[privacy] Whether a record of a line that did not parse (or was not UTF-8) \
               carries the line in `raw`: keep, or drop (then `raw_hash`, its pseudonym, when \
               there is a key)",
    },
];

/// The setting of `key`, if there is one.
pub(crate) fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The help of `key`'s flag, its default appended as `[default: ...]`.
pub fn help(key: &str) -> String {
    let Some(setting) = setting(key) else {
        return String::new();
    };
    match setting.default {
        Default::Value(text) | Default::Computed(text) => {
            format!("{} [default: {text}]", setting.help)
        }
        Default::None => setting.help.to_string(),
    }
}
