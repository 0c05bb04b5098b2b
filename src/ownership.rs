//! Who may write the files the program trusts, checked before it trusts them.
//!
//! - The spool directory ([`prepare_spool_dir`]): created mode 0700, owned by the user the
//!   program runs as (handed to the `user` account when started as root); refused when
//!   group or others can write it, or when another user than that one (or root) owns it.
//!   Access logs hold client addresses, so a directory others can read is made 0700.
//! - Files a root process reads its orders from ([`check_root_file`]): the configuration
//!   and the credentials file. Run as root, the program refuses such a file when anyone but
//!   root can write it or any directory above it (as sshd does with its keys): such a file
//!   would let a local user point a root process at any path. A directory others can write
//!   is accepted only with its sticky bit set and the entry below it owned by root (`/tmp`).

use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::privileges::{self, Account};

/// Mode bits for "group or others may write".
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// Mode bits for "group or others may do anything".
const OPEN_TO_OTHERS: u32 = 0o077;
const STICKY: u32 = 0o1000;

/// A file or directory that cannot be trusted or used, and what to do about it.
#[derive(Debug, Error)]
pub enum OwnershipError {
    #[error("{what} {path}: {message}")]
    Refused {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{what} {path}: {action}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

fn io_error(
    what: &'static str,
    path: &Path,
    action: &'static str,
    source: io::Error,
) -> OwnershipError {
    OwnershipError::Io {
        what,
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The spool directory as it was found, and what was changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SpoolDirReport {
    /// It did not exist and was created.
    pub created: bool,
    /// Its mode was narrowed to 0700 from this.
    pub narrowed_from: Option<u32>,
    /// It (and this many spool files owned by root) were handed to the run account.
    pub handed_over: Option<usize>,
}

/// The spool directory as it is now, when it exists and may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolDirState {
    /// Its owner's uid.
    pub owner: u32,
    /// Its permission bits.
    pub mode: u32,
}

impl SpoolDirState {
    /// Others may read or enter it: [`prepare_spool_dir`] narrows it to 0700.
    pub fn open_to_others(&self) -> bool {
        self.mode & OPEN_TO_OTHERS != 0
    }
}

/// The uid the process works as: `account`'s when root drops to it, else its own.
fn run_uid(account: Option<&Account>) -> u32 {
    match account {
        Some(account) if privileges::is_root() => account.uid,
        _ => privileges::euid(),
    }
}

/// Looks at `dir` without changing anything: `None` when it does not exist yet; refused
/// when it is not a directory, others can write it, or a user other than the one the
/// process runs as (or root) owns it.
pub fn inspect_spool_dir(
    dir: &Path,
    account: Option<&Account>,
) -> Result<Option<SpoolDirState>, OwnershipError> {
    const WHAT: &str = "spool directory";
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(WHAT, dir, "cannot look at it", e)),
    };
    let refuse = |message: String| OwnershipError::Refused {
        what: WHAT,
        path: dir.to_path_buf(),
        message,
    };
    if !meta.is_dir() {
        return Err(refuse(
            "is not a directory (set spool_dir to a directory)".into(),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(refuse(format!(
            "group or others can write it (mode {mode:04o}), so they could tamper with \
             the spooled logs: chmod 700 {} (or set spool_dir to a directory of its own)",
            dir.display()
        )));
    }
    let run_uid = run_uid(account);
    if meta.uid() != run_uid && meta.uid() != 0 {
        return Err(refuse(format!(
            "owned by {}, but the program runs as {}: chown {} {} (or set spool_dir to \
             a directory of its own)",
            user_label(meta.uid()),
            user_label(run_uid),
            user_label(run_uid),
            dir.display()
        )));
    }
    Ok(Some(SpoolDirState {
        owner: meta.uid(),
        mode,
    }))
}

/// Makes `dir` ready to spool in, for the process as it will run: as `account` when the
/// program runs as root and drops to it, else as it runs now. Creates it if `create` (0700,
/// owned by that user; else a missing directory is left missing), narrows a mode others can read to 0700, and, as root with an account, hands
/// the directory and the root-owned files in it to the account. Refuses what
/// [`inspect_spool_dir`] refuses.
pub fn prepare_spool_dir(
    dir: &Path,
    account: Option<&Account>,
    create: bool,
) -> Result<SpoolDirReport, OwnershipError> {
    const WHAT: &str = "spool directory";
    let mut report = SpoolDirReport::default();
    let hand_to = account.filter(|_| privileges::is_root());
    if !dir.exists() && !create {
        return Ok(report);
    }
    if !dir.exists() {
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| io_error(WHAT, dir, "cannot create its parent", e))?;
        }
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => report.created = true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(WHAT, dir, "cannot create it", e)),
        }
    }
    let Some(state) = inspect_spool_dir(dir, account)? else {
        return Err(io_error(
            WHAT,
            dir,
            "cannot look at it",
            io::ErrorKind::NotFound.into(),
        ));
    };
    if let Some(account) = hand_to {
        std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))
            .map_err(|e| io_error(WHAT, dir, "cannot hand it to the run user", e))?;
        report.handed_over = Some(hand_over_files(dir, account)?);
    }
    let owned = state.owner == privileges::euid() || hand_to.is_some();
    if owned && state.open_to_others() {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error(WHAT, dir, "cannot make it 0700", e))?;
        report.narrowed_from = Some(state.mode);
    }
    Ok(report)
}

/// Hands the regular files in `dir` that root owns to `account` (left by a run as root):
/// each opened without following a link, checked to be a plain file with one name, then
/// changed through that descriptor, so nothing outside the directory can be given away.
fn hand_over_files(dir: &Path, account: &Account) -> Result<usize, OwnershipError> {
    const WHAT: &str = "spool directory";
    let entries = fs::read_dir(dir).map_err(|e| io_error(WHAT, dir, "cannot read it", e))?;
    let mut handed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(WHAT, dir, "cannot read it", e))?;
        let path = entry.path();
        let Ok(file) = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        if !meta.is_file() || meta.nlink() != 1 || meta.uid() != 0 {
            continue;
        }
        std::os::unix::fs::fchown(&file, Some(account.uid), Some(account.gid))
            .and_then(|()| file.set_permissions(fs::Permissions::from_mode(0o600)))
            .map_err(|e| io_error("spool file", &path, "cannot hand it to the run user", e))?;
        handed += 1;
    }
    Ok(handed)
}

/// Run as root, refuses `path` (a configuration or credentials file, named `what`) when
/// anyone but root can write it or a directory above it. Not root: nothing to check.
pub fn check_root_file(what: &'static str, path: &Path) -> Result<(), OwnershipError> {
    if !privileges::is_root() {
        return Ok(());
    }
    let real = fs::canonicalize(path).map_err(|e| io_error(what, path, "cannot find it", e))?;
    let refuse = |message: String| OwnershipError::Refused {
        what,
        path: path.to_path_buf(),
        message,
    };
    let meta = fs::metadata(&real).map_err(|e| io_error(what, path, "cannot look at it", e))?;
    let mode = meta.mode() & 0o7777;
    if meta.uid() != 0 || mode & WRITABLE_BY_OTHERS != 0 {
        return Err(refuse(format!(
            "{} can write it (owner {}, mode {mode:04o}); run as root, the program only \
             trusts a file only root can write: chown root {} && chmod go-w {}",
            if meta.uid() != 0 {
                "a user other than root"
            } else {
                "group or others"
            },
            user_label(meta.uid()),
            real.display(),
            real.display()
        )));
    }
    let mut child_owner = meta.uid();
    for dir in real.ancestors().skip(1) {
        let meta = fs::metadata(dir)
            .map_err(|e| io_error(what, path, "cannot look at its directory", e))?;
        let mode = meta.mode() & 0o7777;
        let sticky_and_safe = mode & STICKY != 0 && child_owner == 0;
        if meta.uid() != 0 || (mode & WRITABLE_BY_OTHERS != 0 && !sticky_and_safe) {
            return Err(refuse(format!(
                "it is in {}, which a user other than root can write (owner {}, mode \
                 {mode:04o}), so its content could be swapped: keep it in a directory only \
                 root can write",
                dir.display(),
                user_label(meta.uid()),
            )));
        }
        child_owner = meta.uid();
    }
    Ok(())
}

/// The name of a uid, or `uid N` when it has no name.
pub fn user_label(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => name,
        None => format!("uid {uid}"),
    }
}

/// The name of user `uid`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; pw_name points into `buf`, read before
    // `buf` is dropped.
    unsafe {
        let rc = libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_spool_directory_is_0700_and_an_open_one_is_narrowed() {
        let base = tempfile::tempdir().expect("temp dir");
        let dir = base.path().join("a/spool");
        let report = prepare_spool_dir(&dir, None, true).expect("created");
        assert!(report.created);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let report = prepare_spool_dir(&dir, None, true).expect("narrowed");
        assert_eq!(report.narrowed_from, Some(0o755));
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_spool_directory_others_can_write_is_refused_with_the_fix() {
        let base = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_spool_dir(base.path(), None, true).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("mode 0777") && text.contains("chmod 700"),
            "{text}"
        );
    }
}
