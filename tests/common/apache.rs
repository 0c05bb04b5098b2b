//! A real Debian httpd for one test, configured from scratch in a temp directory (never
//! /etc/apache2) on a free loopback port, with the shipped Debian snippet included and its
//! pipe pointed at the binary under test, plus a local file copy of every line
//! (`access.log`, written by httpd itself: what httpd answered, to compare with what
//! arrived in Pub/Sub).
//!
//! What makes or breaks such a harness on Debian, as root: log_config is compiled in (a
//! `LoadModule` for it is fatal), `User root` is fatal (workers run as www-data, so the
//! directory must be 0755 where mkdtemp gives 0700), and the piped logger inherits the
//! environment of `apache2 -k start` (SetEnv never reaches it), so everything it needs is on
//! its command line. Every start, graceful and restart ends with one "resuming normal
//! operations" line in the error log; that is what the methods wait for.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::emulator::{free_port, process_alive};
use super::{binary, skip_or_fail};

/// Modules that Debian builds as shared objects and the test config needs.
const MODULES: [(&str, &str); 2] = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
];
const MODULE_DIR: &str = "/usr/lib/apache2/modules";
const GENERATION_LINE: &str = "resuming normal operations";
const PATIENCE: Duration = Duration::from_secs(120);
/// The large file of slow downloads: far more than loopback socket buffers hold, so a
/// client that stops reading keeps its request in flight. Sparse, so it costs no disk.
pub const BIG_FILE_BYTES: u64 = 256 << 20;

/// What the logger inside httpd publishes to.
pub struct LoggerTarget {
    /// `http://127.0.0.1:PORT` of the emulator (or of a proxy in front of it).
    pub endpoint: String,
    pub topic: String,
    /// More arguments for the logger, appended to its command line (space-separated).
    pub extra: String,
    /// Text appended to the logger's copy of the shipped config.toml (at its top level,
    /// before the `[attributes]` table).
    pub config_extra: String,
}

pub struct Apache {
    dir: TempDir,
    port: u16,
    running: bool,
}

impl Apache {
    /// Writes the configuration and starts httpd. Returns None (after printing a SKIPPED line)
    /// when apache2 is not installed, unless `CI=true`, where that panics.
    pub fn start(target: &LoggerTarget) -> Option<Apache> {
        if !Path::new("/usr/sbin/apache2").is_file() {
            skip_or_fail("apache2 not found (apt-get install apache2)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("apache-")
            .tempdir()
            .expect("create the httpd temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod 0755 the httpd temp dir");
        for sub in ["htdocs", "run", "spool"] {
            fs::create_dir(dir.path().join(sub)).expect("create a dir for httpd");
        }
        fs::write(dir.path().join("htdocs/index.html"), "hello\n").expect("write index.html");
        fs::File::create(dir.path().join("htdocs/big.bin"))
            .and_then(|f| f.set_len(BIG_FILE_BYTES))
            .expect("create the sparse big.bin");
        let mut apache = Apache {
            dir,
            port: free_port(),
            running: false,
        };
        fs::write(apache.snippet_path(), apache.snippet(target)).expect("write the snippet");
        fs::write(apache.conf_path(), apache.config()).expect("write httpd.conf");
        apache.start_again();
        Some(apache)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The spool directory the logger uses.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// httpd's own file copy of every line the logger was given.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The lines of `access_log`.
    pub fn access_lines(&self) -> Vec<String> {
        fs::read_to_string(self.access_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The records `accesslog-pubsub parse` makes of `access_log`, with the shipped
    /// configuration (the same the logger runs with).
    pub fn parsed_access_log(&self) -> Vec<Value> {
        let out = Command::new(binary())
            .arg("--config")
            .arg(shipped_config())
            .arg("parse")
            .stdin(fs::File::open(self.access_log()).expect("open access.log"))
            .output()
            .expect("run accesslog-pubsub parse");
        assert!(
            out.status.success(),
            "parse failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("parse prints JSON lines"))
            .collect()
    }

    /// The error log, for failure messages.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// `apache2 -k start` on the existing configuration; waits until it serves.
    pub fn start_again(&mut self) {
        assert!(!self.running, "httpd is already running");
        let before = self.generations();
        self.control("start");
        self.running = true;
        self.wait_generation(before);
    }

    /// Points the pipe at `target` from the next generation on (a graceful starts it).
    pub fn set_logger(&mut self, target: &LoggerTarget) {
        fs::write(self.snippet_path(), self.snippet(target)).expect("rewrite the snippet");
    }

    /// `apache2 -k graceful`; returns once the new generation serves.
    pub fn graceful(&mut self) {
        let before = self.generations();
        self.control("graceful");
        self.wait_generation(before);
    }

    /// `apache2 -k restart`; returns once the new generation serves.
    pub fn restart(&mut self) {
        let before = self.generations();
        self.control("restart");
        self.wait_generation(before);
    }

    /// `apache2 -k stop`; returns once httpd and every logger it started have exited.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let parent = self.parent_pid();
        self.control("stop");
        let start = Instant::now();
        while parent.is_some_and(process_alive) || !self.loggers().is_empty() {
            assert!(
                start.elapsed() < PATIENCE,
                "httpd or its loggers did not exit after -k stop; loggers {:?}; error log:\n{}",
                self.loggers(),
                self.error_log()
            );
            sleep(Duration::from_millis(50));
        }
        self.running = false;
    }

    /// Pids of the loggers running for this httpd (found by their spool directory).
    pub fn loggers(&self) -> Vec<u32> {
        processes_with_arg(&self.spool_dir().to_string_lossy())
    }

    /// Starts `ab -k -r -c 16 -n requests` on `path`, calls `at_progress(self, n)` for each
    /// of its "Completed n requests" lines (every tenth of the run) while it runs, and
    /// returns its summary.
    pub fn ab(
        &mut self,
        requests: usize,
        path: &str,
        mut at_progress: impl FnMut(&mut Apache, usize),
    ) -> AbSummary {
        if Command::new("ab").arg("-V").output().is_err() {
            panic!("ab not found (apt-get install apache2-utils)");
        }
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut child = Command::new("ab")
            .args(["-k", "-r", "-c", "16", "-n", &requests.to_string(), &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ab");
        let stderr = child.stderr.take().expect("ab's stderr");
        let mut ran_through = true;
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("read ab's stderr");
            if let Some(n) = line
                .strip_prefix("Completed ")
                .and_then(|r| r.strip_suffix(" requests"))
                .and_then(|n| n.parse().ok())
            {
                at_progress(self, n);
                // ab only ends once it printed "Finished": if it is gone already, the load
                // was over before `at_progress` returned.
                ran_through &= child.try_wait().expect("poll ab").is_none();
            }
        }
        let mut report = String::new();
        child
            .stdout
            .take()
            .expect("ab's stdout")
            .read_to_string(&mut report)
            .expect("read ab's report");
        let status = child.wait().expect("wait for ab");
        assert!(status.success(), "ab failed ({status}):\n{report}");
        AbSummary::from_report(&report, ran_through)
    }

    /// Starts a download of the big file that reads its first MiB and then stops reading, so
    /// that a worker stays busy sending it; `finish` reads the rest.
    pub fn slow_download(&self, tag: &str) -> SlowDownload {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to httpd");
        let request = format!(
            "GET /big.bin?slow={tag} HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("send the slow request");
        let mut buf = vec![0; 64 * 1024];
        let mut got = 0;
        while got < (1 << 20) {
            match stream.read(&mut buf) {
                Ok(0) => panic!("the slow download ended after {got} bytes"),
                Ok(n) => got += n,
                Err(e) => panic!("the slow download: {e}"),
            }
        }
        SlowDownload {
            stream,
            got: got as u64,
        }
    }

    fn generations(&self) -> usize {
        self.error_log().matches(GENERATION_LINE).count()
    }

    fn wait_generation(&self, before: usize) {
        let start = Instant::now();
        while self.generations() <= before {
            assert!(
                start.elapsed() < PATIENCE,
                "httpd did not come up (port {}); error log:\n{}",
                self.port,
                self.error_log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    fn control(&self, action: &str) {
        let out = Command::new("/usr/sbin/apache2")
            .arg("-f")
            .arg(self.conf_path())
            .args(["-k", action])
            .env_remove("PUBSUB_EMULATOR_HOST")
            .stdin(Stdio::null())
            .output()
            .expect("run apache2");
        assert!(
            out.status.success(),
            "apache2 -k {action} failed ({}): {}{}\nerror log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.error_log()
        );
    }

    fn parent_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.path().join("run/httpd.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join("httpd.conf")
    }

    fn snippet_path(&self) -> PathBuf {
        self.dir.path().join("accesslog-pubsub.conf")
    }

    /// The shipped Debian snippet with its pipe pointed at the binary under test, a copy of
    /// the shipped configuration (in this root-owned directory, as root requires of it) and
    /// this test's topic, spool and endpoint. Where the packages' account does not exist
    /// (the package was never installed here), the logger drops to `nobody` instead.
    fn snippet(&self, target: &LoggerTarget) -> String {
        let shipped = shipped_file("apache-conf/debian/conf-available/accesslog-pubsub.conf");
        let text = fs::read_to_string(&shipped).expect("read the shipped snippet");
        let pipe = "\"|/usr/bin/accesslog-pubsub\"";
        assert_eq!(text.matches(pipe).count(), 1, "the snippet pipes once");
        let config = self.dir.path().join("config.toml");
        let shipped = fs::read_to_string(shipped_config()).expect("read the shipped config");
        fs::write(&config, format!("{}{shipped}", target.config_extra))
            .expect("copy the shipped config");
        let packaged_account = Command::new("getent")
            .args(["passwd", "accesslog-pubsub"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let account = if packaged_account {
            ""
        } else {
            " --user nobody --group nogroup"
        };
        let ours = format!(
            "\"|{} --config {} --project {} --topic {} --spool-dir {} --endpoint {}{account}{}\"",
            binary().display(),
            config.display(),
            super::emulator::PROJECT,
            target.topic,
            self.spool_dir().display(),
            target.endpoint,
            if target.extra.is_empty() {
                String::new()
            } else {
                format!(" {}", target.extra)
            }
        );
        text.replace(pipe, &ours)
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display();
        let port = self.port;
        let modules: String = MODULES
            .iter()
            .map(|(name, file)| format!("LoadModule {name} {MODULE_DIR}/{file}\n"))
            .collect();
        format!(
            r#"ServerRoot /usr/lib/apache2
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {dir}/run/httpd.pid
DefaultRuntimeDir {dir}/run
ErrorLog {dir}/error.log
LogLevel notice
User www-data
Group www-data
{modules}DocumentRoot {dir}/htdocs
<Directory {dir}/htdocs>
    Require all granted
</Directory>
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{{Referer}}i\" \"%{{User-Agent}}i\"" combined
# A virtual host with a log of its own, as Debian's default site has: GlobalLog still
# sends its lines.
<VirtualHost *:{port}>
    ServerName a.test
    CustomLog {dir}/a.test-access.log combined
</VirtualHost>
<VirtualHost *:{port}>
    ServerName b.test
</VirtualHost>
Include {dir}/accesslog-pubsub.conf
GlobalLog {dir}/access.log bigquery_combined
"#
        )
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let _ = Command::new("/usr/sbin/apache2")
            .arg("-f")
            .arg(self.conf_path())
            .args(["-k", "stop"])
            .stdin(Stdio::null())
            .output();
        let start = Instant::now();
        while self.parent_pid().is_some_and(process_alive) && start.elapsed() < PATIENCE {
            sleep(Duration::from_millis(50));
        }
        let conf = self.conf_path();
        let mut leftovers = processes_with_arg(&conf.to_string_lossy());
        leftovers.extend(self.loggers());
        for pid in leftovers {
            // SAFETY: kill(2) on a pid we found running our config or spool; no memory involved.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// A download held in flight (see [`Apache::slow_download`]).
pub struct SlowDownload {
    stream: TcpStream,
    got: u64,
}

impl SlowDownload {
    /// Reads the rest; returns the bytes received in all (headers included).
    pub fn finish(mut self) -> u64 {
        let mut buf = vec![0; 1 << 20];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return self.got,
                Ok(n) => self.got += n as u64,
                Err(e) => panic!("the slow download: {e}"),
            }
        }
    }
}

/// What ab reported.
#[derive(Debug)]
pub struct AbSummary {
    pub complete: usize,
    pub failed: usize,
    /// Whether ab was still running after every `at_progress` call (the load was on while
    /// the test acted).
    pub ran_through_every_progress_call: bool,
}

impl AbSummary {
    fn from_report(report: &str, ran_through_every_progress_call: bool) -> AbSummary {
        let field = |name: &str| {
            report
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name:?} in ab's report:\n{report}"))
        };
        AbSummary {
            complete: field("Complete requests:"),
            failed: field("Failed requests:"),
            ran_through_every_progress_call,
        }
    }
}

/// A file of this repository (the shipped snippets and configuration).
pub fn shipped_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// packaging/config.toml, the configuration the packages install.
pub fn shipped_config() -> PathBuf {
    shipped_file("packaging/config.toml")
}

/// Pids of processes with `arg` among their command-line arguments.
fn processes_with_arg(arg: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let has = cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes());
            (has && process_alive(pid)).then_some(pid)
        })
        .collect()
}
