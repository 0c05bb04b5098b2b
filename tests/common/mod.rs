//! Shared harness for the integration tests: each test file that needs it says `mod common;`.
//! It runs a private Pub/Sub emulator per test (`Emulator`), talks to it over REST, runs the
//! logger as a real process (`logger`), cuts the network in between (`Proxy`), and finds
//! the program's binary for CLI tests.

// Each integration test file compiles this module on its own and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod emulator;
pub mod logger;
pub mod proxy;

use std::path::PathBuf;

pub use emulator::{Emulator, Pulled};

/// The `accesslog-pubsub` binary that cargo built for this test run.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_accesslog-pubsub"))
}
