//! The publish loop: batches out of the spool -> Pub/Sub -> acknowledged back to the spool.
//!
//! - One spool batch (at most `batch_max_messages` records, all from one segment) is encoded
//!   into messages and handed to the `google-cloud-pubsub` publisher, which groups them into
//!   requests by the same thresholds. Several batches are in flight at once, up to
//!   `max_in_flight` messages, which bounds memory however slow Pub/Sub is.
//! - A batch is acknowledged to the spool only when every one of its messages was accepted
//!   by Pub/Sub (each message's own future resolved to a message id). Nothing is deleted on
//!   `flush()` or on a guess.
//! - Transient errors are retried inside the client, forever (see [`connect`]). Permanent
//!   ones (topic missing, permission denied, ...) come back here: the failed records stay in
//!   memory, are sent again after a backoff of 1 s doubling up to 10 s, and the trouble is
//!   reported on stderr, one line per kind per 30 s (see [`trouble`]).
//! - What the spool reports (segments adopted from a dead process, damage cut off or set
//!   aside, records dropped because it is full) goes to stderr within a second, rate-limited
//!   (see [`Notices`]).
//! - The loop ends when the spool is closed and drained and every batch acknowledged, or at
//!   the moment the caller gives up at (for the logger `shutdown_timeout` after the input
//!   ended). Whatever is not acknowledged then stays in the spool for the next run.

pub mod connect;
pub mod message;
pub mod trouble;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::error::PublishError;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::config::Config;
use crate::messages::{self, PerKind};
use crate::report::{Notices, Reporter};
use crate::spool::{Batch, SpoolError, SpoolReader};
use crate::stats::Stats;
use connect::{ConnectError, TransientErrors};
use message::MessageBuilder;
use trouble::Kind;

/// Backoff before records refused permanently are sent again.
const RESEND_INITIAL: Duration = Duration::from_secs(1);
const RESEND_MAX: Duration = Duration::from_secs(10);
/// Line bytes per spool batch at most (the JSON is about twice that).
const BATCH_LINE_BYTES: usize = 4 << 20;
/// How often the spool's events (damage, adoption, drops) are looked at and printed.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// How the publish loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Input ended and every record read was acknowledged by Pub/Sub.
    AllPublished,
    /// The shutdown deadline passed with records not acknowledged (they stay in the spool).
    DeadlinePassed,
}

/// What the publish loop needs from the rest of the program.
pub struct PublishContext {
    pub client: Publisher,
    pub topic: String,
    pub stats: Arc<Stats>,
    pub transient: Arc<TransientErrors>,
    /// Becomes `Some(when)` once there is a moment to give up at: the logger sets it to
    /// `shutdown_timeout` after the input ended (EOF, or the drain deadline after SIGTERM).
    /// At that moment the loop returns, leaving what is unacknowledged in the spool.
    pub give_up_at: watch::Receiver<Option<std::time::Instant>>,
}

/// The tokio runtime the publish loop and the Pub/Sub client run on: one thread, the caller's.
/// Stdin has its own thread, so one is enough for Pub/Sub, and with the emulator or other
/// work on the machine, worker threads cost more in switching than they overlap.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl PublishContext {
    /// Builds the client for the configured topic (no I/O towards Pub/Sub yet; needs a
    /// running tokio runtime).
    pub async fn connect(
        config: &Config,
        stats: Arc<Stats>,
        give_up_at: watch::Receiver<Option<std::time::Instant>>,
    ) -> Result<PublishContext, ConnectError> {
        let topic = connect::topic_path(config)?;
        let transient = Arc::new(TransientErrors::default());
        let client = connect::publisher(config, &topic, Arc::clone(&transient)).await?;
        Ok(PublishContext {
            client,
            topic,
            stats,
            transient,
            give_up_at,
        })
    }
}

/// A batch handed out by the spool and not yet acknowledged.
struct InFlight {
    batch: Batch,
    /// Records whose last send failed, waiting to be sent again.
    failed: Vec<u32>,
    attempts: u32,
}

/// The result of one send of (part of) a batch.
struct Sent {
    key: u64,
    sent: usize,
    failed: Vec<(u32, PublishError)>,
}

/// Publishes everything the spool hands out until it is closed and drained, or until the
/// shutdown deadline.
pub async fn run(
    spool: &mut SpoolReader,
    config: &Config,
    mut ctx: PublishContext,
) -> Result<Outcome, SpoolError> {
    let mut builder = MessageBuilder::new(config);
    let mut in_flight: HashMap<u64, InFlight> = HashMap::new();
    let mut in_flight_records = 0usize;
    let mut tasks: JoinSet<Sent> = JoinSet::new();
    let mut resends: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut limit = PerKind::new(trouble::REPEAT_AFTER);
    let mut reporter = Reporter::new(config.report.interval);
    let mut next_key = 0u64;
    let mut source_done = false;
    let mut give_up_at: Option<Instant> = None;
    let mut notices = Notices::default();
    let mut notice_tick = tokio::time::interval(NOTICE_INTERVAL);
    let batch_records = config.publish.batch_max_messages as usize;
    let started = Instant::now();
    let far_future = started + Duration::from_secs(86400 * 365);

    loop {
        if source_done && in_flight.is_empty() {
            notices.finish(spool, config);
            return Ok(Outcome::AllPublished);
        }
        if give_up_at.is_none() {
            give_up_at = (*ctx.give_up_at.borrow()).map(Instant::from_std);
        }
        let can_take =
            !source_done && in_flight_records + batch_records <= config.publish.max_in_flight;
        let next_resend = resends.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok(sent) = joined else { continue };
                let Some(entry) = in_flight.get_mut(&sent.key) else { continue };
                let ok = sent.sent - sent.failed.len();
                Stats::add(&ctx.stats.published, ok as u64);
                if sent.failed.is_empty() {
                    in_flight_records -= entry.batch.records.len();
                    if let Some(done) = in_flight.remove(&sent.key) {
                        spool.ack(done.batch.ticket);
                    }
                    continue;
                }
                Stats::add(&ctx.stats.publish_failures, sent.failed.len() as u64);
                let (_, first) = &sent.failed[0];
                let kind = trouble::classify(first);
                if kind != Kind::Shutdown
                    && kind != Kind::OrderingKeyPaused
                    && limit.allow(kind, std::time::Instant::now())
                {
                    messages::warn(trouble::describe(kind, first, &ctx.topic, sent.failed.len()));
                }
                entry.failed = sent.failed.into_iter().map(|(i, _)| i).collect();
                entry.attempts += 1;
                let backoff = RESEND_INITIAL
                    .saturating_mul(1 << (entry.attempts - 1).min(8))
                    .min(RESEND_MAX);
                resends.push(Reverse((Instant::now() + backoff, sent.key)));
            }
            _ = sleep_until(next_resend.unwrap_or(far_future)), if next_resend.is_some() => {
                let Some(Reverse((_, key))) = resends.pop() else { continue };
                let Some(entry) = in_flight.get_mut(&key) else { continue };
                let failed = std::mem::take(&mut entry.failed);
                let messages = builder.build(&entry.batch, &failed, false, &ctx.stats);
                resume_ordering_keys(&ctx.client, &messages);
                send(&mut tasks, &ctx.client, key, messages);
            }
            next = spool.next_batch(batch_records, BATCH_LINE_BYTES), if can_take => {
                let Some(batch) = next? else {
                    source_done = true;
                    continue;
                };
                let key = next_key;
                next_key += 1;
                let all: Vec<u32> = (0..batch.records.len() as u32).collect();
                let messages = builder.build(&batch, &all, true, &ctx.stats);
                in_flight_records += batch.records.len();
                send(&mut tasks, &ctx.client, key, messages);
                in_flight.insert(key, InFlight { batch, failed: Vec::new(), attempts: 0 });
            }
            changed = ctx.give_up_at.changed(), if give_up_at.is_none() => {
                if changed.is_err() {
                    // Whoever was to say when is gone without saying: give up now.
                    give_up_at = Some(Instant::now());
                }
            }
            _ = sleep_until(give_up_at.unwrap_or(far_future)), if give_up_at.is_some() => {
                if let Some(error) = ctx.transient.since(started.into_std()) {
                    messages::warn(format_args!(
                        "giving up for now on {}; the last error: {error}",
                        ctx.topic
                    ));
                }
                for (_, entry) in in_flight.drain() {
                    spool.abandon(entry.batch);
                }
                notices.finish(spool, config);
                return Ok(Outcome::DeadlinePassed);
            }
            _ = notice_tick.tick() => notices.print(spool, config),
            _ = reporter.tick() => {
                let transient = ctx.transient.since(reporter.last_report().into_std());
                let (level, line) = reporter.report(&ctx.stats, &spool.stats(), transient);
                messages::say(level, line);
            }
        }
    }
}

/// Hands the messages to the client and spawns the wait for their results.
fn send(
    tasks: &mut JoinSet<Sent>,
    client: &Publisher,
    key: u64,
    messages: Vec<(u32, google_cloud_pubsub::model::Message)>,
) {
    let futures: Vec<_> = messages
        .into_iter()
        .map(|(index, message)| (index, client.publish(message)))
        .collect();
    tasks.spawn(async move {
        let sent = futures.len();
        let mut failed = Vec::new();
        for (index, future) in futures {
            if let Err(e) = future.await {
                failed.push((index, e));
            }
        }
        Sent { key, sent, failed }
    });
}

/// After a permanent error the client pauses the records' ordering keys; resending needs them
/// resumed.
fn resume_ordering_keys(
    client: &Publisher,
    messages: &[(u32, google_cloud_pubsub::model::Message)],
) {
    let keys: HashSet<&str> = messages
        .iter()
        .map(|(_, m)| m.ordering_key.as_str())
        .filter(|k| !k.is_empty())
        .collect();
    for key in keys {
        client.resume_publish(key);
    }
}
