//! The configuration in force, and its replacement on SIGHUP.
//!
//! [`Live`] holds the [`Current`] configuration (with the credentials read for it) in an
//! `arc-swap`: the stdin reader loads it once per read from stdin, the publish loop once per
//! turn, neither ever takes a lock. [`Live::reload`] reads the file again (the same flags
//! laid over it), checks the result the way a start would, and swaps it in whole, with the
//! next generation number; readers that see a new generation act on it:
//!
//! - the stdin reader starts a new spool segment with the new parse context and destination
//!   (format, host, project/topic, attributes, attribute fields, ordering key), so lines read
//!   after the reload use them and lines already spooled keep what they were read under;
//! - the publish loop builds its messages and clients from the new configuration (batching,
//!   limits, endpoint, credentials: new clients for what is sent from then on, the old ones
//!   kept until the end so nothing in flight is cut off), and reports by its settings.
//!
//! What cannot change while running (`spool_*`, `max_line_bytes`, `user`, `group`) is said to need a restart
//! and kept as it was; the rest applies. A new file that is refused leaves everything as it
//! was. Counters are not part of the configuration: a reload leaves them alone.

use std::sync::Arc;

use arc_swap::ArcSwap;
use google_cloud_auth::credentials::Credentials;
use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::messages;
use crate::ownership::OwnershipError;
use crate::publish::connect::{self, ConnectError};
use crate::startup;

/// A configuration in force.
pub struct Current {
    pub config: Config,
    /// The credentials it asks for, read when it came into force.
    pub credentials: Credentials,
    /// 0 for the configuration the process started with, then one more per reload.
    pub generation: u64,
}

/// Why a new configuration file was refused (the one in force stays).
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// The configuration in force, swapped whole by [`Live::reload`].
pub struct Live {
    current: ArcSwap<Current>,
}

impl Live {
    pub fn new(config: Config, credentials: Credentials) -> Live {
        Live {
            current: ArcSwap::from_pointee(Current {
                config,
                credentials,
                generation: 0,
            }),
        }
    }

    /// The configuration in force now.
    pub fn load(&self) -> Arc<Current> {
        self.current.load_full()
    }

    /// Reads the configuration file again and puts the result in force; returns it. Needs
    /// to run inside the publisher's tokio runtime (new credentials start their token task
    /// there). Only the reload task calls it, so two reloads never race.
    pub fn reload(&self) -> Result<Arc<Current>, ReloadError> {
        let old = self.load();
        let mut config = old.config.reload()?;
        // A logger needs somewhere to send, and files only root can write (as root).
        connect::destination(&config)?;
        startup::check_trusted_files(&config)?;
        let mut needs_restart = Vec::new();
        if config.spool != old.config.spool {
            needs_restart.push("spool_*");
            config.spool = old.config.spool.clone();
        }
        if config.input.max_line_bytes != old.config.input.max_line_bytes {
            needs_restart.push("max_line_bytes");
            config.input.max_line_bytes = old.config.input.max_line_bytes;
        }
        if config.privileges != old.config.privileges {
            needs_restart.push("user, group");
            config.privileges = old.config.privileges.clone();
        }
        let same_credentials = config.publish.endpoint == old.config.publish.endpoint
            && config.publish.credentials_file == old.config.publish.credentials_file;
        let credentials = if same_credentials {
            old.credentials.clone()
        } else {
            connect::credentials(&config)?
        };
        if !needs_restart.is_empty() {
            messages::warn(format_args!(
                "reload: {} changed, which takes a restart (apachectl graceful); kept as \
                 they were, the rest applies",
                needs_restart.join(" and ")
            ));
        }
        messages::set_verbose(config.report.verbose);
        let new = Arc::new(Current {
            config,
            credentials,
            generation: old.generation + 1,
        });
        self.current.store(Arc::clone(&new));
        Ok(new)
    }
}
