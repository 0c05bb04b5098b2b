//! SIGHUP reloads the configuration file of a running logger, with a real emulator: lines
//! read before the reload are parsed and sent as they were read, lines after it by the new
//! file (a new format, a new topic); a broken new file is refused with one line and the
//! configuration in force stays. No line is lost or sent twice, and the logger never ends.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use common::logger::{Guard, PATIENCE, indexed_line, indices, wait_until};
use common::{Emulator, binary};

/// A logger reading its settings from `config` (flags would win over the file), its
/// stderr collected line by line as it comes.
struct Logger {
    guard: Guard,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Logger {
    fn start(emulator: &Emulator, config: &Path, spool: &Path) -> Logger {
        let mut child: Child = Command::new(binary())
            .arg("--config")
            .arg(config)
            .arg("--spool-dir")
            .arg(spool)
            .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start accesslog-pubsub");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().expect("stderr lines").push(line);
            }
        });
        Logger {
            guard: Guard::new(child),
            stderr,
        }
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.guard
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin")
    }

    fn write(&mut self, lines: impl Iterator<Item = String>) {
        let stdin = self.stdin();
        for line in lines {
            writeln!(stdin, "{line}").expect("write a line");
        }
        stdin.flush().expect("flush");
    }

    fn said(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines").clone()
    }

    /// Sends SIGHUP and waits for the line that says what came of it (one more line
    /// containing `what` than before).
    fn hup(&mut self, what: &str) {
        let before = self.said().iter().filter(|l| l.contains(what)).count();
        let pid = libc::pid_t::try_from(self.guard.pid()).expect("a pid");
        // SAFETY: kill() only sends a signal to the child we started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        wait_until(what, || {
            self.said().iter().filter(|l| l.contains(what)).count() > before
        });
        let running = self.guard.0.as_mut().expect("started");
        assert!(
            running.try_wait().expect("try_wait").is_none(),
            "SIGHUP ended the logger: {:?}",
            self.said()
        );
    }
}

fn config_text(topic: &str, format: &str) -> String {
    format!("project = \"test\"\ntopic = \"{topic}\"\nformat = '{format}'\n")
}

const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;

#[test]
fn sighup_mid_stream_changes_the_format_for_the_lines_after_it() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("reload-format");
    emulator.create_subscription("reload-format-sub", "reload-format");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    fs::write(&config, config_text("reload-format", COMBINED)).expect("write config");
    let mut logger = Logger::start(&emulator, &config, &dir.path().join("spool"));

    logger.write((0..500).map(indexed_line));
    let first = emulator.pull_all("reload-format-sub", 500, PATIENCE);
    assert_eq!(first.len(), 500, "the lines before the reload arrived");
    fs::write(
        &config,
        config_text("reload-format", &format!("{COMBINED} %D")),
    )
    .expect("rewrite config");
    logger.hup("reload: configuration 1");
    logger.write((500..1000).map(|i| format!("{} {}", indexed_line(i), 1000 + i)));
    let out = logger.guard.finish();
    assert!(out.status.success(), "{:?}", logger.said());

    let second = emulator.pull_all("reload-format-sub", 500, PATIENCE);
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    let (got, duplicates) = indices(&all);
    assert_eq!(got, (0..1000).collect(), "every line arrived");
    assert_eq!(duplicates, 0, "none twice");
    for pulled in &all {
        let record = pulled.json();
        let i = common::logger::index_of(&record);
        assert!(record.get("parse_error").is_none(), "{record}");
        if i < 500 {
            assert!(record.get("duration_us").is_none(), "old format: {record}");
        } else {
            assert_eq!(
                record["duration_us"],
                1000 + i as u64,
                "new format: {record}"
            );
        }
    }
}

#[test]
fn sighup_with_a_broken_file_keeps_the_configuration_and_a_new_topic_takes_later_lines() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    for topic in ["reload-a", "reload-b"] {
        emulator.create_topic(topic);
        emulator.create_subscription(&format!("{topic}-sub"), topic);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    fs::write(&config, config_text("reload-a", COMBINED)).expect("write config");
    let mut logger = Logger::start(&emulator, &config, &dir.path().join("spool"));
    logger.write((0..300).map(indexed_line));
    assert_eq!(emulator.pull_all("reload-a-sub", 300, PATIENCE).len(), 300);

    // A key that does not exist: refused with one line naming it, the old file stays.
    fs::write(
        &config,
        format!(
            "{}topicc = \"reload-b\"\n",
            config_text("reload-a", COMBINED)
        ),
    )
    .expect("write a broken config");
    logger.hup("reload refused");
    let refused: Vec<String> = logger
        .said()
        .into_iter()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("topicc"), "{refused:?}");
    logger.write((300..600).map(indexed_line));
    let (got, _) = indices(&emulator.pull_all("reload-a-sub", 300, PATIENCE));
    assert_eq!(got, (300..600).collect(), "still to topic a");

    fs::write(&config, config_text("reload-b", COMBINED)).expect("write config b");
    logger.hup("reload: configuration 1");
    logger.write((600..900).map(indexed_line));
    let out = logger.guard.finish();
    assert!(out.status.success(), "{:?}", logger.said());
    let to_b = emulator.pull_all("reload-b-sub", 300, PATIENCE);
    let (got, duplicates) = indices(&to_b);
    assert_eq!(got, (600..900).collect(), "later lines to topic b");
    assert_eq!(duplicates, 0);
    let late_a = emulator.pull_all("reload-a-sub", 0, std::time::Duration::from_secs(2));
    assert!(late_a.is_empty(), "nothing more to a: {}", late_a.len());
}
