//! Who the program runs as.
//!
//! httpd starts its piped loggers as the user that started httpd: root. With `user` (and
//! optionally `group`) set, the program does what needs root first (`crate::startup`: the
//! spool directory, the credentials file), then [`drop_to`] gives root up for good:
//! supplementary groups cleared down to the one group, then the group, then the user, in
//! that order (each step takes away the right to do the ones before it), and a check that
//! none of it can be undone. The calls act on every thread of the process (glibc passes
//! them on), so threads started earlier run as the new user too.

use std::ffi::{CStr, CString};
use std::io;

use thiserror::Error;

use crate::config::Privileges;

/// Why the user or group could not be found or become the process's.
#[derive(Debug, Error)]
pub enum PrivilegeError {
    #[error("user: no user {0:?} on this system (create it, or set `user` to an existing one)")]
    NoUser(String),
    #[error("group: no group {0:?} on this system (create it, or set `group` to an existing one)")]
    NoGroup(String),
    #[error("cannot look up {what} {name:?}: {source}")]
    Lookup {
        what: &'static str,
        name: String,
        source: io::Error,
    },
    #[error("cannot drop privileges to {account}: {call} failed: {source}")]
    Drop {
        account: String,
        call: &'static str,
        source: io::Error,
    },
    #[error("dropped privileges to {0}, but root could be regained; refusing to go on")]
    Regained(String),
}

/// A resolved user and group to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "user {} ({}), group {} ({})",
            self.user, self.uid, self.group, self.gid
        )
    }
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid() has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: as above.
    unsafe { libc::geteuid() }
}

/// The account `user`/`group` name, looked up in the system's user and group databases;
/// `None` when `user` is not set.
pub fn resolve(settings: &Privileges) -> Result<Option<Account>, PrivilegeError> {
    let Some(user) = &settings.user else {
        return Ok(None);
    };
    let (uid, own_gid) = user_ids(user)?.ok_or_else(|| PrivilegeError::NoUser(user.clone()))?;
    let (group, gid) = match &settings.group {
        Some(group) => {
            let gid = group_id(group)?.ok_or_else(|| PrivilegeError::NoGroup(group.clone()))?;
            (group.clone(), gid)
        }
        None => (
            group_name(own_gid).unwrap_or_else(|| own_gid.to_string()),
            own_gid,
        ),
    };
    Ok(Some(Account {
        user: user.clone(),
        uid,
        group,
        gid,
    }))
}

/// Becomes `account` for good: setgroups to its one group, setgid, setuid, then checks
/// that neither root's uid nor its gid can be taken back.
pub fn drop_to(account: &Account) -> Result<(), PrivilegeError> {
    let fail = |call: &'static str| PrivilegeError::Drop {
        account: account.to_string(),
        call,
        source: io::Error::last_os_error(),
    };
    let gid: libc::gid_t = account.gid;
    // SAFETY: setgroups reads one gid from a valid pointer; setgid/setuid take plain ids.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(account.gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(account.uid) != 0 {
            return Err(fail("setuid"));
        }
    }
    if is_dropped_to(account) {
        Ok(())
    } else {
        Err(PrivilegeError::Regained(account.to_string()))
    }
}

/// True when every uid and gid of the process (real, effective, saved) is `account`'s,
/// its only group is `account`'s, and root's ids cannot be taken back.
fn is_dropped_to(account: &Account) -> bool {
    let (mut ruid, mut euid, mut suid) = (0, 0, 0);
    let (mut rgid, mut egid, mut sgid) = (0, 0, 0);
    // SAFETY: getresuid/getresgid write three ids each into valid locations; getgroups
    // writes at most `groups.len()` gids; setuid(0)/setgid(0) only fail (or, were the drop
    // undone, succeed, which is what is checked).
    unsafe {
        if libc::getresuid(&mut ruid, &mut euid, &mut suid) != 0
            || libc::getresgid(&mut rgid, &mut egid, &mut sgid) != 0
        {
            return false;
        }
        let mut groups = [0 as libc::gid_t; 4];
        let n = libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr());
        let groups_ok =
            usize::try_from(n).is_ok_and(|n| groups[..n].iter().all(|g| *g == account.gid));
        let ids_ok = [ruid, euid, suid].iter().all(|u| *u == account.uid)
            && [rgid, egid, sgid].iter().all(|g| *g == account.gid);
        let root_back = account.uid != 0 && libc::setuid(0) == 0;
        let root_group_back = account.gid != 0 && libc::setgid(0) == 0;
        ids_ok && groups_ok && !root_back && !root_group_back
    }
}

/// The uid and primary gid of user `name`.
pub fn user_ids(name: &str) -> Result<Option<(u32, u32)>, PrivilegeError> {
    let lookup = |source| PrivilegeError::Lookup {
        what: "user",
        name: name.to_string(),
        source,
    };
    let cname = CString::new(name).map_err(|e| lookup(e.into()))?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value for getpwnam_r to fill in.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings it sets point into `buf`,
        // which is not read after this loop iteration.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some((entry.pw_uid, entry.pw_gid))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            rc => return Err(lookup(io::Error::from_raw_os_error(rc))),
        }
    }
}

/// The gid of group `name`.
pub fn group_id(name: &str) -> Result<Option<u32>, PrivilegeError> {
    let lookup = |source| PrivilegeError::Lookup {
        what: "group",
        name: name.to_string(),
        source,
    };
    let cname = CString::new(name).map_err(|e| lookup(e.into()))?;
    group_entry(|entry, buf, found| {
        // SAFETY: every pointer is valid for the call (see `group_entry`).
        unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                found,
            )
        }
    })
    .map(|found| found.map(|(gid, _)| gid))
    .map_err(lookup)
}

/// The name of group `gid`, if it has one.
pub fn group_name(gid: u32) -> Option<String> {
    group_entry(|entry, buf, found| {
        // SAFETY: every pointer is valid for the call (see `group_entry`).
        unsafe { libc::getgrgid_r(gid, entry, buf.as_mut_ptr().cast(), buf.len(), found) }
    })
    .ok()
    .flatten()
    .map(|(_, name)| name)
}

/// Runs a `getgr*_r` call with a big enough buffer; the gid and name it found.
fn group_entry(
    mut call: impl FnMut(&mut libc::group, &mut [u8], &mut *mut libc::group) -> libc::c_int,
) -> io::Result<Option<(u32, String)>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero group is a valid value for getgr*_r to fill in.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        match call(&mut entry, &mut buf, &mut found) {
            0 if found.is_null() => return Ok(None),
            0 => {
                // SAFETY: on success gr_name points to a NUL-terminated string inside `buf`.
                let name = unsafe { CStr::from_ptr(entry.gr_name) };
                return Ok(Some((entry.gr_gid, name.to_string_lossy().into_owned())));
            }
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            rc => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_resolve() {
        let account = resolve(&Privileges {
            user: Some("root".into()),
            group: None,
        })
        .expect("lookup works")
        .expect("root exists");
        assert_eq!((account.uid, account.gid), (0, 0));
        assert_eq!(account.group, group_name(0).expect("gid 0 has a name"));
    }

    #[test]
    fn unknown_names_say_what_to_fix() {
        let no_user = resolve(&Privileges {
            user: Some("no-such-user-alp".into()),
            group: None,
        })
        .expect_err("no such user");
        assert!(no_user.to_string().contains("no user \"no-such-user-alp\""));
        let no_group = resolve(&Privileges {
            user: Some("root".into()),
            group: Some("no-such-group-alp".into()),
        })
        .expect_err("no such group");
        assert!(no_group.to_string().starts_with("group: no group"));
    }
}
