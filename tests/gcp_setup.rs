//! `packaging/gcp-setup.sh` in its printing mode (no Google Cloud project is reachable from
//! the tests, so `--apply` is never run): the commands it prints form a valid bash script
//! for the project, dataset and topic given, the table's schema file is what `schema`
//! prints for the configured format, clustering follows the format's columns, bad names are
//! refused, and every flag it passes to gcloud and bq exists in the installed CLI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{binary, skip_or_fail};

fn script() -> String {
    format!("{}/packaging/gcp-setup.sh", env!("CARGO_MANIFEST_DIR"))
}

/// The script with `args`, run in `dir`.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .current_dir(dir)
        .env("ACCESSLOG_PUBSUB", binary())
        .stdin(Stdio::null())
        .output()
        .expect("run gcp-setup.sh")
}

/// The printed commands (no comments, no blank lines) for `args`, after checking that the
/// script succeeded and printed valid bash.
fn commands(dir: &Path, args: &[&str]) -> Vec<String> {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "gcp-setup.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let printed = dir.join("printed.sh");
    fs::write(&printed, &text).expect("write the printed script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&printed)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "not valid bash: {}\n{text}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "set -euo pipefail")
        .map(str::to_owned)
        .collect()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gcp-setup-")
        .tempdir()
        .expect("temp dir")
}

fn shipped_config() -> String {
    format!("{}/packaging/config.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn prints_the_topic_table_subscription_and_account_for_the_given_names() {
    let dir = temp_dir();
    let config = shipped_config();
    let lines = commands(
        dir.path(),
        &[
            "--config",
            &config,
            "my-project",
            "weblogs",
            "apache-access",
        ],
    );
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no command with {needle:?}: {lines:#?}"))
    };
    let topic = find("gcloud pubsub topics create apache-access --project=my-project");
    let table = find("bq mk --table --schema=apache_access.schema.json");
    let subscription = find("gcloud pubsub subscriptions create apache-access-bigquery");
    assert!(topic < table && table < subscription, "{lines:#?}");
    let table_line = &lines[table];
    for flag in [
        "--time_partitioning_field=timestamp",
        "--time_partitioning_type=DAY",
        "--clustering_fields=vhost,status",
        "my-project:weblogs.apache_access",
    ] {
        assert!(table_line.contains(flag), "{flag} missing: {table_line}");
    }
    let sub_line = &lines[subscription];
    for flag in [
        "--topic=apache-access ",
        "--bigquery-table=my-project:weblogs.apache_access",
        "--use-table-schema",
        "--dead-letter-topic=apache-access-dead-letter",
    ] {
        assert!(sub_line.contains(flag), "{flag} missing: {sub_line}");
    }
    find("gcloud pubsub topics create apache-access-dead-letter");
    find("--role=roles/bigquery.dataEditor my-project:weblogs.apache_access");
    find(
        "add-iam-policy-binding apache-access --member=serviceAccount:accesslog-pubsub@my-project.iam.gserviceaccount.com --role=roles/pubsub.publisher",
    );
    assert!(
        !lines.iter().any(|l| l.contains("dataflow")),
        "the Dataflow job is printed only with --dataflow"
    );
    for line in lines.iter().filter(|l| l.starts_with("gcloud ")) {
        assert!(line.contains("--project=my-project"), "{line}");
    }

    let schema = fs::read_to_string(dir.path().join("apache_access.schema.json"))
        .expect("the schema file is written");
    let want = Command::new(binary())
        .args(["--config", &config, "schema"])
        .output()
        .expect("run schema");
    assert_eq!(
        schema.as_bytes(),
        want.stdout,
        "the table's schema is `schema`'s"
    );
}

#[test]
fn clusters_only_by_columns_the_format_has_and_prints_dataflow_on_request() {
    let dir = temp_dir();
    let config = dir.path().join("combined.toml");
    fs::write(&config, "format = \"combined\"\n").expect("write a config");
    let lines = commands(
        dir.path(),
        &[
            "--config",
            &config.to_string_lossy(),
            "--dataflow",
            "my-bucket",
            "my-project",
            "weblogs",
        ],
    );
    let table = lines
        .iter()
        .find(|l| l.starts_with("bq mk --table"))
        .expect("the table");
    assert!(table.contains("--clustering_fields=status "), "{table}");
    assert!(table.contains("my-project:weblogs.access_log"), "{table}");
    let job = lines
        .iter()
        .find(|l| l.starts_with("gcloud dataflow jobs run"))
        .expect("the Dataflow job");
    assert!(
        job.contains("inputTopic=projects/my-project/topics/access-log")
            && job.contains("outputTableSpec=my-project:weblogs.access_log")
            && job.contains("--staging-location=gs://my-bucket/temp"),
        "{job}"
    );
}

#[test]
fn refuses_names_google_cloud_would_refuse() {
    let dir = temp_dir();
    for (args, says) in [
        (vec!["My_Project", "weblogs"], "project id My_Project"),
        (vec!["my-project", "web-logs"], "dataset web-logs"),
        (
            vec!["my-project", "weblogs", "goog-topic"],
            "topic goog-topic",
        ),
        (vec!["my-project"], "PROJECT DATASET [TOPIC]"),
    ] {
        let out = run(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed commands");
    }
}

/// The `--flags` of a command line (before any `=`), with its command words: the leading
/// words up to the first flag or argument that is a name we gave.
fn command_and_flags(line: &str) -> (Vec<&str>, BTreeSet<&str>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let command: Vec<&str> = words
        .iter()
        .take_while(|w| {
            !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .copied()
        .collect();
    let flags = words
        .iter()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().unwrap_or(w))
        .collect();
    (command, flags)
}

#[test]
fn every_flag_it_passes_exists_in_the_installed_gcloud_and_bq() {
    let Some(gcloud) = ["/usr/bin/gcloud", "/usr/lib/google-cloud-sdk/bin/gcloud"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        skip_or_fail("gcloud not found");
        return;
    };
    let dir = temp_dir();
    let config = shipped_config();
    let lines = commands(
        dir.path(),
        &[
            "--config",
            &config,
            "--dataflow",
            "my-bucket",
            "my-project",
            "weblogs",
        ],
    );
    let mut by_command: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for line in &lines {
        // `x=$(gcloud ...)` and `a || b`: each gcloud or bq command on the line.
        for part in line.split("$(").flat_map(|p| p.split("||")) {
            let part = part.trim().trim_end_matches(')');
            if !(part.starts_with("gcloud ") || part.starts_with("bq ")) {
                continue;
            }
            // bq's flags before the subcommand are global ones: look at the subcommand's.
            let part = part.replace("bq --location=US ", "bq ");
            let (command, flags) = command_and_flags(&part);
            by_command
                .entry(command.iter().map(|w| w.to_string()).collect())
                .or_default()
                .extend(flags.into_iter().map(str::to_owned));
        }
    }
    assert!(by_command.len() >= 8, "{by_command:#?}");
    for (command, flags) in &by_command {
        let help = if command[0] == "bq" {
            Command::new("bq")
                .args(["help", &command[1]])
                .output()
                .expect("run bq help")
        } else {
            Command::new(gcloud)
                .args(&command[1..])
                .arg("--help")
                .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
                .output()
                .expect("run gcloud --help")
        };
        let text = String::from_utf8_lossy(&help.stdout);
        // `bq help` exits 1 for some commands that it describes all the same.
        assert!(
            help.status.success() || command[0] == "bq",
            "{command:?} --help: {text}"
        );
        for flag in flags {
            let name = flag.trim_start_matches("--");
            assert!(
                text.contains(flag.as_str()) || text.contains(&format!("[no]{name}")),
                "{} has no {flag}",
                command.join(" ")
            );
        }
    }
}
