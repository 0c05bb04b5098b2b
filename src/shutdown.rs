//! Signals, in one place, and what each one asks of the program.
//!
//! - SIGTERM, SIGINT: the first asks for a shutdown, which [`Shutdown::requested`] resolves
//!   on: the piped logger keeps reading until end of input or `drain_timeout`, then
//!   publishes for up to `shutdown_timeout`; `spool replay` stops publishing. The second
//!   exits at once with status 1, from the signal handler itself, so nothing can hold it up
//!   (everything read is in the spool by then).
//! - SIGUSR1: asks for the counters ([`Shutdown::counters_asked`]); the piped logger says
//!   them as one line ([`crate::metrics`]), other commands ignore it.
//! - SIGHUP: asks the piped logger to reload its configuration file
//!   ([`Shutdown::reload_asked`], see `crate::live`); never ends the program (operators and
//!   log-rotation scripts send it by habit; other commands ignore it).
//! - SIGUSR2: ignored (its default action would end the program).
//! - SIGPIPE: ignored, as Rust's runtime sets it before `main`: a write to a closed pipe
//!   fails with `EPIPE`, which the writer reports.
//!
//! One thread waits for the signals (signal-hook's iterator, which blocks on a self-pipe:
//! no polling, no wake-ups while nothing happens) and passes each on through a channel the
//! async side waits on.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;
use tokio::sync::watch;

/// Resolves once a shutdown was asked for; clones wait for the same one.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: watch::Receiver<bool>,
    counters: Asked,
    reload: Asked,
}

impl Shutdown {
    /// Resolves once SIGTERM or SIGINT came (at once if one already had).
    pub async fn requested(&mut self) {
        if self.requested.wait_for(|asked| *asked).await.is_err() {
            // The signal thread never ends, so its sender is never dropped; were it gone,
            // no shutdown could be asked for any more.
            std::future::pending::<()>().await;
        }
    }

    /// What resolves each time SIGUSR1 asks for the counters.
    pub fn counters_asked(&self) -> Asked {
        self.counters.clone()
    }

    /// What resolves each time SIGHUP asks for a reload.
    pub fn reload_asked(&self) -> Asked {
        self.reload.clone()
    }
}

/// Resolves each time SIGUSR1 (or, for [`Shutdown::reload_asked`], SIGHUP) comes
/// (signals close together may count as one).
#[derive(Debug, Clone)]
pub struct Asked {
    asked: watch::Receiver<()>,
}

impl Asked {
    /// Resolves at the next SIGUSR1, or at once if one came since the last call.
    pub async fn next(&mut self) {
        if self.asked.changed().await.is_err() {
            // The signal thread never ends; were it gone, no signal could ask any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Installs the handlers and starts the thread that passes the signals on.
pub fn listen() -> io::Result<Shutdown> {
    let seen = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        // Registered first, so it looks at the flag before the second action sets it:
        // only a second signal finds it set.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&seen))?;
        signal_hook::flag::register(signal, Arc::clone(&seen))?;
    }
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGUSR2])?;
    let (tell, requested) = watch::channel(false);
    let (ask, asked) = watch::channel(());
    let (ask_reload, reload_asked) = watch::channel(());
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGTERM | SIGINT => {
                        tell.send_replace(true);
                    }
                    SIGUSR1 => {
                        ask.send_replace(());
                    }
                    SIGHUP => {
                        ask_reload.send_replace(());
                    }
                    _ => {}
                }
            }
        })?;
    Ok(Shutdown {
        requested,
        counters: Asked { asked },
        reload: Asked {
            asked: reload_asked,
        },
    })
}
