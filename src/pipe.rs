//! The stdin pipe httpd writes into: made bigger at start, and waited on between reads so
//! that one read takes many lines (`read_coalesce`).
//!
//! Apache writes one line per request, so a reader that reads as soon as a line arrives pays
//! a wake-up, a read and a spool append per line. After a read that emptied the pipe the
//! reader waits instead, up to `read_coalesce`, in naps: after each nap it asks the kernel
//! how much is waiting (`FIONREAD`), and reads at once when a quarter of the pipe's
//! capacity is. A nap lasts [`NAP_PER_MIB`] per MiB of capacity (5 ms for 1 MiB, 20 ms for
//! the 4 MiB httpd's root-started loggers get): the time a writer at 200 MB/s (some 800,000
//! requests a second, far beyond any httpd) takes to fill the pipe. So a bigger pipe costs
//! fewer looks while it is quiet (each look is a timer wake-up, which at low rates costs
//! more CPU than the lines it finds), and a 5,000-line burst fits in the 4 MiB one whole.

use std::os::fd::RawFd;
use std::thread;
use std::time::Duration;

/// Sizes asked for the stdin pipe (Linux default: 64 KiB), so bursts fit while the reader
/// writes or waits: 4 MiB where allowed (root with `CAP_SYS_RESOURCE`: httpd starts its
/// piped loggers as root), else 1 MiB (`/proc/sys/fs/pipe-max-size` by default).
const PIPE_SIZES: [libc::c_int; 2] = [4 << 20, 1 << 20];

/// The wait between two looks at the pipe for each MiB of its capacity.
pub const NAP_PER_MIB: Duration = Duration::from_millis(5);
/// The shortest wait between two looks, however small the pipe.
const SHORTEST_NAP: Duration = Duration::from_millis(1);

/// Asks for a bigger stdin pipe (as root, past `/proc/sys/fs/pipe-max-size`, so before
/// privileges are dropped): the first of [`PIPE_SIZES`] allowed. Not a pipe, or not
/// allowed: nothing changes.
pub fn enlarge_stdin() {
    for size in PIPE_SIZES {
        // SAFETY: fcntl on fd 0 with F_SETPIPE_SZ only changes the pipe's capacity; on
        // anything that is not a pipe it fails with EBADF/EINVAL, and past what is allowed
        // with EPERM: then the next size is tried, and the last failure ignored.
        if unsafe { libc::fcntl(0, libc::F_SETPIPE_SZ, size) } >= 0 {
            return;
        }
    }
}

/// Waits for lines to gather in a pipe before the next read.
#[derive(Debug, Clone, Copy)]
pub struct Gather {
    fd: RawFd,
    /// Bytes waiting at which the wait ends; `None` if `fd` is not a pipe (then one nap).
    enough: Option<usize>,
    /// The wait between two looks ([`NAP_PER_MIB`] per MiB of capacity).
    nap: Duration,
}

impl Gather {
    /// For the pipe at `fd` (stdin: 0), as big as it is now.
    pub fn on(fd: RawFd) -> Gather {
        // SAFETY: F_GETPIPE_SZ only reads the capacity; on what is not a pipe it fails.
        let capacity = usize::try_from(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) }).ok();
        let nap = capacity.map_or(NAP_PER_MIB, |c| {
            NAP_PER_MIB
                .mul_f64(c as f64 / f64::from(1 << 20))
                .max(SHORTEST_NAP)
        });
        Gather {
            fd,
            enough: capacity.map(|c| c / 4),
            nap,
        }
    }

    /// Waits up to `most` for lines: naps until `most` has passed or a quarter of the pipe
    /// is full.
    pub fn wait(&self, most: Duration) {
        if self.enough.is_none() {
            thread::sleep(most.min(self.nap));
            return;
        }
        let mut waited = Duration::ZERO;
        while waited < most {
            let nap = self.nap.min(most - waited);
            thread::sleep(nap);
            waited += nap;
            if self.enough_waiting() {
                return;
            }
        }
    }

    /// A quarter of the pipe holds bytes not read yet (or the kernel cannot say).
    fn enough_waiting(&self) -> bool {
        let Some(enough) = self.enough else {
            return true;
        };
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes the number of bytes waiting into the c_int we pass.
        let rc = unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut waiting) };
        rc != 0 || usize::try_from(waiting).is_ok_and(|w| w >= enough)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};

    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: pipe() fills two fds we then own.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both fds are open and ours alone.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }

    #[test]
    fn a_quarter_of_the_pipe_is_enough_to_read_at_once() {
        let (read, mut write) = pipe();
        let gather = Gather::on(read.as_raw_fd());
        let quarter = gather.enough.expect("a pipe has a capacity");
        assert!(!gather.enough_waiting(), "an empty pipe");
        write.write_all(&vec![b'x'; quarter - 1]).unwrap();
        assert!(!gather.enough_waiting(), "just under a quarter");
        write.write_all(b"x").unwrap();
        assert!(gather.enough_waiting(), "a quarter");
    }

    #[test]
    fn a_bigger_pipe_is_looked_at_less_often() {
        let (read, _write) = pipe();
        let resize = |bytes: libc::c_int| {
            // SAFETY: F_SETPIPE_SZ on a pipe we own only changes its capacity.
            let rc = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
            assert!(rc >= bytes, "the pipe takes {bytes} bytes");
            Gather::on(read.as_raw_fd()).nap
        };
        assert_eq!(resize(1 << 20), Duration::from_millis(5));
        assert_eq!(resize(256 << 10), Duration::from_micros(1250));
        assert_eq!(resize(64 << 10), SHORTEST_NAP, "never under a millisecond");
    }

    #[test]
    fn a_file_is_not_a_pipe() {
        let file = tempfile::tempfile().unwrap();
        assert!(Gather::on(file.as_raw_fd()).enough.is_none());
    }
}
