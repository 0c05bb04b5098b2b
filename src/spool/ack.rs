//! Acknowledgement progress of a segment: batches in flight (acked out of order), the
//! contiguous acknowledged prefix they add up to, and its `.ack` sidecar file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Bytes of an `.ack` sidecar.
const ACK_LEN: usize = 20;

/// Everything before `offset` (records with `seq < next_seq`) was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckCursor {
    pub offset: u64,
    pub next_seq: u64,
}

impl AckCursor {
    fn encode(self) -> [u8; ACK_LEN] {
        let mut b = [0u8; ACK_LEN];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.next_seq.to_le_bytes());
        let crc = crc32c::crc32c(&b[..16]);
        b[16..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<AckCursor> {
        let b: &[u8; ACK_LEN] = b.try_into().ok()?;
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&b[16..]);
        (crc32c::crc32c(&b[..16]) == u32::from_le_bytes(crc)).then(|| AckCursor {
            offset: word(0),
            next_seq: word(8),
        })
    }
}

/// What an `.ack` sidecar said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sidecar {
    Missing,
    Valid(AckCursor),
    Damaged,
}

impl Sidecar {
    /// The cursor to resume a segment from whose records start at `data_start` and whose
    /// file is `len` bytes long: the sidecar's, if it is valid and points into the records;
    /// `Err` with the start when it is damaged (the segment is then sent from the start).
    pub(crate) fn resume_at(self, data_start: u64, len: u64) -> Result<AckCursor, AckCursor> {
        let start = AckCursor {
            offset: data_start,
            next_seq: 0,
        };
        match self {
            Sidecar::Valid(c) if (data_start..=len).contains(&c.offset) => Ok(c),
            Sidecar::Missing => Ok(start),
            Sidecar::Valid(_) | Sidecar::Damaged => Err(start),
        }
    }
}

/// Reads the sidecar at `path`.
pub(crate) fn read_sidecar(path: &Path) -> io::Result<Sidecar> {
    match std::fs::read(path) {
        Ok(b) => Ok(AckCursor::decode(&b).map_or(Sidecar::Damaged, Sidecar::Valid)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Sidecar::Missing),
        Err(e) => Err(e),
    }
}

/// The `.ack` sidecar of a segment this process holds, opened on first write and
/// overwritten in place (one `pwrite` of 20 bytes, never fsynced: losing it only re-sends).
/// Written and removed outside the spool's state lock; its own lock only orders a write
/// and the removal (a write after the removal does nothing).
#[derive(Debug)]
pub(crate) struct AckFile {
    path: PathBuf,
    file: Mutex<Handle>,
}

#[derive(Debug)]
enum Handle {
    Unopened,
    Open(File),
    Removed,
}

impl AckFile {
    pub(crate) fn new(path: PathBuf) -> AckFile {
        AckFile {
            path,
            file: Mutex::new(Handle::Unopened),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn write(&self, cursor: AckCursor) -> io::Result<()> {
        let mut handle = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Handle::Unopened = *handle {
            *handle = Handle::Open(
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&self.path)?,
            );
        }
        match &*handle {
            Handle::Open(file) => file.write_all_at(&cursor.encode(), 0),
            Handle::Unopened | Handle::Removed => Ok(()),
        }
    }

    /// Removes the file (if it exists); later writes do nothing.
    pub(crate) fn remove(&self) -> io::Result<()> {
        let mut handle = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        *handle = Handle::Removed;
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
struct Pending {
    end: AckCursor,
    first_received_at_us: Option<i64>,
    acked: bool,
}

/// Batches handed out from one segment, oldest first, and the acknowledged prefix.
#[derive(Debug)]
pub(crate) struct Progress {
    acked: AckCursor,
    pending: VecDeque<Pending>,
    /// Number of the batch at the front of `pending`.
    front_no: u64,
}

impl Progress {
    pub(crate) fn new(acked: AckCursor) -> Progress {
        Progress {
            acked,
            pending: VecDeque::new(),
            front_no: 0,
        }
    }

    pub(crate) fn acked(&self) -> AckCursor {
        self.acked
    }

    /// Nothing handed out is waiting for its ack.
    pub(crate) fn idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the oldest record handed out and not acknowledged was read, if any.
    pub(crate) fn oldest_pending(&self) -> Option<i64> {
        self.pending
            .iter()
            .find(|p| !p.acked)
            .and_then(|p| p.first_received_at_us)
    }

    /// Registers a batch ending at `end`; `done` for a stretch that needs no ack (damage
    /// skipped). Returns the batch number to ack it with.
    pub(crate) fn hand_out(
        &mut self,
        end: AckCursor,
        first_received_at_us: Option<i64>,
        done: bool,
    ) -> u64 {
        self.pending.push_back(Pending {
            end,
            first_received_at_us,
            acked: done,
        });
        let no = self.front_no + self.pending.len() as u64 - 1;
        self.advance();
        no
    }

    /// Marks batch `no` acknowledged; true if the acknowledged prefix moved.
    pub(crate) fn ack(&mut self, no: u64) -> bool {
        let Some(i) = no.checked_sub(self.front_no) else {
            return false;
        };
        match usize::try_from(i)
            .ok()
            .and_then(|i| self.pending.get_mut(i))
        {
            Some(p) => p.acked = true,
            None => return false,
        }
        self.advance()
    }

    fn advance(&mut self) -> bool {
        let before = self.acked;
        while self.pending.front().is_some_and(|p| p.acked) {
            if let Some(p) = self.pending.pop_front() {
                self.acked = p.end;
                self.front_no += 1;
            }
        }
        self.acked != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> AckCursor {
        AckCursor {
            offset,
            next_seq: offset / 10,
        }
    }

    #[test]
    fn out_of_order_acks_advance_the_contiguous_prefix() {
        let mut p = Progress::new(at(0));
        let a = p.hand_out(at(10), Some(1), false);
        let b = p.hand_out(at(20), Some(2), false);
        let c = p.hand_out(at(30), Some(3), false);
        assert!(!p.ack(c));
        assert_eq!(p.acked(), at(0));
        assert_eq!(p.oldest_pending(), Some(1));
        assert!(p.ack(a));
        assert_eq!(p.acked(), at(10));
        assert!(!p.ack(a), "a second ack of the same batch changes nothing");
        assert!(p.ack(b));
        assert_eq!(p.acked(), at(30));
        assert!(p.idle());
        p.hand_out(at(40), None, true);
        assert_eq!(p.acked(), at(40));
    }

    #[test]
    fn sidecar_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ack");
        assert_eq!(read_sidecar(&path).unwrap(), Sidecar::Missing);
        let f = AckFile::new(path.clone());
        f.write(at(1234)).unwrap();
        assert_eq!(read_sidecar(&path).unwrap(), Sidecar::Valid(at(1234)));
        assert_eq!(Sidecar::Valid(at(1234)).resume_at(100, 2000), Ok(at(1234)));
        assert!(Sidecar::Valid(at(1234)).resume_at(100, 1000).is_err());
        assert!(Sidecar::Damaged.resume_at(100, 2000).is_err());
        std::fs::write(&path, b"garbage garbage garb").unwrap();
        assert_eq!(read_sidecar(&path).unwrap(), Sidecar::Damaged);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_sidecar(&path).unwrap(), Sidecar::Damaged);
        f.remove().unwrap();
        f.write(at(1)).unwrap();
        assert_eq!(
            read_sidecar(&path).unwrap(),
            Sidecar::Missing,
            "no write after removal"
        );
    }
}
