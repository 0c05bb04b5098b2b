//! Handing stdin over to a new process image: how a logger without a usable configuration
//! becomes a working one on SIGHUP, without losing or splitting a line.
//!
//! A logger that started without a usable configuration keeps its lines unparsed in the
//! spool (see `run::run_unconfigured`). Once a SIGHUP finds the configuration usable, the
//! process starts itself again on the same stdin (`exec`, same pid, same pipe, so httpd
//! sees nothing), and the new image starts as any logger does: it takes the kept segments
//! over and sends them, parsed with the format now in force.
//!
//! For that the stdin reader must stop between two lines, with every byte it read in the
//! spool: [`Handover::input`] gives a stdin whose blocking `read()` also waits (in `poll`)
//! on a pipe that [`Handover::ask`] writes to, so an idle reader returns at once with
//! [`is_asked`] errors instead of waiting for the next line. The reader then stops at the
//! first point where no line is half read ([`Handover::asked`] tells it to look), and the
//! caller calls [`restart`].

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The marker error a woken read returns.
#[derive(Debug)]
struct Asked;

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the reader is asked to stop between two lines")
    }
}

impl std::error::Error for Asked {}

/// Whether `e` is a read woken by [`Handover::ask`] (nothing was read).
pub fn is_asked(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Asked>())
}

/// The asking side, shared by the reader and whoever asks it to stop.
#[derive(Debug, Clone)]
pub struct Handover {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    asked: AtomicBool,
    /// Read end (the reader polls it) and write end (`ask` writes a byte).
    wake_read: OwnedFd,
    wake_write: OwnedFd,
}

impl Handover {
    pub fn new() -> io::Result<Handover> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills `fds` with two new descriptors on success, owned below.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and belong to nothing else.
        let (wake_read, wake_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Handover {
            shared: Arc::new(Shared {
                asked: AtomicBool::new(false),
                wake_read,
                wake_write,
            }),
        })
    }

    /// Stdin, as a reader that [`Handover::ask`] can wake.
    pub fn input(&self) -> Input {
        Input {
            handover: self.clone(),
        }
    }

    /// Asks the reader to stop at the next point between two lines, waking it if it waits.
    pub fn ask(&self) {
        self.shared.asked.store(true, Ordering::SeqCst);
        let byte = 1u8;
        // SAFETY: writes one byte from a live local into a descriptor we own. A full pipe
        // (EAGAIN) already holds a wake-up, which is all that is needed.
        unsafe {
            libc::write(
                self.shared.wake_write.as_raw_fd(),
                (&raw const byte).cast(),
                1,
            );
        }
    }

    /// Whether the reader has been asked to stop.
    pub fn asked(&self) -> bool {
        self.shared.asked.load(Ordering::SeqCst)
    }
}

/// Stdin whose `read()` returns an [`is_asked`] error once after each [`Handover::ask`].
#[derive(Debug)]
pub struct Input {
    handover: Handover,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wake = self.handover.shared.wake_read.as_raw_fd();
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two pollfd; -1 waits without a timeout.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if fds[1].revents != 0 {
            let mut drain = [0u8; 16];
            // SAFETY: reads into a live local buffer from a non-blocking descriptor we own.
            while unsafe { libc::read(wake, drain.as_mut_ptr().cast(), drain.len()) } > 0 {}
            return Err(io::Error::other(Asked));
        }
        // SAFETY: reads into `buf`, a live slice of `buf.len()` bytes, from fd 0, which
        // this process never closes (read directly: no buffer in between that poll cannot see).
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// Replaces this process with a new run of the same program, same arguments, same
/// environment and the same stdin, stdout and stderr. Returns only if that failed.
pub fn restart() -> io::Error {
    let mut args = std::env::args_os();
    let arg0 = args
        .next()
        .unwrap_or_else(|| OsString::from("accesslog-pubsub"));
    Command::new("/proc/self/exe").arg0(arg0).args(args).exec()
}
