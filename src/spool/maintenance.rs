//! The background thread of an open spool: fdatasyncs dirty segments (`FsyncPolicy::Interval`:
//! one interval after the first write since the last sync, never while nothing is written),
//! rescans the directory for orphans and other processes' sizes, retires finished segments
//! and removes the files of retired ones (at once when the writer wakes it: the full policy
//! dropped a segment). It stops when the writer and the reader are both gone.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::FsyncPolicy;
use super::dir;
use super::scan;
use super::state::Shared;
use super::stats::SpoolEvent;

/// How often the directory is rescanned for orphans.
pub(crate) const RESCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the thread; `wake` disconnects when the shared state is dropped.
pub(crate) fn spawn(shared: &Arc<Shared>, wake: mpsc::Receiver<()>) -> io::Result<()> {
    let sync_every = match shared.opts.fsync {
        FsyncPolicy::Interval(d) => Some(d),
        FsyncPolicy::Always | FsyncPolicy::Never => None,
    };
    let weak = Arc::downgrade(shared);
    thread::Builder::new()
        .name("spool-maintenance".into())
        .spawn(move || run(&weak, &wake, sync_every))
        .map(drop)
}

/// Sleeps until the next rescan, or the next sync while something is unsynced, or a wake
/// from the writer (retired segments to remove, the first write since the last sync).
fn run(weak: &Weak<Shared>, wake: &mpsc::Receiver<()>, sync: Option<Duration>) {
    let mut last_scan = Instant::now();
    let mut sync_due: Option<Instant> = None;
    loop {
        let next = sync_due.map_or(last_scan + RESCAN_INTERVAL, |due| {
            due.min(last_scan + RESCAN_INTERVAL)
        });
        match wake.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = weak.upgrade() else { return };
        shared.remove_retired();
        if let Some(every) = sync
            && sync_due.is_none()
            && shared.unsynced()
        {
            sync_due = Some(Instant::now() + every);
        }
        if sync_due.is_some_and(|due| Instant::now() >= due) {
            sync_due = None;
            sync_dirty(&shared);
        }
        if last_scan.elapsed() >= RESCAN_INTERVAL {
            last_scan = Instant::now();
            let adopting = !shared.lock().writer_closed;
            if let Err(e) = scan::rescan(&shared, adopting) {
                shared.lock().tally.event(SpoolEvent::Error {
                    what: format!("cannot scan {}: {e}", shared.dir.display()),
                });
            }
            shared.lock().retire_finished(&shared);
            shared.remove_retired();
        }
    }
}

/// fdatasyncs every segment written since the last sync, and the directory if a segment
/// was created.
fn sync_dirty(shared: &Shared) {
    let segments = shared.lock().segments();
    let mut errors = Vec::new();
    if shared.dir_dirty.swap(false, Ordering::Relaxed)
        && let Err(e) = dir::sync_dir(&shared.dir)
    {
        errors.push(format!("cannot fsync {}: {e}", shared.dir.display()));
    }
    for seg in segments {
        if seg.dirty.swap(false, Ordering::Relaxed)
            && let Err(e) = seg.file.sync_data()
        {
            errors.push(format!("cannot fdatasync {}: {e}", seg.path.display()));
        }
    }
    if !errors.is_empty() {
        let mut st = shared.lock();
        for what in errors {
            st.tally.event(SpoolEvent::Error { what });
        }
    }
}
