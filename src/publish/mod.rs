//! The publish loop: batches out of the spool -> Pub/Sub -> acknowledged back to the spool.
//!
//! - One spool batch (at most `batch_max_messages` records, all from one segment) is encoded
//!   into messages for the destination its segment records ([`route`]) and handed to that
//!   topic's `google-cloud-pubsub` publisher (one per topic, made when first needed), which
//!   groups them into requests by the same thresholds. Several batches are in flight at
//!   once, up to `max_in_flight` messages, which bounds memory however slow Pub/Sub is.
//! - A batch is acknowledged to the spool only when every one of its records was accepted
//!   by Pub/Sub (each message's own future resolved to a message id) or set aside as a
//!   dead letter. Nothing is deleted on `flush()` or on a guess.
//! - Transient errors are retried inside the client, forever (see [`connect`]). While there
//!   has been one since Pub/Sub last accepted a record, no further batch is taken: the
//!   batches in flight find out when it is back, and the backlog waits in the spool rather
//!   than as messages in memory.
//! - Permanent errors (topic missing, permission denied, ...) come back here: the failed
//!   records stay in memory, are sent again after a backoff of 1 s doubling up to 10 s,
//!   and the trouble is reported on stderr, one line per kind and topic per 30 s (see
//!   [`trouble`]).
//! - A record refused as INVALID_ARGUMENT may only share a request with a bad one (Pub/Sub
//!   refuses a whole request for one bad message, e.g. one its topic's schema rejects), so
//!   it is sent again at once, alone in its request. Refused alone, it can never be
//!   accepted: it is appended to the dead-letter file ([`dead_letter`]), counted, reported,
//!   and acknowledged like a published record, so it never blocks the rest. If the file
//!   cannot be written, the record is kept and tried again later instead.
//! - What the spool reports (segments adopted from a dead process, damage cut off or set
//!   aside, records dropped because it is full, orphans left for another destination) goes
//!   to stderr within a second, rate-limited (see [`Notices`]).
//! - The loop ends when the spool is closed and drained and every batch acknowledged, or at
//!   the moment the caller gives up at (for the logger `shutdown_timeout` after the input
//!   ended). Whatever is not acknowledged then stays in the spool for the next run.
//!
//! The sends are futures polled by the loop itself (no task is spawned per batch), so the
//! result of every send comes back to its batch.

pub mod connect;
pub mod dead_letter;
pub mod message;
pub mod route;
pub mod trouble;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use google_cloud_auth::credentials::Credentials;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::error::PublishError;
use google_cloud_pubsub::model::Message;
use thiserror::Error;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::clock;
use crate::config::Config;
use crate::destination::Destination;
use crate::live::Live;
use crate::messages::{self, PerKind};
use crate::record::RecordId;
use crate::report::{Notices, Reporter};
use crate::spool::{Batch, SpoolError, SpoolReader};
use crate::stats::Stats;
use connect::{Batching, ConnectError, TransientErrors};
use dead_letter::{DeadLetters, Letter};
use message::{LiveBuilder, MessageBuilder};
use route::{Redirect, Routes};
use trouble::Kind;

/// Backoff before records refused permanently are sent again.
const RESEND_INITIAL: Duration = Duration::from_secs(1);
const RESEND_MAX: Duration = Duration::from_secs(10);
/// Line bytes per spool batch at most (the JSON is about twice that).
const BATCH_LINE_BYTES: usize = 4 << 20;

/// How the publish loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Input ended and every record read was acknowledged by Pub/Sub (or set aside as a
    /// dead letter).
    AllPublished,
    /// The shutdown deadline passed with records not acknowledged (they stay in the spool).
    DeadlinePassed,
}

/// Why the publish loop stopped before its end.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// What the publish loop needs from the rest of the program.
pub struct PublishContext {
    pub routes: Routes,
    pub stats: Arc<Stats>,
    pub transient: Arc<TransientErrors>,
    /// Becomes `Some(when)` once there is a moment to give up at: the logger sets it to
    /// `shutdown_timeout` after the input ended (EOF, or the drain deadline after SIGTERM).
    /// At that moment the loop returns, leaving what is unacknowledged in the spool.
    pub give_up_at: watch::Receiver<Option<std::time::Instant>>,
}

impl PublishContext {
    /// Sends segments to their recorded destinations, those without one to `fallback`, all
    /// through `redirect`. The fallback's client is made now, so a bad credentials file is
    /// refused at once (no I/O towards Pub/Sub yet; needs a running tokio runtime).
    pub async fn connect(
        config: &Config,
        credentials: Credentials,
        fallback: Option<Destination>,
        redirect: Redirect,
        stats: Arc<Stats>,
        give_up_at: watch::Receiver<Option<std::time::Instant>>,
    ) -> Result<PublishContext, ConnectError> {
        let transient = Arc::new(TransientErrors::counting_into(Arc::clone(&stats)));
        let mut routes = Routes::new(
            fallback.clone(),
            redirect.clone(),
            credentials,
            Arc::clone(&transient),
        );
        if let Some(fallback) = fallback {
            routes
                .client(config, &redirect.apply(fallback), Batching::Configured)
                .await?;
        }
        Ok(PublishContext {
            routes,
            stats,
            transient,
            give_up_at,
        })
    }
}

/// A batch handed out by the spool and not yet acknowledged.
struct InFlight {
    batch: Batch,
    destination: Arc<Destination>,
    topic: String,
    /// Sends of (part of) the batch whose results are not back yet.
    sending: u32,
    /// Records whose last send failed, waiting to be sent again after a backoff.
    failed: Vec<u32>,
    attempts: u32,
}

/// The result of one send of (part of) a batch.
struct Sent {
    key: u64,
    /// Each message was alone in its request.
    alone: bool,
    sent: usize,
    failed: Vec<(u32, PublishError)>,
}

/// The sends whose results are awaited.
type Sending = FuturesUnordered<BoxFuture<'static, Sent>>;

/// Publishes everything the spool hands out until it is closed and drained, or until the
/// shutdown deadline.
pub async fn run(
    spool: &mut SpoolReader,
    live: &Live,
    mut ctx: PublishContext,
) -> Result<Outcome, Error> {
    let mut current = live.load();
    let mut builder = LiveBuilder::new(live);
    let mut dead = DeadLetters::new(&current.config.spool.dir);
    let mut in_flight: HashMap<u64, InFlight> = HashMap::new();
    let mut in_flight_records = 0usize;
    let mut sending: Sending = FuturesUnordered::new();
    let mut resends: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut limit = PerKind::new(trouble::REPEAT_AFTER);
    let mut reporter = Reporter::new(current.config.report.interval);
    let mut next_key = 0u64;
    let mut source_done = false;
    let mut give_up_at: Option<Instant> = None;
    let mut notices = Notices::default();
    let news = spool.news();
    let started = Instant::now();
    // When Pub/Sub last accepted records: transient errors since then mean it is not
    // reachable, and the batches in flight are enough to find out when it is again.
    let mut last_accepted = started;
    let far_future = started + Duration::from_secs(86400 * 365);

    loop {
        // One snapshot of the configuration per turn; a new one (a reload) rebuilds what
        // is made from it. Batches in flight keep their clients and destinations. The
        // message builder is looked at again whenever it is used (`LiveBuilder`).
        let latest = live.load();
        if latest.generation != current.generation {
            ctx.routes
                .reconfigure(latest.config.destination(), latest.credentials.clone());
            if latest.config.report.interval != current.config.report.interval {
                reporter = Reporter::new(latest.config.report.interval);
            }
            current = latest;
        }
        let config = &current.config;
        let batch_records = config.publish.batch_max_messages as usize;
        if source_done && in_flight.is_empty() {
            notices.finish(spool, config);
            return Ok(Outcome::AllPublished);
        }
        if give_up_at.is_none() {
            give_up_at = (*ctx.give_up_at.borrow()).map(Instant::from_std);
        }
        let unreachable =
            !in_flight.is_empty() && ctx.transient.since(last_accepted.into_std()).is_some();
        let can_take = !source_done
            && !unreachable
            && in_flight_records + batch_records <= config.publish.max_in_flight;
        let next_resend = resends.peek().map(|Reverse((at, _))| *at);
        let notices_due = notices.due(spool.dropped_records()).map(Instant::from_std);
        tokio::select! {
            Some(sent) = sending.next(), if !sending.is_empty() => {
                let Some(entry) = in_flight.get_mut(&sent.key) else { continue };
                entry.sending -= 1;
                if sent.sent > sent.failed.len() {
                    last_accepted = Instant::now();
                }
                Stats::add(&ctx.stats.published, (sent.sent - sent.failed.len()) as u64);
                for (_, error) in &sent.failed {
                    ctx.stats.publish_error(trouble::classify(error), 1);
                }
                let mut suspects = Vec::new();
                let mut refused = Vec::new();
                let mut retry = Vec::new();
                for (index, error) in sent.failed {
                    match (trouble::refused(&error), sent.alone) {
                        (true, false) => suspects.push(index),
                        (true, true) => refused.push((index, error)),
                        (false, _) => retry.push((index, error)),
                    }
                }
                if !suspects.is_empty() {
                    let messages = builder.get(live).build(
                        &entry.batch, &entry.destination, &suspects, false, &ctx.stats,
                    );
                    let client = ctx
                        .routes
                        .client(config, &entry.destination, Batching::OnePerRequest)
                        .await?;
                    resume_ordering_keys(&client, &messages);
                    Stats::add(&ctx.stats.resent, messages.len() as u64);
                    sending.push(send(&client, sent.key, true, messages));
                    entry.sending += 1;
                }
                if !refused.is_empty() {
                    let say = limit.allow((Kind::Rejected, entry.topic.clone()), std::time::Instant::now());
                    if let Err(kept) = set_aside(entry, refused, builder.get(live), &mut dead, &ctx.stats, say) {
                        retry.extend(kept);
                    }
                }
                if let Some((_, first)) = retry.first() {
                    let kind = trouble::classify(first);
                    if kind != Kind::Shutdown
                        && kind != Kind::OrderingKeyPaused
                        && limit.allow((kind, entry.topic.clone()), std::time::Instant::now())
                    {
                        messages::warn(trouble::describe(kind, first, &entry.topic, retry.len()));
                    }
                    let was_waiting = !entry.failed.is_empty();
                    entry.failed.extend(retry.into_iter().map(|(i, _)| i));
                    if !was_waiting {
                        entry.attempts += 1;
                        let backoff = RESEND_INITIAL
                            .saturating_mul(1 << (entry.attempts - 1).min(8))
                            .min(RESEND_MAX);
                        resends.push(Reverse((Instant::now() + backoff, sent.key)));
                    }
                }
                if entry.sending == 0 && entry.failed.is_empty() {
                    in_flight_records -= entry.batch.records.len();
                    if let Some(done) = in_flight.remove(&sent.key) {
                        let read_at = done.batch.records.iter().map(|r| r.received_at_us);
                        ctx.stats.latency.record(read_at, clock::now_us());
                        spool.ack(done.batch.ticket);
                    }
                }
            }
            _ = sleep_until(next_resend.unwrap_or(far_future)), if next_resend.is_some() => {
                let Some(Reverse((_, key))) = resends.pop() else { continue };
                let Some(entry) = in_flight.get_mut(&key) else { continue };
                if entry.failed.is_empty() {
                    continue;
                }
                let failed = std::mem::take(&mut entry.failed);
                let messages =
                    builder.get(live).build(&entry.batch, &entry.destination, &failed, false, &ctx.stats);
                let client = ctx
                    .routes
                    .client(config, &entry.destination, Batching::Configured)
                    .await?;
                resume_ordering_keys(&client, &messages);
                Stats::add(&ctx.stats.resent, messages.len() as u64);
                sending.push(send(&client, key, false, messages));
                entry.sending += 1;
            }
            next = spool.next_due_batch(batch_records, BATCH_LINE_BYTES, config.publish.batch_max_delay), if can_take => {
                let Some(batch) = next? else {
                    source_done = true;
                    continue;
                };
                let Some(destination) = ctx.routes.destination(&batch.stream) else {
                    messages::warn(format_args!(
                        "spool: {} records of stream {:016x} have no destination to go to \
                         ({}); left in the spool",
                        batch.len(),
                        batch.stream.stream,
                        batch.stream.route
                    ));
                    spool.abandon(batch);
                    continue;
                };
                let key = next_key;
                next_key += 1;
                let all: Vec<u32> = (0..batch.records.len() as u32).collect();
                let messages = builder.get(live).build(&batch, &destination, &all, true, &ctx.stats);
                let client = ctx.routes.client(config, &destination, Batching::Configured).await?;
                in_flight_records += batch.records.len();
                sending.push(send(&client, key, false, messages));
                in_flight.insert(key, InFlight {
                    batch,
                    topic: destination.topic_path(),
                    destination,
                    sending: 1,
                    failed: Vec::new(),
                    attempts: 0,
                });
            }
            changed = ctx.give_up_at.changed(), if give_up_at.is_none() => {
                if changed.is_err() {
                    // Whoever was to say when is gone without saying: give up now.
                    give_up_at = Some(Instant::now());
                }
            }
            _ = sleep_until(give_up_at.unwrap_or(far_future)), if give_up_at.is_some() => {
                if let Some(error) = ctx.transient.since(started.into_std()) {
                    let topics: BTreeSet<&str> =
                        in_flight.values().map(|e| e.topic.as_str()).collect();
                    let on = if topics.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", topics.into_iter().collect::<Vec<_>>().join(", "))
                    };
                    messages::warn(format_args!("giving up for now{on}; the last error: {error}"));
                }
                for (_, entry) in in_flight.drain() {
                    spool.abandon(entry.batch);
                }
                spool.abandon_memory();
                notices.finish(spool, config);
                return Ok(Outcome::DeadlinePassed);
            }
            () = news.notified() => notices.print(spool, config),
            () = sleep_until(notices_due.unwrap_or(far_future)), if notices_due.is_some() => {
                notices.print(spool, config);
            }
            _ = reporter.tick() => {
                let transient = ctx.transient.since(reporter.last_report().into_std());
                let (level, line) = reporter.report(&ctx.stats, &spool.stats(), transient);
                messages::say(level, line);
            }
        }
    }
}

/// Sets aside records Pub/Sub refused alone in their request: appended to the dead-letter
/// file and counted, so the batch can be acknowledged without them; said on stderr if
/// `say`, and always when the file cannot be written (`Err` then gives them back).
fn set_aside(
    entry: &InFlight,
    refused: Vec<(u32, PublishError)>,
    builder: &mut MessageBuilder,
    dead: &mut DeadLetters,
    stats: &Stats,
    say: bool,
) -> Result<(), Vec<(u32, PublishError)>> {
    let indices: Vec<u32> = refused.iter().map(|(i, _)| *i).collect();
    let messages = builder.build(&entry.batch, &entry.destination, &indices, false, stats);
    let letters: Vec<Letter<'_>> = (messages.iter().zip(&refused))
        .map(|((index, message), (_, error))| {
            let id = RecordId {
                stream: entry.batch.stream.stream,
                seq: entry.batch.records[*index as usize].seq,
            };
            Letter::new(&entry.topic, id.to_string(), error.to_string(), message)
        })
        .collect();
    match dead.append(&letters) {
        Ok(()) => {
            Stats::add(&stats.dead_lettered, letters.len() as u64);
            if !say {
                return Ok(());
            }
            messages::error(format_args!(
                "Pub/Sub refused {} records for {} as invalid ({}); set aside in {}, not sent \
                 again",
                letters.len(),
                entry.topic,
                refused[0].1,
                dead.path().display()
            ));
            Ok(())
        }
        Err(e) => {
            messages::error(format_args!(
                "Pub/Sub refused {} records for {} as invalid, and they cannot be set aside \
                 in {}: {e}; kept, tried again later",
                letters.len(),
                entry.topic,
                dead.path().display()
            ));
            Err(refused)
        }
    }
}

/// Hands the messages to the client; the future resolves with their results.
fn send(
    client: &Publisher,
    key: u64,
    alone: bool,
    messages: Vec<(u32, Message)>,
) -> BoxFuture<'static, Sent> {
    let futures: Vec<_> = messages
        .into_iter()
        .map(|(index, message)| (index, client.publish(message)))
        .collect();
    // The batch is complete (the spool handed it out full, or due): send it now rather
    // than after the client's own delay.
    let client = client.clone();
    Box::pin(async move {
        client.flush().await;
        let sent = futures.len();
        let mut failed = Vec::new();
        for (index, future) in futures {
            if let Err(e) = future.await {
                failed.push((index, e));
            }
        }
        Sent {
            key,
            alone,
            sent,
            failed,
        }
    })
}

/// After a permanent error the client pauses the records' ordering keys; resending needs them
/// resumed.
fn resume_ordering_keys(client: &Publisher, messages: &[(u32, Message)]) {
    let keys: HashSet<&str> = messages
        .iter()
        .map(|(_, m)| m.ordering_key.as_str())
        .filter(|k| !k.is_empty())
        .collect();
    for key in keys {
        client.resume_publish(key);
    }
}
