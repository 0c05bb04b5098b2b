//! `accesslog-pubsub spool replay`: opens the spool to send only (it creates nothing), takes
//! over every segment no running logger holds and sends each to the destination it records
//! (those that record none, to the configured one; `--to-project`/`--to-topic` move them all
//! on purpose), then exits: 0 once everything it took is acknowledged, 1 when stopped
//! (SIGINT, SIGTERM or `--timeout`) with records left, which stay in the spool. On a
//! terminal it draws a progress bar on stderr.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::watch;

use crate::config::Config;
use crate::destination::Destination;
use crate::live::Live;
use crate::messages;
use crate::publish::connect::ConnectError;
use crate::publish::route::Redirect;
use crate::publish::{self, Outcome, PublishContext};
use crate::shutdown;
use crate::spool::{self, Adopt, SpoolError, StreamKind};
use crate::startup::{self, SpoolDir, StartError};
use crate::stats::Stats;

/// How often the progress bar is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 30;

/// Why a replay could not do its job.
#[derive(Debug, Error)]
pub(crate) enum ReplayError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot start: {0}")]
    Start(io::Error),
    #[error(transparent)]
    Prepare(#[from] StartError),
}

impl From<publish::Error> for ReplayError {
    fn from(e: publish::Error) -> ReplayError {
        match e {
            publish::Error::Spool(e) => ReplayError::Spool(e),
            publish::Error::Connect(e) => ReplayError::Connect(e),
        }
    }
}

/// `spool replay`: exit 1 when stopped with records left; a missing topic is a usage error.
pub fn execute(config: &Config, how: &Replay) -> Result<ExitCode, super::Error> {
    match replay(config, how) {
        Ok(ReplayEnd::Done) => Ok(ExitCode::SUCCESS),
        Ok(ReplayEnd::Stopped { .. }) => Ok(ExitCode::FAILURE),
        Err(e @ (ReplayError::Connect(ConnectError::MissingTopic) | ReplayError::Prepare(_))) => {
            Err(super::Error::usage(format_args!("spool: {e}")))
        }
        Err(e) => Err(super::spool_failure(e)),
    }
}

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayEnd {
    /// Everything this process could take over was published.
    Done,
    /// Stopped by a signal or the timeout with this many records left in the spool.
    Stopped { left: u64 },
}

/// How `spool replay` was asked to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Send everything to this project instead of the recorded ones.
    pub to_project: Option<String>,
    /// Send everything to this topic instead of the recorded ones.
    pub to_topic: Option<String>,
}

/// `spool replay`: publishes every record no running logger holds, each to its destination,
/// then exits.
fn replay(config: &Config, how: &Replay) -> Result<ReplayEnd, ReplayError> {
    let redirect = Redirect {
        project: how.to_project.clone(),
        topic: how.to_topic.clone(),
    };
    // Segments that record no destination go to the configured one, or to the one the
    // redirect names in full.
    let fallback = config.destination().or_else(|| {
        let (project, topic) = (redirect.project.clone()?, redirect.topic.clone()?);
        Some(Destination {
            project,
            topic,
            attributes: config.publish.attributes.iter().cloned().collect(),
            attribute_fields: config.publish.attribute_fields.clone(),
            ordering_key_field: config.publish.ordering_key_field.clone(),
        })
    });
    let adopt = Adopt::every(StreamKind::AccessLog, fallback.is_some());
    let mut shutdown = shutdown::listen().map_err(ReplayError::Start)?;
    let prepared = startup::prepare(config, SpoolDir::IfThere)?;
    let dir = config.spool.dir.display();
    let (mut held_elsewhere, mut left) = (0, 0);
    if config.spool.dir.exists() {
        for s in spool::status(&config.spool.dir)?.segments {
            if s.in_use {
                held_elsewhere += s.records;
            } else if !adopt.takes(&s.info) {
                left += s.records;
            }
        }
    }
    let mut spool_reader = spool::open_to_send(config.spool.clone(), adopt)?;
    let total = spool_reader.stats().records;
    let mut also = Vec::new();
    if held_elsewhere > 0 {
        also.push(format!(
            "{held_elsewhere} more are held by a running logger, which sends them"
        ));
    }
    if left > 0 {
        also.push(format!(
            "{left} more are left: segments this version cannot send, or that record no \
             destination while none is configured (--project, --topic)"
        ));
    }
    messages::note(format_args!(
        "replay: {total} records to publish from {dir}{}",
        if also.is_empty() {
            String::new()
        } else {
            format!(" ({})", also.join("; "))
        }
    ));
    let stats = Arc::new(Stats::default());
    let (give_up_tx, give_up_at) = watch::channel(how.timeout.map(|t| Instant::now() + t));
    let live = Live::new(config.clone(), prepared.credentials.clone());
    let runtime = prepared.runtime;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let ctx = PublishContext::connect(
            config,
            prepared.credentials,
            fallback,
            redirect,
            Arc::clone(&stats),
            give_up_at,
        )
        .await?;
        tokio::spawn(async move {
            shutdown.requested().await;
            give_up_tx.send_replace(Some(Instant::now()));
        });
        let progress = io::stderr()
            .is_terminal()
            .then(|| tokio::spawn(draw_progress(Arc::clone(&stats), total, started)));
        let outcome = publish::run(&mut spool_reader, &live, ctx).await;
        if let Some(task) = progress {
            task.abort();
            messages::end_progress();
        }
        Ok::<_, ReplayError>(outcome?)
    })?;
    let published = stats.published.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    Ok(match outcome {
        Outcome::AllPublished => {
            messages::note(format_args!(
                "replay: published {published} records in {secs:.1}s; \
                 nothing left for this process in {dir}"
            ));
            ReplayEnd::Done
        }
        Outcome::DeadlinePassed => {
            let left = spool_reader.stats().records;
            messages::note(format_args!(
                "replay: stopped after {secs:.1}s: published {published} \
                 records, {left} left in {dir} for the next run"
            ));
            ReplayEnd::Stopped { left }
        }
    })
}

/// Redraws `[#####-----] published/total  pct  rate/s` on stderr until aborted.
async fn draw_progress(stats: Arc<Stats>, total: u64, started: Instant) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tick.tick().await;
        let done = stats.published.load(Ordering::Relaxed);
        messages::progress(progress_line(done, total, started.elapsed()));
    }
}

/// One frame of the progress bar.
fn progress_line(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "[{}{}] {done}/{total} records {:>3.0}% {rate:.0}/s",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        fraction * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_fills_with_the_published_share() {
        let line = progress_line(50, 200, Duration::from_secs(2));
        assert_eq!(
            line,
            "[########----------------------] 50/200 records  25% 25/s"
        );
        assert!(progress_line(0, 0, Duration::ZERO).contains("100%"));
        assert!(
            progress_line(300, 200, Duration::from_secs(1))
                .starts_with(&format!("[{}]", "#".repeat(30)))
        );
    }
}
