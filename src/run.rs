//! The piped logger: wires stdin reader -> spool -> publisher, and ends them in order.
//!
//! Threads:
//! - the reader, a plain thread: read stdin, cut lines, append them to the spool, read
//!   again. It waits on nothing but `read()` and the spool's `write()` into the page cache,
//!   so Apache's pipe is drained at full speed whatever Pub/Sub does;
//! - the main thread, which runs the publisher's single-threaded tokio runtime
//!   ([`publish::runtime`]): the publish loop and the Pub/Sub client's own tasks;
//! - the spool's background thread (fsync, rescans);
//! - the signal thread ([`crate::shutdown`]).
//!
//! Shutdown: the input ends at EOF, or `drain_timeout` after SIGTERM/SIGINT (Apache's old
//! workers keep writing into the pipe after it sends SIGTERM, and EOF comes when the last
//! one exits). From then on the publisher has `shutdown_timeout` to get everything
//! acknowledged; what is not stays in the spool for the next run. A second SIGTERM/SIGINT
//! exits at once (the spool still holds everything read).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::watch;

use crate::clock;
use crate::config::Config;
use crate::live::Live;
use crate::messages::{self, PerKind};
use crate::metrics;
use crate::publish::connect::{self, ConnectError};
use crate::publish::route::Redirect;
use crate::publish::{self, Outcome, PublishContext};
use crate::reader::LineReader;
use crate::shutdown::{Asked, Shutdown};
use crate::spool::{self, LineIn, SpoolError, SpoolWriter};
use crate::startup::Prepared;
use crate::stats::Stats;

/// Size asked for the stdin pipe (Linux default: 64 KiB), so bursts fit while we write.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Why the logger could not run.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("cannot start: {0}")]
    Start(io::Error),
}

impl From<publish::Error> for RunError {
    fn from(e: publish::Error) -> RunError {
        match e {
            publish::Error::Spool(e) => RunError::Spool(e),
            publish::Error::Connect(e) => RunError::Connect(e),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Everything read was published.
    Clean,
    /// The shutdown deadline passed with records not yet published (they are in the spool).
    Unpublished { records: u64 },
}

/// Runs the piped logger on `input`, with what [`crate::startup::prepare`] made ready, until the input ends and the shutdown is done.
pub fn run(
    config: &Config,
    prepared: Prepared,
    input: impl Read + Send + 'static,
    shutdown: Shutdown,
) -> Result<Finish, RunError> {
    // Refuse a configuration without a topic before anything is spooled.
    let destination = connect::destination(config)?;
    let (writer, mut spool_reader) = spool::open(config.spool.clone(), config.stream_context())?;
    let stats = Arc::new(Stats::default());
    let (end_tx, give_up_at) = watch::channel(None);
    let end = Arc::new(InputEnd {
        give_up_at: end_tx,
        shutdown_timeout: config.shutdown.timeout,
    });

    let Prepared {
        runtime,
        credentials,
        ..
    } = prepared;
    let live = Arc::new(Live::new(config.clone(), credentials.clone()));
    let reader_stats = Arc::clone(&stats);
    let reader_end = Arc::clone(&end);
    let reader_live = Arc::clone(&live);
    thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            if let Err(e) = read_into_spool(input, &reader_live, writer, &reader_stats) {
                messages::error(format_args!("reading stdin: {e}"));
            }
            reader_end.now();
        })
        .map_err(RunError::Start)?;

    let outputs = metrics::Outputs::new(&config.report, Arc::clone(&stats), spool_reader.probe());
    let counters_asked = shutdown.counters_asked();
    let reload_asked = shutdown.reload_asked();
    let outcome = runtime.block_on(async {
        outputs.start(counters_asked);
        let ctx = PublishContext::connect(
            config,
            credentials,
            Some(destination),
            Redirect::default(),
            Arc::clone(&stats),
            give_up_at,
        )
        .await?;
        tokio::spawn(end_input_after_drain(
            shutdown,
            config.shutdown.drain_timeout,
            Arc::clone(&end),
        ));
        tokio::spawn(reload_when_asked(
            reload_asked,
            Arc::clone(&live),
            Arc::clone(&stats),
        ));
        Ok::<_, RunError>(publish::run(&mut spool_reader, &live, ctx).await?)
    });
    outputs.finish();
    let outcome = outcome?;
    Ok(match outcome {
        Outcome::AllPublished => Finish::Clean,
        Outcome::DeadlinePassed => Finish::Unpublished {
            records: spool_reader.stats().records,
        },
    })
}

/// The reader thread: stdin -> lines -> spool, until EOF. A failing spool costs the lines of
/// that read (counted and reported), never the reading itself. After each read it looks at
/// the configuration in force: a new one (a reload) starts a new segment for the lines of
/// that read on.
fn read_into_spool(
    input: impl Read,
    live: &Live,
    mut writer: SpoolWriter,
    stats: &Stats,
) -> Result<(), SpoolError> {
    let mut generation = live.load().generation;
    let mut reader = LineReader::new(input, live.load().config.input.max_line_bytes);
    // Lines lost, and lines spooled with trouble, are reported apart.
    let mut trouble = PerKind::new(publish::trouble::REPEAT_AFTER);
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                messages::error(format_args!("reading stdin failed, stopping: {e}"));
                break;
            }
        };
        let received_at_us = clock::now_us();
        let current = live.load();
        if current.generation != generation {
            generation = current.generation;
            if let Err(e) = writer.switch(current.config.stream_context()) {
                messages::error(format_args!(
                    "reload: cannot start a spool segment for the new configuration: {e}"
                ));
            }
        }
        let lines: Vec<LineIn<'_>> = chunk
            .lines()
            .map(|line| LineIn {
                bytes: line.bytes,
                received_at_us,
                truncated: line.truncated,
            })
            .collect();
        let count = lines.len() as u64;
        let unfinished = LineIn {
            bytes: chunk.unfinished(),
            received_at_us,
            truncated: false,
        };
        if let Err(e) = writer.append_read(&lines, Some(unfinished)) {
            if !e.written() {
                Stats::add(&stats.spool_write_failures, count);
            }
            if trouble.allow(e.written(), Instant::now()) {
                let text = format_args!("{count} lines {e}");
                if e.written() {
                    messages::warn(text);
                } else {
                    messages::error(text);
                }
            }
        }
        Stats::add(&stats.lines_read, count);
        let read = reader.stats();
        stats.blank_lines.store(read.blank_lines, Ordering::Relaxed);
        stats
            .truncated_lines
            .store(read.truncated_lines, Ordering::Relaxed);
    }
    writer.close()
}

/// Reloads the configuration at each SIGHUP; says what came of it in one line and counts
/// the reloads that took effect.
async fn reload_when_asked(mut reload: Asked, live: Arc<Live>, stats: Arc<Stats>) {
    loop {
        reload.next().await;
        match live.reload() {
            Ok(current) => {
                Stats::add(&stats.reloads, 1);
                let config = &current.config;
                let from = config
                    .file
                    .as_ref()
                    .map_or_else(|| "the flags".to_string(), |f| f.display().to_string());
                let to =
                    connect::destination(config).map_or_else(|e| e.to_string(), |d| d.to_string());
                messages::note(format_args!(
                    "reload: configuration {} from {from} in force: format {:?}, to {to}",
                    current.generation,
                    config.input.format.source()
                ));
            }
            Err(e) => messages::error(format_args!(
                "reload refused, the configuration in force stays: {e}"
            )),
        }
    }
}

/// Ends the input `drain` after the first SIGTERM/SIGINT, if EOF has not come by then.
async fn end_input_after_drain(mut shutdown: Shutdown, drain: Duration, end: Arc<InputEnd>) {
    shutdown.requested().await;
    tokio::time::sleep(drain).await;
    end.now();
}

/// Tells the publish loop when the input ended, by the moment it is to give up at.
struct InputEnd {
    give_up_at: watch::Sender<Option<Instant>>,
    shutdown_timeout: Duration,
}

impl InputEnd {
    /// The input ended now, unless it already had: give up `shutdown_timeout` from now.
    fn now(&self) {
        let at = Instant::now() + self.shutdown_timeout;
        self.give_up_at.send_if_modified(|end| {
            let first = end.is_none();
            if first {
                *end = Some(at);
            }
            first
        });
    }
}

/// Asks for a bigger stdin pipe (as root, past `/proc/sys/fs/pipe-max-size`, so before
/// privileges are dropped); not a pipe, or not allowed: nothing changes.
pub fn enlarge_stdin_pipe() {
    // SAFETY: fcntl on fd 0 with F_SETPIPE_SZ only changes the pipe's capacity; on anything
    // that is not a pipe it fails with EBADF/EINVAL, which is ignored.
    unsafe {
        libc::fcntl(0, libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
}
