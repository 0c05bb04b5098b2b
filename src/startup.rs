//! What the programs that spool and publish (the piped logger, `spool replay`) do before
//! their work starts, in the order root needs:
//!
//! 1. run as root, refuse a configuration or credentials file others can write
//!    ([`crate::ownership::check_root_file`]);
//! 2. look up the `user`/`group` account ([`crate::privileges::resolve`]);
//! 3. make the spool directory ready and, as root, hand it to that account
//!    ([`crate::ownership::prepare_spool_dir`]);
//! 4. read the credentials (often a file only root can read);
//! 5. drop to the account for good ([`crate::privileges::drop_to`]).
//!
//! Everything after (the spool's files, the network) happens as that account. Started as
//! root without `user`, the piped logger says so once ([`STAYS_ROOT`]); started as another
//! user with `user` set, one warning says the setting is not applied.

use google_cloud_auth::credentials::Credentials;
use thiserror::Error;

use crate::config::{Config, Endpoint};
use crate::messages;
use crate::ownership::{self, OwnershipError};
use crate::privileges::{self, Account, PrivilegeError};
use crate::publish::connect::{self, ConnectError};

/// Why the work cannot start; all of them are for the operator to fix.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
}

/// What was prepared as root and is kept for the rest of the run.
pub struct Prepared {
    /// The publisher's runtime ([`runtime`]): the credentials keep their
    /// token refresh task on it, so it is the one to publish on.
    pub runtime: tokio::runtime::Runtime,
    /// The credentials, read before the drop.
    pub credentials: Credentials,
    /// The account the process runs as now, when it dropped to one.
    pub account: Option<Account>,
    /// Started as root without `user`: it goes on as root.
    pub stays_root: bool,
}

/// The warning the piped logger gives when it stays root.
pub const STAYS_ROOT: &str = "running as root: set `user` (e.g. user = \"accesslog-pubsub\") to \
     drop privileges once the spool directory and credentials are open";

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are never printed, not even in debug output.
        f.debug_struct("Prepared")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Whether the spool directory is created when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolDir {
    /// The logger spools into it.
    Create,
    /// `spool replay` only sends what is there.
    IfThere,
}

/// Steps 1 to 5 above; on success the process runs as `Prepared::account` (if any).
pub fn prepare(config: &Config, spool_dir: SpoolDir) -> Result<Prepared, StartError> {
    check_trusted_files(config)?;
    let account = privileges::resolve(&config.privileges)?;
    let as_root = privileges::is_root();
    match &account {
        Some(account) if !as_root && account.uid != privileges::euid() => {
            messages::warn(format_args!(
                "`user` is {}, but the program was started as uid {}, not root: it runs \
                 as uid {} (start it as root to drop to {})",
                account.user,
                privileges::euid(),
                privileges::euid(),
                account.user
            ));
        }
        _ => {}
    }
    let dir = &config.spool.dir;
    let report =
        ownership::prepare_spool_dir(dir, account.as_ref(), spool_dir == SpoolDir::Create)?;
    if let Some(mode) = report.narrowed_from {
        messages::note(format_args!(
            "spool directory {}: mode {mode:04o} narrowed to 0700 (access logs hold client \
             addresses)",
            dir.display()
        ));
    }
    let runtime = runtime().map_err(StartError::Runtime)?;
    let credentials = {
        let _inside = runtime.enter();
        connect::credentials(config)?
    };
    let dropped = match account {
        Some(account) if as_root => {
            privileges::drop_to(&account)?;
            Some(account)
        }
        _ => None,
    };
    Ok(Prepared {
        runtime,
        credentials,
        stays_root: as_root && dropped.is_none(),
        account: dropped,
    })
}

/// As root: the configuration file and the credentials file must be root's alone.
pub fn check_trusted_files(config: &Config) -> Result<(), OwnershipError> {
    if let Some(path) = &config.file {
        ownership::check_root_file("config", path)?;
    }
    if let Some(path) = &config.publish.credentials_file
        && !matches!(config.publish.endpoint, Endpoint::Emulator(_))
    {
        ownership::check_root_file("credentials file", path)?;
    }
    Ok(())
}

/// The tokio runtime the publish loop and the Pub/Sub client run on: one thread, the caller's.
/// Stdin has its own thread, so one is enough for Pub/Sub, and with the emulator or other
/// work on the machine, worker threads cost more in switching than they overlap.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
