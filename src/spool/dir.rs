//! The spool directory: file naming, listing, advisory locks, creating a segment file
//! atomically, and removing or setting aside files.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Route, SegmentInfo, StreamKind};

const SEG_EXT: &str = ".seg";
const ACK_EXT: &str = ".ack";
const TMP_EXT: &str = ".seg.tmp";
const DAMAGED_EXT: &str = ".damaged";
/// `<created_us:020>-<stream:016x>`
const STEM_LEN: usize = 20 + 1 + 16;
/// A `.seg.tmp` file unlocked and this old was left by a crash during segment creation.
const STALE_TMP_AGE: Duration = Duration::from_secs(60);

/// The name of a segment without extension: `<created_us:020>-<stream:016x>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Stem(String);

impl Stem {
    pub(crate) fn new(created_us: u64, stream: u64) -> Stem {
        Stem(format!("{created_us:020}-{stream:016x}"))
    }

    fn parse(s: &str) -> Option<Stem> {
        let b = s.as_bytes();
        let ok = b.len() == STEM_LEN
            && b[..20].iter().all(u8::is_ascii_digit)
            && b[20] == b'-'
            && b[21..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        ok.then(|| Stem(s.to_owned()))
    }

    pub(crate) fn created_us(&self) -> i64 {
        self.0[..20].parse().unwrap_or(0)
    }

    pub(crate) fn stream(&self) -> u64 {
        u64::from_str_radix(&self.0[21..], 16).unwrap_or(0)
    }

    pub(crate) fn seg(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{SEG_EXT}", self.0))
    }

    pub(crate) fn ack(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{ACK_EXT}", self.0))
    }

    fn tmp(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{TMP_EXT}", self.0))
    }
}

/// What a directory entry is to the spool.
#[derive(Debug)]
pub(crate) enum Listed {
    Segment(Stem),
    Ack(Stem),
    Tmp(Stem),
    /// A file renamed aside (`*.damaged`).
    Damaged(PathBuf),
}

impl Listed {
    fn sort_key(&self) -> (u8, &str) {
        match self {
            Listed::Segment(s) => (0, &s.0),
            Listed::Ack(s) => (1, &s.0),
            Listed::Tmp(s) => (2, &s.0),
            Listed::Damaged(p) => (3, p.to_str().unwrap_or_default()),
        }
    }
}

/// The spool's files in `dir`, segments in name (= age) order; other files are ignored.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem_of = |ext: &str| name.strip_suffix(ext).and_then(Stem::parse);
        if let Some(stem) = stem_of(SEG_EXT) {
            out.push(Listed::Segment(stem));
        } else if let Some(stem) = stem_of(ACK_EXT) {
            out.push(Listed::Ack(stem));
        } else if let Some(stem) = stem_of(TMP_EXT) {
            out.push(Listed::Tmp(stem));
        } else if name.ends_with(DAMAGED_EXT) {
            out.push(Listed::Damaged(entry.path()));
        }
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(out)
}

/// Creates the segment file for `header`: written and locked under a temporary name, then
/// renamed, so no other process ever sees it unlocked or without its header.
pub(crate) fn create_segment(dir: &Path, stem: &Stem, header: &[u8]) -> io::Result<File> {
    let tmp = stem.tmp(dir);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .try_lock()
        .map_err(lock_error)
        .and_then(|()| file.write_all_at(header, 0))
        .and_then(|()| fs::rename(&tmp, stem.seg(dir)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(file)
}

/// The result of trying to take over a segment file.
#[derive(Debug)]
pub(crate) enum Claim {
    /// Locked by us now: it was an orphan.
    Claimed(File),
    /// Locked by a live process; its size.
    InUse(u64),
    /// Removed or renamed in the meantime.
    Gone,
}

/// Opens the segment at `path` for reading and writing; `None` if it is gone.
pub(crate) fn open_segment(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Tries to lock the segment at `path` without waiting.
pub(crate) fn try_claim(path: &Path) -> io::Result<Claim> {
    match open_segment(path)? {
        Some(file) => claim(file, path),
        None => Ok(Claim::Gone),
    }
}

/// Tries to lock `file`, opened from `path`, without waiting.
pub(crate) fn claim(file: File, path: &Path) -> io::Result<Claim> {
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Claim::InUse(file.metadata()?.len())),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // The lock may be on a file its owner removed (or set aside) between our open and lock.
    let ours = file.metadata()?;
    match fs::metadata(path) {
        Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => Ok(Claim::Claimed(file)),
        Ok(_) => Ok(Claim::Gone),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Claim::Gone),
        Err(e) => Err(e),
    }
}

/// Whether a live process holds the lock of `file` (probed with a shared lock, released
/// at once, so read-only tools never keep a logger from adopting a file).
pub(crate) fn in_use(file: &File) -> io::Result<bool> {
    match file.try_lock_shared() {
        Ok(()) => file.unlock().map(|()| false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Renames `path` to `path.damaged`, returning the new path.
pub(crate) fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let mut to = path.as_os_str().to_owned();
    to.push(DAMAGED_EXT);
    let to = PathBuf::from(to);
    fs::rename(path, &to)?;
    Ok(to)
}

/// Removes leftovers: a sidecar whose segment is gone, a temporary file of a creation that
/// crashed. Other processes' files in use are never touched.
pub(crate) fn clean(dir: &Path, item: &Listed) -> io::Result<()> {
    match item {
        Listed::Ack(stem) if !stem.seg(dir).try_exists()? => remove_file(&stem.ack(dir)),
        Listed::Tmp(stem) => {
            let path = stem.tmp(dir);
            // Only old files are even locked, so a creation in progress is never disturbed.
            let age = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok());
            if age.is_some_and(|a| a > STALE_TMP_AGE)
                && let Claim::Claimed(_) = try_claim(&path)?
            {
                remove_file(&path)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Makes the directory's entries (new segment names) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What can be said of a segment from its name alone, when its header does not say more:
/// `format` and `host` unknown (empty).
pub(crate) fn info_from_name(stem: &Stem, route: Route) -> SegmentInfo {
    SegmentInfo {
        stream: stem.stream(),
        created_us: stem.created_us(),
        kind: StreamKind::AccessLog,
        format: String::new(),
        host: String::new(),
        route,
    }
}

/// Removes `path`; one that is already gone is fine.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn lock_error(e: TryLockError) -> io::Error {
    match e {
        TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
        TryLockError::Error(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_sort_by_age_and_round_trip() {
        let a = Stem::new(999, u64::MAX);
        let b = Stem::new(1000, 0);
        assert!(a < b);
        assert_eq!(b.created_us(), 1000);
        assert_eq!(a.stream(), u64::MAX);
        assert_eq!(Stem::parse(&a.0), Some(a.clone()));
        assert_eq!(Stem::parse("0000000000000000999-ffffffffffffffff"), None);
        assert_eq!(Stem::parse("00000000000000000999-FFFFFFFFFFFFFFFF"), None);
    }
}
