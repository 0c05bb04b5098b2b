//! Shared harness for the integration tests: each test file that needs it says `mod common;`.
//! It runs a private Pub/Sub emulator per test (`Emulator`), talks to it over REST, runs the
//! logger as a real process (`logger`), cuts the network in between (`Proxy`), runs a real
//! Debian httpd with the logger in its log pipe (`apache`), and finds the program's binary.

// Each integration test file compiles this module on its own and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod apache;
pub mod emulator;
pub mod logger;
pub mod proxy;

use std::path::PathBuf;

pub use emulator::{Emulator, Pulled};

/// Set to `1` to test the installed `/usr/bin/accesslog-pubsub` (from the .deb) instead of
/// the binary cargo built; CI does so for the Apache tests after installing the package.
pub const INSTALLED_VAR: &str = "ACCESSLOG_PUBSUB_INSTALLED";

/// The `accesslog-pubsub` binary under test: the one cargo built for this test run, or the
/// installed one when `ACCESSLOG_PUBSUB_INSTALLED=1`.
pub fn binary() -> PathBuf {
    if std::env::var(INSTALLED_VAR).as_deref() == Ok("1") {
        let installed = PathBuf::from("/usr/bin/accesslog-pubsub");
        assert!(
            installed.exists(),
            "{INSTALLED_VAR}=1 tests {}, which is not there: install the package first \
             (packaging/build.sh, then apt install ./target/debian/*.deb)",
            installed.display()
        );
        installed
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_accesslog-pubsub"))
    }
}

/// Under `CI=true` a missing dependency fails the test (panics with `why`); elsewhere the
/// test is skipped with `SKIPPED: <test>: <why>` on stderr, past libtest's capture.
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}; CI must have it installed");
    }
    let current = std::thread::current();
    let test = current.name().unwrap_or("unnamed test");
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}
