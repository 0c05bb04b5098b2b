//! A private Pub/Sub emulator for one test: `gcloud beta emulators pubsub start` on a free
//! loopback port in its own process group, with its own data dir and log, plus REST helpers
//! to create topics and subscriptions, publish, and pull everything back.
//!
//! Stopping kills the whole process group (gcloud's python wrapper and its java child).
//! Keep an `Emulator` in a local variable, not in a static: `Drop` is what stops it. An
//! `atexit` hook still kills any group left behind when the test process exits.

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The project every emulator serves.
pub const PROJECT: &str = "test";

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);
const PORT_ATTEMPTS: usize = 5;
const SAME_PORT_TIMEOUT: Duration = Duration::from_secs(10);
const QUIET_PERIOD: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(50);
const LOG_TAIL_LINES: usize = 40;

/// Process groups started here and not yet stopped, killed by `kill_leftovers` at exit.
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static AT_EXIT: Once = Once::new();
/// Ports handed out by `free_port` or asked for by `start_on` in this process.
static USED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// One message pulled from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub ordering_key: Option<String>,
    pub message_id: String,
}

impl Pulled {
    /// The data parsed as JSON; panics (showing the data) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.data).unwrap_or_else(|e| {
            panic!(
                "message {} is not JSON ({e}): {}",
                self.message_id,
                String::from_utf8_lossy(&self.data)
            )
        })
    }
}

/// A running (or stopped, between `stop` and `start_again`) emulator.
pub struct Emulator {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
    http: ureq::Agent,
    startup: Duration,
}

/// Why a launch did not give a ready emulator, when that is not a reason to panic.
enum LaunchError {
    PortTaken,
}

impl Emulator {
    /// Starts an emulator on a free port. Returns None (after printing a SKIPPED line) when
    /// gcloud or its pubsub emulator is missing, unless `CI=true`, where that panics.
    pub fn start() -> Option<Emulator> {
        let mut emulator = Emulator::prepare()?;
        for _ in 0..PORT_ATTEMPTS {
            emulator.port = free_port();
            match emulator.launch() {
                Ok(()) => return Some(emulator),
                Err(LaunchError::PortTaken) => continue,
            }
        }
        panic!(
            "pubsub emulator: {PORT_ATTEMPTS} free ports in a row were taken before it bound them; log:\n{}",
            emulator.log_tail()
        );
    }

    /// Starts an emulator on the given port (for example one a program under test already
    /// points at). Same None/panic rules as `start`; panics if the port stays taken.
    pub fn start_on(port: u16) -> Option<Emulator> {
        let mut emulator = Emulator::prepare()?;
        claim_port(port);
        emulator.port = port;
        emulator.start_again();
        Some(emulator)
    }

    /// Stops gracefully: SIGTERM to the whole process group, SIGKILL after 5 s, then reaps.
    pub fn stop(&mut self) {
        self.terminate(libc::SIGTERM);
    }

    /// Stops abruptly, like a crash: SIGKILL to the whole process group, then reaps.
    pub fn kill(&mut self) {
        self.terminate(libc::SIGKILL);
    }

    /// Freezes the emulator (SIGSTOP to its process group): connections are accepted by the
    /// kernel but nothing answers, like a hung server. `thaw` undoes it.
    pub fn freeze(&self) {
        if let Some(pgid) = self.process_group() {
            signal_group(pgid, libc::SIGSTOP);
        }
    }

    /// Lets a frozen emulator run again (SIGCONT).
    pub fn thaw(&self) {
        if let Some(pgid) = self.process_group() {
            signal_group(pgid, libc::SIGCONT);
        }
    }

    /// Starts a stopped emulator again on the same port and data dir. The emulator keeps no
    /// topics or subscriptions across restarts: create them again.
    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "start_again: the emulator on port {} is still running",
            self.port
        );
        let deadline = Instant::now() + SAME_PORT_TIMEOUT;
        while let Err(LaunchError::PortTaken) = self.launch() {
            assert!(
                Instant::now() < deadline,
                "pubsub emulator: port {} stayed taken for {SAME_PORT_TIMEOUT:?}; log:\n{}",
                self.port,
                self.log_tail()
            );
            sleep(Duration::from_millis(200));
        }
    }

    /// `stop` then `start_again`: same port, empty state.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Whether the emulator's process group is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The process group id (= gcloud's pid) while running.
    pub fn process_group(&self) -> Option<i32> {
        self.child.as_ref().map(child_pgid)
    }

    /// How long the last start took until the emulator answered REST.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "127.0.0.1:PORT", the value for `PUBSUB_EMULATOR_HOST`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// "http://127.0.0.1:PORT", the value for `--endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// The emulator's stdout and stderr, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("emulator.log")
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// "projects/test/topics/NAME".
    pub fn topic_path(name: &str) -> String {
        format!("projects/{PROJECT}/topics/{name}")
    }

    /// "projects/test/subscriptions/NAME".
    pub fn subscription_path(name: &str) -> String {
        format!("projects/{PROJECT}/subscriptions/{name}")
    }

    /// Creates a topic; panics on any error, including "already exists".
    pub fn create_topic(&self, name: &str) {
        check_name(name);
        self.expect_ok("create topic", "PUT", &Emulator::topic_path(name), None);
    }

    /// Creates a topic whose messages must match an Avro schema (JSON encoding): the
    /// emulator then refuses, as INVALID_ARGUMENT, a request with a message that does not.
    pub fn create_topic_with_schema(&self, name: &str, avro: &Value) {
        check_name(name);
        let schema = format!("projects/{PROJECT}/schemas/{name}-schema");
        let body = json!({ "type": "AVRO", "definition": avro.to_string() });
        let path = format!("projects/{PROJECT}/schemas?schemaId={name}-schema");
        self.expect_ok("create schema", "POST", &path, Some(&body));
        let body = json!({ "schemaSettings": { "schema": schema, "encoding": "JSON" } });
        self.expect_ok(
            "create topic",
            "PUT",
            &Emulator::topic_path(name),
            Some(&body),
        );
    }

    /// Whether the topic exists.
    pub fn topic_exists(&self, name: &str) -> bool {
        check_name(name);
        match self.request("GET", &Emulator::topic_path(name), None) {
            (200, _) => true,
            (404, _) => false,
            (status, body) => panic!("get topic {name}: HTTP {status}: {body}"),
        }
    }

    /// Creates a pull subscription on a topic with the emulator's default ack deadline (10 s).
    pub fn create_subscription(&self, subscription: &str, topic: &str) {
        self.put_subscription(
            subscription,
            json!({ "topic": Emulator::topic_path(topic) }),
        );
    }

    /// Creates a pull subscription on a topic with the given ack deadline.
    pub fn create_subscription_with_ack_deadline(
        &self,
        subscription: &str,
        topic: &str,
        ack_deadline_seconds: u32,
    ) {
        self.put_subscription(
            subscription,
            json!({
                "topic": Emulator::topic_path(topic),
                "ackDeadlineSeconds": ack_deadline_seconds,
            }),
        );
    }

    /// Publishes one message over REST and returns its message id.
    pub fn publish(&self, topic: &str, data: &[u8], attributes: &[(&str, &str)]) -> String {
        check_name(topic);
        let attributes: BTreeMap<&str, &str> = attributes.iter().copied().collect();
        let body = json!({
            "messages": [{ "data": BASE64.encode(data), "attributes": attributes }]
        });
        let path = format!("{}:publish", Emulator::topic_path(topic));
        let reply = self.expect_ok("publish", "POST", &path, Some(&body));
        reply["messageIds"][0]
            .as_str()
            .unwrap_or_else(|| panic!("publish to {topic}: no message id in {reply}"))
            .to_owned()
    }

    /// Pulls (and acks) until at least `expected` messages arrived and no new one came for a
    /// short quiet period, so duplicates beyond `expected` show too, or until `timeout`.
    /// Returns what arrived, possibly fewer than `expected`: the caller asserts.
    pub fn pull_all(&self, subscription: &str, expected: usize, timeout: Duration) -> Vec<Pulled> {
        check_name(subscription);
        let start = Instant::now();
        let mut last_arrival = start;
        let mut pulled = Vec::new();
        loop {
            let batch = self.pull_once(subscription);
            let now = Instant::now();
            let got_some = !batch.is_empty();
            if got_some {
                last_arrival = now;
                pulled.extend(batch);
            }
            let done = pulled.len() >= expected && now - last_arrival >= QUIET_PERIOD;
            if done || now - start >= timeout {
                return pulled;
            }
            if !got_some {
                sleep(POLL);
            }
        }
    }

    /// Makes the data dir, or returns None when gcloud's pubsub emulator is missing.
    fn prepare() -> Option<Emulator> {
        if let Err(why) = find_emulator() {
            if env::var("CI").as_deref() == Ok("true") {
                panic!("gcloud pubsub emulator not found ({why}); CI must have it installed");
            }
            let current = std::thread::current();
            let test = current.name().unwrap_or("unnamed test");
            // Straight to stderr, past libtest's output capture, so that skips always show.
            let line = format!("SKIPPED: {test}: gcloud pubsub emulator not found ({why})\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("pubsub-emulator-")
            .tempdir()
            .expect("create the emulator's temp dir");
        fs::create_dir(dir.path().join("data")).expect("create the emulator's data dir");
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Some(Emulator {
            port: 0,
            child: None,
            dir,
            http,
            startup: Duration::ZERO,
        })
    }

    /// Starts gcloud on `self.port` and waits until this emulator (not another process on
    /// the port) says it listens and REST answers.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let started = Instant::now();
        let log_path = self.log_path();
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the emulator log");
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        writeln!(log, "=== harness: starting on port {}", self.port).expect("write the log");
        let data_dir = self.dir.path().join("data");
        let child = Command::new("gcloud")
            .args([
                "beta",
                "emulators",
                "pubsub",
                "start",
                &format!("--host-port={}", self.host_port()),
                &format!("--project={PROJECT}"),
                &format!("--data-dir={}", data_dir.display()),
            ])
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn gcloud: {e}"));
        register(child_pgid(&child));
        self.child = Some(child);

        let listening = format!("listening on {}", self.port);
        loop {
            let new_log = read_from(&log_path, log_start);
            if new_log.contains("BindException") || new_log.contains("Address already in use") {
                self.kill();
                return Err(LaunchError::PortTaken);
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll gcloud"));
            if let Some(status) = exited {
                self.kill();
                panic!(
                    "pubsub emulator exited ({status}) before it was ready on port {}; log {}:\n{}",
                    self.port,
                    log_path.display(),
                    self.log_tail()
                );
            }
            if new_log.contains(&listening) && self.answers() {
                self.startup = started.elapsed();
                return Ok(());
            }
            if started.elapsed() >= READY_TIMEOUT {
                self.kill();
                panic!(
                    "pubsub emulator not ready on port {} after {READY_TIMEOUT:?}; log {}:\n{}",
                    self.port,
                    log_path.display(),
                    self.log_tail()
                );
            }
            sleep(POLL);
        }
    }

    /// Whether `GET /` answers 200.
    fn answers(&self) -> bool {
        let url = format!("{}/", self.endpoint());
        matches!(self.http.get(&url).call(), Ok(r) if r.status() == 200)
    }

    /// Signals the process group, escalates to SIGKILL after the grace period, and waits
    /// until no live process of the group is left.
    fn terminate(&mut self, signal: i32) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = child_pgid(&child);
        signal_group(pgid, signal);
        // A frozen group only acts on SIGTERM once it runs again.
        signal_group(pgid, libc::SIGCONT);
        let mut deadline = Instant::now() + STOP_GRACE;
        let mut escalated = signal == libc::SIGKILL;
        loop {
            // Reaps gcloud once it exits, so that it does not count as alive.
            let _ = child.try_wait();
            if !group_alive(pgid) {
                break;
            }
            if Instant::now() >= deadline {
                if escalated {
                    eprintln!("pubsub emulator: process group {pgid} survived SIGKILL");
                    break;
                }
                signal_group(pgid, libc::SIGKILL);
                escalated = true;
                deadline = Instant::now() + STOP_GRACE;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        LIVE_GROUPS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&pgid);
    }

    fn put_subscription(&self, subscription: &str, body: Value) {
        check_name(subscription);
        let path = Emulator::subscription_path(subscription);
        self.expect_ok("create subscription", "PUT", &path, Some(&body));
    }

    /// One pull of up to 1000 messages that returns at once, acking what it got.
    fn pull_once(&self, subscription: &str) -> Vec<Pulled> {
        let path = Emulator::subscription_path(subscription);
        let body = json!({ "maxMessages": 1000, "returnImmediately": true });
        let reply = self.expect_ok("pull", "POST", &format!("{path}:pull"), Some(&body));
        let Some(received) = reply["receivedMessages"].as_array() else {
            return Vec::new();
        };
        let mut ack_ids = Vec::with_capacity(received.len());
        let mut pulled = Vec::with_capacity(received.len());
        for item in received {
            ack_ids.push(item["ackId"].clone());
            pulled.push(decode(&item["message"]));
        }
        let ack = json!({ "ackIds": ack_ids });
        self.expect_ok("ack", "POST", &format!("{path}:acknowledge"), Some(&ack));
        pulled
    }

    /// A REST call that must answer 200; returns the JSON reply.
    fn expect_ok(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
        match self.request(method, path, body) {
            (200, reply) => reply,
            (status, reply) => panic!("{what} {path}: HTTP {status}: {reply}"),
        }
    }

    /// One REST call to `/v1/PATH`; returns the status and the JSON reply (Null if empty).
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.endpoint());
        let empty = json!({});
        let body = body.unwrap_or(&empty);
        let result = match method {
            "GET" => self.http.get(&url).call(),
            "PUT" => self.http.put(&url).send_json(body),
            "POST" => self.http.post(&url).send_json(body),
            other => panic!("unsupported method {other}"),
        };
        let mut response = result
            .unwrap_or_else(|e| panic!("{method} {url}: {e}; emulator log:\n{}", self.log_tail()));
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the reply: {e}"));
        let reply = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {url}: reply is not JSON ({e}): {text}"))
        };
        (response.status().as_u16(), reply)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago (bind 127.0.0.1:0 and release it) and that this
/// process has not handed out before, so that a port a test stopped its emulator on to
/// restart it later does not go to another test meanwhile.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if claim_port(port) {
            return port;
        }
    }
}

/// Records a port as used by this process; false if it already was.
fn claim_port(port: u16) -> bool {
    USED_PORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(port)
}

/// Whether any live process is in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            return false;
        };
        let in_group = stat_fields(&entry.path().join("stat"))
            .is_some_and(|fields| fields.get(2).and_then(|g| g.parse().ok()) == Some(pgid));
        in_group && process_alive(pid)
    })
}

/// Whether a process still has a task that is not a zombie. A killed multi-threaded process
/// (java) can show its main thread as a zombie while other threads still hold its sockets.
pub fn process_alive(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        stat_fields(&task.path().join("stat"))
            .is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
    })
}

/// The fields of a /proc stat file after the parenthesised command name: state, ppid, pgrp, ...
fn stat_fields(path: &Path) -> Option<Vec<String>> {
    let stat = fs::read_to_string(path).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Checks that gcloud, its pubsub emulator component and java are installed.
fn find_emulator() -> Result<(), String> {
    let gcloud = find_in_path("gcloud").ok_or("no gcloud on PATH")?;
    let gcloud = fs::canonicalize(&gcloud).unwrap_or(gcloud);
    let sdk_root = gcloud
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("cannot find the SDK root above {}", gcloud.display()))?;
    let component = sdk_root.join("platform/pubsub-emulator");
    if !component.is_dir() {
        return Err(format!(
            "{} has no pubsub emulator component ({} is missing)",
            gcloud.display(),
            component.display()
        ));
    }
    find_in_path("java").ok_or("no java on PATH, which the pubsub emulator needs")?;
    Ok(())
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The log from byte `offset` on (what the current launch wrote).
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn decode(message: &Value) -> Pulled {
    let data = BASE64
        .decode(message["data"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("pulled data is not base64 ({e}): {message}"));
    let attributes = message["attributes"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let ordering_key = message["orderingKey"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let message_id = message["messageId"].as_str().unwrap_or_default().to_owned();
    Pulled {
        data,
        attributes,
        ordering_key,
        message_id,
    }
}

/// Panics on names Pub/Sub rejects: fewer than 3 characters or not starting with a letter.
fn check_name(name: &str) {
    assert!(
        name.len() >= 3 && name.starts_with(|c: char| c.is_ascii_alphabetic()),
        "Pub/Sub names need at least 3 characters and a leading letter: {name:?}"
    );
}

fn child_pgid(child: &Child) -> i32 {
    // With process_group(0) the group id is the child's pid.
    i32::try_from(child.id()).expect("pid fits in i32")
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn register(pgid: i32) {
    AT_EXIT.call_once(|| {
        // SAFETY: atexit(3) takes a plain function pointer with no arguments.
        unsafe {
            libc::atexit(kill_leftovers);
        }
    });
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(pgid);
}

/// Runs at process exit: SIGKILLs every group that no `stop` or `Drop` ended.
extern "C" fn kill_leftovers() {
    if let Ok(groups) = LIVE_GROUPS.try_lock() {
        for &pgid in groups.iter() {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}
