//! The directory scan, at open and every few seconds after: takes over the segments whose
//! process is gone (orphans) that this spool's [`Adopt`](super::Adopt) takes, measures the
//! other segments for the size limit, notices orphans left for another destination, and
//! removes leftovers. A segment's header is read before its lock is tried (a header never
//! changes once its file has its name), so segments that are not ours are never locked.
//! Adopting reads a header, the ack sidecar and the file's tail, never a whole file: damage
//! further in is found, and reported, when the reader gets there.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::ack;
use super::dir::{self, Claim, Listed, Stem};
use super::segment::{self, Header};
use super::state::{Entry, Segment, Shared};
use super::stats::SpoolEvent;
use super::{Route, SegmentInfo};

/// Orphans left for other destinations are reported at most this often.
const OTHERS_REPORT_EVERY: Duration = Duration::from_secs(600);

/// What the scans remember about the segments they leave alone, so their headers are read
/// once and their orphans reported once.
#[derive(Debug, Default)]
pub(crate) struct ScanMemo {
    not_ours: HashMap<Stem, NotOurs>,
    reported_at: Option<Instant>,
}

impl ScanMemo {
    /// Forgets what was left alone, so the next scan looks at it again (what is taken
    /// over has changed).
    pub(crate) fn forget(&mut self) {
        self.not_ours.clear();
    }
}

#[derive(Debug)]
struct NotOurs {
    route: Route,
    /// Records not acknowledged, counted when first found orphaned.
    orphan_records: Option<u64>,
    reported: bool,
}

/// Scans the directory once; `adopting`: orphans are taken over (else only measured).
/// Errors only if the directory cannot be listed; trouble with single files becomes an
/// event.
pub(crate) fn rescan(shared: &Shared, adopting: bool) -> io::Result<()> {
    let held = shared.lock().held_stems();
    let mut memo = shared
        .scan_memo
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let listed = dir::list(&shared.dir)?;
    let segments: BTreeSet<&Stem> = (listed.iter())
        .filter_map(|item| match item {
            Listed::Segment(stem) => Some(stem),
            _ => None,
        })
        .collect();
    memo.not_ours.retain(|stem, _| segments.contains(stem));
    let mut others = Vec::new();
    let mut adopted = Vec::new();
    let mut events = Vec::new();
    for item in &listed {
        let Listed::Segment(stem) = item else {
            if !shared.sends_only
                && let Err(e) = dir::clean(&shared.dir, item)
            {
                events.push(SpoolEvent::Error {
                    what: format!("cleaning {item:?}: {e}"),
                });
            }
            continue;
        };
        if held.contains(stem) {
            continue;
        }
        let path = stem.seg(&shared.dir);
        match look_at(shared, &mut memo, stem, adopting, &mut events) {
            Ok(Found::Adopted(entry)) => adopted.push(entry),
            Ok(Found::Other(len)) => others.push((stem.clone(), len)),
            Ok(Found::Gone) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => events.push(SpoolEvent::ReadError {
                path,
                error: e.to_string(),
            }),
        }
    }
    if !shared.sends_only {
        report_others(shared, &mut memo, &mut events);
    }
    drop(memo);
    let mut st = shared.lock();
    // Segments this process created during the scan are not someone else's.
    let held_now = st.held_stems();
    let others: u64 = (others.iter())
        .filter(|(stem, _)| !held_now.contains(stem))
        .map(|(_, len)| len)
        .sum();
    shared.others_bytes.store(others, Ordering::Relaxed);
    let any = !adopted.is_empty();
    for entry in adopted {
        shared
            .held_bytes
            .fetch_add(entry.seg.written(), Ordering::Relaxed);
        st.insert(entry);
    }
    for e in events {
        st.tally.event(e);
    }
    drop(st);
    if any {
        shared.notify.notify_one();
    }
    Ok(())
}

/// What one segment file not held by this process turned out to be.
enum Found {
    Adopted(Entry),
    /// Someone else's (a live process's, or left for another destination), this long.
    Other(u64),
    Gone,
}

fn look_at(
    shared: &Shared,
    memo: &mut ScanMemo,
    stem: &Stem,
    adopting: bool,
    events: &mut Vec<SpoolEvent>,
) -> io::Result<Found> {
    let path = stem.seg(&shared.dir);
    let Some(file) = dir::open_segment(&path)? else {
        return Ok(Found::Gone);
    };
    let len = file.metadata()?.len();
    if let Some(known) = memo.not_ours.get_mut(stem) {
        if known.orphan_records.is_none() && !dir::in_use(&file)? {
            known.orphan_records = Some(records_left(shared, stem, &file, len)?);
        }
        return Ok(Found::Other(len));
    }
    if !adopting {
        return Ok(Found::Other(len));
    }
    let (info, data_start, damaged) = match segment::read_header(&file, len)? {
        Header::Valid(info, start) => (info, start, false),
        Header::Damaged => (dir::info_from_name(stem, Route::Unrecorded), 0, true),
        Header::Unsupported(why) => (dir::info_from_name(stem, Route::Unsupported(why)), 0, false),
    };
    if !shared.adopts(&info) {
        let orphan_records = if dir::in_use(&file)? {
            None
        } else {
            Some(records_left(shared, stem, &file, len)?)
        };
        memo.not_ours.insert(
            stem.clone(),
            NotOurs {
                route: info.route,
                orphan_records,
                reported: false,
            },
        );
        return Ok(Found::Other(len));
    }
    match dir::claim(file, &path)? {
        Claim::Claimed(file) => {
            if damaged {
                events.push(SpoolEvent::BadHeader { path });
            }
            let info = Arc::new(info);
            adopt_file(
                shared,
                stem.clone(),
                file,
                info,
                data_start,
                damaged,
                events,
            )
            .map(Found::Adopted)
        }
        Claim::InUse(len) => Ok(Found::Other(len)),
        Claim::Gone => Ok(Found::Gone),
    }
}

/// Records not acknowledged in a segment this process leaves alone (its header unread).
fn records_left(shared: &Shared, stem: &Stem, file: &File, len: u64) -> io::Result<u64> {
    let data_start = match segment::read_header(file, len)? {
        Header::Valid(_, start) => start,
        Header::Damaged | Header::Unsupported(_) => 0,
    };
    let sidecar = ack::read_sidecar(&stem.ack(&shared.dir))?;
    let acked = sidecar
        .resume_at(data_start, len)
        .unwrap_or_else(|start| start);
    let last = segment::last_record(file, acked.offset, len)?;
    Ok(last.map_or(0, |h| (h.seq + 1).saturating_sub(acked.next_seq)))
}

/// One event for the orphans left for other destinations not reported yet, at most once
/// per [`OTHERS_REPORT_EVERY`].
fn report_others(shared: &Shared, memo: &mut ScanMemo, events: &mut Vec<SpoolEvent>) {
    let due = memo
        .reported_at
        .is_none_or(|at| at.elapsed() >= OTHERS_REPORT_EVERY);
    let fresh = (memo.not_ours.values()).any(|n| n.orphan_records.is_some() && !n.reported);
    if !due || !fresh {
        return;
    }
    let mut segments = 0;
    let mut records = 0;
    let mut routes = BTreeSet::new();
    for n in memo.not_ours.values_mut() {
        if let Some(r) = n.orphan_records {
            segments += 1;
            records += r;
            routes.insert(n.route.to_string());
            n.reported = true;
        }
    }
    memo.reported_at = Some(Instant::now());
    events.push(SpoolEvent::LeftForOthers {
        dir: shared.dir.clone(),
        segments,
        records,
        routes: routes.into_iter().collect(),
    });
}

/// Takes over a claimed orphan: it is sealed, read from its ack cursor.
fn adopt_file(
    shared: &Shared,
    stem: Stem,
    file: File,
    info: Arc<SegmentInfo>,
    data_start: u64,
    damaged: bool,
    events: &mut Vec<SpoolEvent>,
) -> io::Result<Entry> {
    let path = stem.seg(&shared.dir);
    let len = file.metadata()?.len();
    let ack_path = stem.ack(&shared.dir);
    let acked = match ack::read_sidecar(&ack_path)?.resume_at(data_start, len) {
        Ok(cursor) => cursor,
        Err(start) => {
            set_aside_ack(shared, &ack_path, events);
            start
        }
    };
    let end_seq =
        segment::last_record(&file, acked.offset, len)?.map_or(acked.next_seq, |h| h.seq + 1);
    events.push(SpoolEvent::Adopted {
        path,
        records: end_seq.saturating_sub(acked.next_seq),
    });
    let seg = Segment::new(&shared.dir, stem, info, file, (len, end_seq), true);
    Ok(Entry::new(Arc::new(seg), acked, &shared.dir, damaged))
}

/// A damaged sidecar is renamed aside; its segment is sent again from the start.
fn set_aside_ack(shared: &Shared, ack_path: &Path, events: &mut Vec<SpoolEvent>) {
    events.push(SpoolEvent::BadAck {
        path: ack_path.to_path_buf(),
    });
    match dir::set_aside(ack_path) {
        Ok(to) => {
            events.push(SpoolEvent::SetAside {
                from: ack_path.to_path_buf(),
                to,
            });
            shared.lock().tally.damaged_files += 1;
        }
        Err(e) => events.push(SpoolEvent::Error {
            what: format!("cannot set aside {}: {e}", ack_path.display()),
        }),
    }
}
