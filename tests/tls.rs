//! The production path: TLS and credentials. The emulator sits behind nginx, which ends TLS
//! with a certificate from a test CA and passes the gRPC calls on (`grpc_pass`); the logger
//! gets `endpoint = "https://localhost:PORT"` and a service-account key file the test
//! generates. The auth crate signs a JWT with that key locally (no token server is asked),
//! so nginx's log shows what the logger sent as its `authorization` header.
//!
//! The test CA is added to the system trust store (`/usr/local/share/ca-certificates` +
//! `update-ca-certificates`, which the crate's TLS stack reads) and removed afterwards.
//! Needs root, nginx and openssl: skipped with a printed reason where one is missing, a
//! failure under CI=true.

mod common;

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tempfile::TempDir;

use common::emulator::free_port;
use common::logger::{PATIENCE, sample_lines, write_lines};
use common::{Emulator, binary, skip_or_fail};

const TOPIC: &str = "tls-log";
const SUBSCRIPTION: &str = "tls-log-sub";
const CLIENT_EMAIL: &str = "logger@test.iam.gserviceaccount.com";
const KEY_ID: &str = "0123456789abcdef";
const TRUST_DIR: &str = "/usr/local/share/ca-certificates";
/// The system trust store is one per machine: one test at a time changes it.
static TRUST_STORE: Mutex<()> = Mutex::new(());

/// Whether everything this test needs is here; prints the reason (or panics under CI)
/// when not.
fn prerequisites() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail("not root, so the test CA cannot go into the system trust store");
        return false;
    }
    for (program, package) in [
        ("/usr/sbin/nginx", "nginx"),
        ("/usr/bin/openssl", "openssl"),
        ("/usr/sbin/update-ca-certificates", "ca-certificates"),
    ] {
        if !Path::new(program).is_file() {
            skip_or_fail(&format!("{program} not found (apt-get install {package})"));
            return false;
        }
    }
    true
}

/// Runs openssl with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("/usr/bin/openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`NAME-ca.crt`) and a certificate for localhost signed by it (`NAME.crt`,
/// `NAME.key`), in `dir`.
fn make_ca_and_server_cert(dir: &Path, name: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca_crt = format!("{name}-ca.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &ca_key,
            "-out",
            &ca_crt,
            "-subj",
            &format!("/CN=accesslog-pubsub test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    let ext = format!("{name}.ext");
    fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &ext,
        ],
    );
}

/// A service-account key file as Google issues them, with a fresh RSA key (PKCS#8 PEM);
/// returns its path. The public key goes to `sa-public.pem`.
fn make_service_account_key(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "sa.pem",
        ],
    );
    openssl(
        dir,
        &["pkey", "-in", "sa.pem", "-pubout", "-out", "sa-public.pem"],
    );
    let private_key = fs::read_to_string(dir.join("sa.pem")).expect("read sa.pem");
    let key = json!({
        "type": "service_account",
        "project_id": "test",
        "private_key_id": KEY_ID,
        "private_key": private_key,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "universe_domain": "googleapis.com"
    });
    let path = dir.join("service-account.json");
    fs::write(&path, serde_json::to_vec_pretty(&key).expect("JSON")).expect("write the key");
    path
}

/// The test CA in the system trust store while this lives; removed (and the store rebuilt)
/// on drop.
struct TrustedCa {
    installed: PathBuf,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl TrustedCa {
    fn add(ca_crt: &Path) -> TrustedCa {
        let lock = TRUST_STORE.lock().unwrap_or_else(PoisonError::into_inner);
        let installed =
            Path::new(TRUST_DIR).join(format!("accesslog-pubsub-test-{}.crt", std::process::id()));
        fs::create_dir_all(TRUST_DIR).expect("create the local CA dir");
        fs::copy(ca_crt, &installed).expect("copy the test CA into the trust store");
        update_ca_certificates();
        TrustedCa {
            installed,
            _lock: lock,
        }
    }
}

impl Drop for TrustedCa {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.installed);
        update_ca_certificates();
    }
}

fn update_ca_certificates() {
    let out = Command::new("/usr/sbin/update-ca-certificates")
        .arg("--fresh")
        .output()
        .expect("run update-ca-certificates");
    assert!(
        out.status.success(),
        "update-ca-certificates: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// nginx ending TLS on a free loopback port and passing gRPC on to the emulator; it logs the
/// `authorization` header of every call.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, cert: &str, emulator_port: u16) -> Nginx {
        let port = free_port();
        let d = dir.display();
        fs::create_dir_all(dir.join("nginx-tmp")).expect("create nginx's temp dir");
        let conf = format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{}}
http {{
    log_format calls '$request $status $http_authorization';
    access_log {d}/nginx-access.log calls;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {d}/{cert}.crt;
        ssl_certificate_key {d}/{cert}.key;
        location / {{
            grpc_pass grpc://127.0.0.1:{emulator_port};
        }}
    }}
}}
"#
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start nginx");
        let nginx = Nginx {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "nginx does not listen on {port}; error log:\n{}",
                fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
            );
            sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// nginx's access log: one `REQUEST STATUS AUTHORIZATION` line per gRPC call.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("nginx-access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The logger publishing `lines` through `endpoint` with `credentials`, run to its end.
fn run_logger(
    dir: &Path,
    endpoint: &str,
    credentials: &Path,
    lines: &[String],
    configure: impl FnOnce(&mut Command),
) -> Output {
    let spool = dir.join("spool");
    let mut command = Command::new(binary());
    command
        .args([
            "--project",
            "test",
            "--topic",
            TOPIC,
            "--endpoint",
            endpoint,
        ])
        .arg("--credentials-file")
        .arg(credentials)
        .arg("--spool-dir")
        .arg(&spool)
        .args(["--shutdown-timeout", "3s"])
        .env_remove("PUBSUB_EMULATOR_HOST")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("start accesslog-pubsub");
    let mut stdin = child.stdin.take().expect("the logger's stdin");
    write_lines(&mut stdin, lines);
    drop(stdin);
    child.wait_with_output().expect("wait for accesslog-pubsub")
}

fn setup() -> Option<(TempDir, Emulator)> {
    if !prerequisites() {
        return None;
    }
    let emulator = Emulator::start()?;
    emulator.create_topic(TOPIC);
    emulator.create_subscription(SUBSCRIPTION, TOPIC);
    let dir = tempfile::Builder::new()
        .prefix("tls-")
        .tempdir()
        .expect("create the test's temp dir");
    Some((dir, emulator))
}

/// The decoded parts of a JWT: header, claims, and the signed bytes with their signature.
fn decode_jwt(token: &str) -> (Value, Value, Vec<u8>, Vec<u8>) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).expect("base64url");
    let header = serde_json::from_slice(&decode(parts[0])).expect("JWT header JSON");
    let claims = serde_json::from_slice(&decode(parts[1])).expect("JWT claims JSON");
    let signed = format!("{}.{}", parts[0], parts[1]).into_bytes();
    (header, claims, signed, decode(parts[2]))
}

/// Whether `signature` is an RS256 signature of `signed` by the key in `public_pem`.
fn verifies(dir: &Path, public_pem: &str, signed: &[u8], signature: &[u8]) -> bool {
    fs::write(dir.join("jwt.signed"), signed).expect("write the signed bytes");
    fs::write(dir.join("jwt.sig"), signature).expect("write the signature");
    Command::new("/usr/bin/openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            public_pem,
            "-signature",
            "jwt.sig",
            "jwt.signed",
        ])
        .current_dir(dir)
        .output()
        .expect("run openssl dgst")
        .status
        .success()
}

#[test]
fn every_line_arrives_over_tls_with_a_jwt_signed_by_the_service_account_key() {
    let Some((dir, emulator)) = setup() else {
        return;
    };
    let dir = dir.path();
    make_ca_and_server_cert(dir, "good");
    let key = make_service_account_key(dir);
    let nginx = Nginx::start(dir, "good", emulator.port());
    let trusted = TrustedCa::add(&dir.join("good-ca.crt"));

    let lines = sample_lines(500);
    let out = run_logger(dir, &nginx.endpoint(), &key, &lines, |_| {});
    drop(trusted);
    assert!(
        out.status.success(),
        "logger failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = emulator.pull_all(SUBSCRIPTION, lines.len(), PATIENCE);
    let ids: std::collections::BTreeSet<String> = pulled
        .iter()
        .map(|p| p.json()["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), lines.len(), "distinct records that arrived");

    let calls = nginx.calls();
    let publishes: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("POST /google.pubsub.v1.Publisher/Publish "))
        .collect();
    assert!(
        !publishes.is_empty(),
        "no Publish call went through nginx: {calls:?}"
    );
    for call in publishes {
        let token = call
            .split_once(" Bearer ")
            .map(|(_, t)| t.trim())
            .unwrap_or_else(|| panic!("a Publish call without a bearer token: {call}"));
        let (header, claims, signed, signature) = decode_jwt(token);
        assert_eq!(header["alg"], "RS256", "{header}");
        assert_eq!(header["kid"], KEY_ID, "{header}");
        assert_eq!(claims["iss"], CLIENT_EMAIL, "{claims}");
        assert_eq!(claims["sub"], CLIENT_EMAIL, "{claims}");
        assert!(
            verifies(dir, "sa-public.pem", &signed, &signature),
            "the JWT is not signed by the service account's key: {claims}"
        );
    }
}

/// The one line on the logger's stderr that mentions `what`; panics on a panic, or unless
/// exactly one line does.
fn the_line_about(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let matching: Vec<&str> = stderr.lines().filter(|l| l.contains(what)).collect();
    assert_eq!(
        matching.len(),
        1,
        "lines on stderr about {what:?}: {stderr}"
    );
    matching[0].to_owned()
}

#[test]
fn a_server_certificate_from_an_unknown_ca_gives_one_clear_line() {
    let Some((dir, emulator)) = setup() else {
        return;
    };
    let dir = dir.path();
    // Signed by a CA that is not in the trust store.
    make_ca_and_server_cert(dir, "stranger");
    let key = make_service_account_key(dir);
    let nginx = Nginx::start(dir, "stranger", emulator.port());

    let out = run_logger(dir, &nginx.endpoint(), &key, &sample_lines(10), |_| {});
    assert_eq!(out.status.code(), Some(1), "exit code");
    let line = the_line_about(&out, "certificate");
    assert!(
        line.contains("TLS refused the server's certificate (UnknownIssuer)")
            && line.contains("system trust store"),
        "{line}"
    );
    assert!(
        emulator
            .pull_all(SUBSCRIPTION, 0, Duration::from_secs(1))
            .is_empty(),
        "something arrived past a certificate that should be refused"
    );
}

#[test]
fn an_unreadable_key_file_gives_one_clear_line() {
    let Some((dir, emulator)) = setup() else {
        return;
    };
    let dir = dir.path();
    make_ca_and_server_cert(dir, "good");
    let key = make_service_account_key(dir);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod the key");
    let nginx = Nginx::start(dir, "good", emulator.port());
    // The logger runs as nobody, as it will once it drops privileges: root's 0600 key file
    // is unreadable to it. Its spool must be its own.
    let spool = dir.join("spool");
    fs::create_dir(&spool).expect("create the spool");
    // SAFETY: chown(2) on a path we created, with a NUL-terminated copy of it.
    let c_spool = std::ffi::CString::new(spool.to_string_lossy().as_bytes()).expect("no NUL");
    assert_eq!(unsafe { libc::chown(c_spool.as_ptr(), 65534, 65534) }, 0);
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod the temp dir");

    let out = run_logger(dir, &nginx.endpoint(), &key, &sample_lines(10), |c| {
        c.uid(65534).gid(65534);
    });
    assert_ne!(out.status.code(), Some(0), "exit code");
    let line = the_line_about(&out, &key.display().to_string());
    assert!(
        line.contains(&format!("credentials file {}", key.display()))
            && line.contains("Permission denied"),
        "{line}"
    );
    assert!(
        emulator
            .pull_all(SUBSCRIPTION, 0, Duration::from_secs(1))
            .is_empty(),
        "something arrived without credentials"
    );
}
