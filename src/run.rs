//! The piped logger: wires stdin reader -> spool -> publisher, and ends them in order.
//!
//! Threads:
//! - the reader, a plain thread: read stdin, cut lines, append them to the spool, read
//!   again. It waits on nothing but `read()`, the spool's `write()` into the page cache and,
//!   after a read that emptied the pipe, lines gathering in it ([`crate::pipe`], at most
//!   `read_coalesce`), so Apache's pipe is drained at full speed whatever Pub/Sub does;
//! - the main thread, which runs the publisher's single-threaded tokio runtime
//!   ([`startup::runtime`]): the publish loop and the Pub/Sub client's own tasks;
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
use crate::handover::{self, Handover};
use crate::live::Live;
use crate::messages::{self, PerKind};
use crate::metrics;
use crate::ownership;
use crate::pipe::Gather;
use crate::publish::connect::{self, ConnectError};
use crate::publish::route::Redirect;
use crate::publish::{self, Outcome, PublishContext};
use crate::reader::LineReader;
use crate::shutdown::{Asked, Shutdown};
use crate::spool::{
    self, AppendError, LineIn, SpoolError, SpoolOptions, SpoolWriter, StreamContext, StreamKind,
};
use crate::startup::{self, Prepared};
use crate::stats::Stats;

/// Longest line kept whole without a usable configuration (the largest `max_line_bytes`).
const UNCONFIGURED_MAX_LINE: usize = 1 << 20;
/// After SIGTERM, how long a logger without a usable configuration keeps reading (the
/// default `drain_timeout`: it has no usable one of its own).
const UNCONFIGURED_DRAIN: Duration = Duration::from_secs(30);
/// How often the trouble of a logger without a usable configuration is said again.
const UNCONFIGURED_REPEAT: Duration = Duration::from_secs(60);

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

/// Runs the piped logger on `input` (lines gathering in it between reads with `gather`, for
/// stdin's pipe), with what [`crate::startup::prepare`] made ready, until the input ends and
/// the shutdown is done.
pub fn run(
    config: &Config,
    prepared: Prepared,
    input: impl Read + Send + 'static,
    gather: Option<Gather>,
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
            let live = Some(&*reader_live);
            if let Err(e) = read_into_spool(input, live, None, gather, writer, &reader_stats) {
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
    let counters = outputs.counters();
    let lost: u64 = counters.dropped_by_reason().iter().map(|(_, n)| n).sum();
    if lost > 0 {
        messages::warn(format_args!(
            "{lost} lines were lost (see dropped_records); at exit {}",
            counters.line()
        ));
    }
    let outcome = outcome?;
    Ok(match outcome {
        Outcome::AllPublished => Finish::Clean,
        Outcome::DeadlinePassed => Finish::Unpublished {
            records: spool_reader.stats().records,
        },
    })
}

/// The reader thread: stdin -> lines -> spool, until EOF, or until `handover` asks it to
/// stop (then at the first point where no line is half read). A failing spool costs the
/// lines of that read (counted and reported), never the reading itself. After each read it
/// looks at the configuration in force: a new one (a reload) starts a new segment for the
/// lines of that read on. After a read that emptied the pipe it lets lines gather in it
/// (`gather`, for up to `read_coalesce`).
fn read_into_spool(
    input: impl Read,
    live: Option<&Live>,
    handover: Option<&Handover>,
    gather: Option<Gather>,
    mut writer: SpoolWriter,
    stats: &Stats,
) -> Result<(), SpoolError> {
    let mut generation = live.map_or(0, |live| live.load().generation);
    let max_line = live.map_or(UNCONFIGURED_MAX_LINE, |l| {
        l.load().config.input.max_line_bytes
    });
    let mut reader = LineReader::new(input, max_line);
    // Lines lost, and lines spooled with trouble, are reported apart.
    let mut trouble = PerKind::new(publish::trouble::REPEAT_AFTER);
    let stop_asked = || handover.is_some_and(Handover::asked);
    // Whether the last read ended inside a line.
    let mut mid_line = false;
    // How long to wait after a read that emptied the pipe (none without a configuration).
    let mut coalesce = Duration::ZERO;
    // The last append could not write the spool; lines held in memory since it began failing.
    let mut unwritable = false;
    let mut held = 0u64;
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if handover::is_asked(&e) => {
                if mid_line {
                    continue;
                }
                break;
            }
            Err(e) => {
                messages::error(format_args!("reading stdin failed, stopping: {e}"));
                break;
            }
        };
        let received_at_us = clock::now_us();
        let emptied = chunk.emptied();
        if let Some(current) = live.map(Live::load) {
            coalesce = current.config.input.read_coalesce;
            if current.generation != generation {
                generation = current.generation;
                if let Err(e) = writer.switch(current.config.stream_context()) {
                    messages::error(format_args!(
                        "reload: cannot start a spool segment for the new configuration: {e}"
                    ));
                }
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
        mid_line = !unfinished.bytes.is_empty();
        match writer.append_read(&lines, Some(unfinished)) {
            Ok(()) if unwritable => {
                unwritable = false;
                messages::note(format_args!(
                    "the spool can be written again: lines are spooled again ({held} were held \
                     in memory meanwhile)"
                ));
                held = 0;
            }
            Ok(()) => {}
            Err(e) => {
                Stats::add(&stats.spool_write_failures, e.lost());
                if let AppendError::NotWritten { held: h, .. } = e {
                    held += h;
                    unwritable = true;
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
        }
        Stats::add(&stats.lines_read, count);
        let read = reader.stats();
        stats.blank_lines.store(read.blank_lines, Ordering::Relaxed);
        stats
            .truncated_lines
            .store(read.truncated_lines, Ordering::Relaxed);
        if !mid_line && stop_asked() {
            break;
        }
        if let Some(gather) = gather.filter(|_| emptied && !coalesce.is_zero()) {
            // Lines written meanwhile wait in the pipe, and the next read takes them all.
            gather.wait(coalesce);
        }
    }
    writer.close()
}

/// What a logger without a usable configuration did with the lines it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// In the spool, unconfigured, for the next logger with a usable configuration.
    pub kept: u64,
    /// Read and dropped, the spool being unusable too.
    pub dropped: u64,
}

/// How a logger without a usable configuration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconfigured {
    /// The input ended (or the drain after SIGTERM did).
    Ended(Kept),
    /// A SIGHUP found the configuration usable; the reader stopped between two lines with
    /// everything it read in the spool, and stdin is left for a new start to read on.
    Usable(Kept),
}

/// The piped logger without a usable configuration (`problem` says why): it never stops
/// reading, or httpd's workers would block on the pipe. Lines go into unconfigured spool
/// segments (no destination; parsed later with the format of whoever sends them) in
/// `spool.dir`, prepared as the process runs (no privileges dropped: no account is known);
/// if that directory cannot be used either, lines are read and counted as dropped. The
/// trouble is said at start and once a minute. Nothing is published: the next logger with a
/// usable configuration (after `apachectl graceful`) takes the segments over. At each SIGHUP
/// `usable` says whether the configuration can be used now (or why not); once it can, the
/// reader stops between two lines and this returns [`Unconfigured::Usable`] so the caller
/// can start again with it. Otherwise ends at end of input, or `drain` after SIGTERM.
pub fn run_unconfigured(
    spool: SpoolOptions,
    problem: &str,
    usable: &dyn Fn() -> Result<(), String>,
    shutdown: &mut Shutdown,
) -> Result<Unconfigured, RunError> {
    // Nothing publishes here: lines the spool cannot take are lost, not held in memory.
    let spool = SpoolOptions {
        memory_max_bytes: 0,
        ..spool
    };
    let dir = spool.dir.clone();
    let opened = ownership::prepare_spool_dir(&dir, None, true)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            let ctx = StreamContext {
                kind: StreamKind::AccessLog,
                format: String::new(),
                host: String::new(),
                destination: None,
            };
            spool::open(spool, ctx).map_err(|e| e.to_string())
        });
    let (writer, _spool_reader, spool_trouble) = match opened {
        Ok((writer, reader)) => (Some(writer), Some(reader), None),
        Err(e) => (None, None, Some(e)),
    };
    let say = |read: u64| match &spool_trouble {
        None => messages::error(format_args!(
            "the configuration cannot be used: {problem}. Nothing is published until it is \
             fixed: {read} lines so far are kept unparsed in the spool {}, for the next logger \
             with a usable configuration (fix it, then `kill -HUP` this logger or \
             apachectl graceful; `accesslog-pubsub check` says what is wrong)",
            dir.display()
        )),
        Some(e) => messages::error(format_args!(
            "the configuration cannot be used: {problem}; and the spool cannot be used \
             either ({e}): {read} lines so far were read and DROPPED (fix both, then \
             `kill -HUP` this logger or apachectl graceful; `accesslog-pubsub check` says \
             what is wrong)"
        )),
    };
    say(0);
    let handover = Handover::new().map_err(RunError::Start)?;
    let stats = Arc::new(Stats::default());
    let (ended_tx, mut ended) = watch::channel(false);
    let reader_stats = Arc::clone(&stats);
    let reader_handover = handover.clone();
    thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let input = reader_handover.input();
            let result = match writer {
                Some(writer) => read_into_spool(
                    input,
                    None,
                    Some(&reader_handover),
                    None,
                    writer,
                    &reader_stats,
                ),
                None => {
                    drop_lines(input, &reader_handover, &reader_stats);
                    Ok(())
                }
            };
            if let Err(e) = result {
                messages::error(format_args!("reading stdin: {e}"));
            }
            ended_tx.send_replace(true);
        })
        .map_err(RunError::Start)?;
    let mut reload = shutdown.reload_asked();
    let runtime = startup::runtime().map_err(RunError::Start)?;
    runtime.block_on(async {
        let start = tokio::time::Instant::now() + UNCONFIGURED_REPEAT;
        let mut repeat = tokio::time::interval_at(start, UNCONFIGURED_REPEAT);
        let mut drain_end = None;
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(86400);
            tokio::select! {
                _ = ended.wait_for(|ended| *ended) => break,
                () = shutdown.requested(), if drain_end.is_none() => {
                    drain_end = Some(tokio::time::Instant::now() + UNCONFIGURED_DRAIN);
                }
                () = tokio::time::sleep_until(drain_end.unwrap_or(far)), if drain_end.is_some() => break,
                _ = repeat.tick() => say(stats.lines_read.load(Ordering::Relaxed)),
                () = reload.next(), if !handover.asked() => match usable() {
                    Ok(()) => handover.ask(),
                    Err(e) => messages::error(format_args!(
                        "reload: the configuration still cannot be used: {e}"
                    )),
                },
            }
        }
    });
    let read = stats.lines_read.load(Ordering::Relaxed);
    let dropped = stats.spool_write_failures.load(Ordering::Relaxed);
    let kept = Kept {
        kept: read.saturating_sub(dropped),
        dropped,
    };
    Ok(if handover.asked() {
        Unconfigured::Usable(kept)
    } else {
        Unconfigured::Ended(kept)
    })
}

/// Reads `input` to its end, or until `handover` asks it to stop between two lines, and
/// counts its lines as read and dropped.
fn drop_lines(input: impl Read, handover: &Handover, stats: &Stats) {
    let mut reader = LineReader::new(input, UNCONFIGURED_MAX_LINE);
    let mut mid_line = false;
    loop {
        match reader.next_chunk() {
            Ok(Some(chunk)) => {
                let count = chunk.lines().len() as u64;
                mid_line = !chunk.unfinished().is_empty();
                Stats::add(&stats.lines_read, count);
                Stats::add(&stats.spool_write_failures, count);
                if !mid_line && handover.asked() {
                    break;
                }
            }
            Err(e) if handover::is_asked(&e) && mid_line => {}
            Ok(None) | Err(_) => break,
        }
    }
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
