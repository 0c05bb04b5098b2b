//! The directory scan, at `open()` and every few seconds after: claims segments whose
//! process is gone (orphans), measures other processes' segments for the size limit, and
//! removes leftovers. Adopting reads a header, the ack sidecar and the file's tail, never a
//! whole file: damage further in is found, and reported, when the reader gets there.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::SegmentInfo;
use super::ack::{self, AckCursor, Sidecar};
use super::dir::{self, Claim, Listed, Stem};
use super::segment::{self, SegmentHeader};
use super::state::{Entry, Segment, Shared};
use super::stats::SpoolEvent;

/// Scans the directory once. Errors only if the directory cannot be listed; trouble with
/// single files becomes an event.
pub(crate) fn rescan(shared: &Shared) -> io::Result<()> {
    let (held, adopt) = {
        let st = shared.lock();
        (st.held_stems(), !st.writer_closed)
    };
    let mut others = Vec::new();
    let mut adopted = Vec::new();
    let mut events = Vec::new();
    for item in dir::list(&shared.dir)? {
        let Listed::Segment(stem) = &item else {
            if let Err(e) = dir::clean(&shared.dir, &item) {
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
        let claimed = if adopt {
            dir::try_claim(&path)
        } else {
            std::fs::metadata(&path).map(|m| Claim::InUse(m.len()))
        };
        match claimed {
            Ok(Claim::Claimed(file)) => match adopt_file(shared, stem.clone(), file, &mut events) {
                Ok(entry) => adopted.push(entry),
                Err(e) => events.push(SpoolEvent::ReadError {
                    path,
                    error: e.to_string(),
                }),
            },
            Ok(Claim::InUse(len)) => others.push((stem.clone(), len)),
            Ok(Claim::Gone) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => events.push(SpoolEvent::Error {
                what: format!("cannot open {}: {e}", path.display()),
            }),
        }
    }
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

/// Takes over a claimed orphan: it is sealed, read from its ack cursor.
fn adopt_file(
    shared: &Shared,
    stem: Stem,
    file: File,
    events: &mut Vec<SpoolEvent>,
) -> io::Result<Entry> {
    let path = stem.seg(&shared.dir);
    let len = file.metadata()?.len();
    let (header, data_start, damaged) = match SegmentHeader::read(&file, len)? {
        Some((header, header_len)) => (header, header_len, false),
        None => {
            events.push(SpoolEvent::BadHeader { path: path.clone() });
            (dir::header_from_name(&stem), 0, true)
        }
    };
    let start = AckCursor {
        offset: data_start,
        next_seq: 0,
    };
    let ack_path = stem.ack(&shared.dir);
    let acked = match ack::read_sidecar(&ack_path)? {
        Sidecar::Valid(c) if (data_start..=len).contains(&c.offset) => c,
        Sidecar::Missing => start,
        Sidecar::Valid(_) | Sidecar::Damaged => {
            events.push(SpoolEvent::BadAck {
                path: ack_path.clone(),
            });
            match dir::set_aside(&ack_path) {
                Ok(to) => {
                    events.push(SpoolEvent::SetAside {
                        from: ack_path.clone(),
                        to,
                    });
                    shared.lock().tally.damaged_files += 1;
                }
                Err(e) => events.push(SpoolEvent::Error {
                    what: format!("cannot set aside {}: {e}", ack_path.display()),
                }),
            }
            start
        }
    };
    let end_seq =
        segment::last_record(&file, acked.offset, len)?.map_or(acked.next_seq, |h| h.seq + 1);
    events.push(SpoolEvent::Adopted {
        path,
        records: end_seq.saturating_sub(acked.next_seq),
    });
    let info = Arc::new(SegmentInfo {
        stream: header.stream,
        created_us: header.created_us,
        format: header.format,
        host: header.host,
    });
    let seg = Segment::new(&shared.dir, stem, info, file, (len, end_seq), true);
    Ok(Entry::new(Arc::new(seg), acked, &shared.dir, damaged))
}
