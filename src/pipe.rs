//! The stdin pipe httpd writes into: made bigger at start, and waited on between reads so
//! that one read takes many lines (`read_coalesce`).
//!
//! Apache writes one line per request, so a reader that reads as soon as a line arrives pays
//! a wake-up, a read and a spool append per line. After a read that emptied the pipe the
//! reader waits instead, up to `read_coalesce`, in naps of [`NAP`]: after each nap it asks
//! the kernel how much is waiting (`FIONREAD`), and reads at once when a quarter of the
//! pipe's capacity is. So a burst never finds the pipe full however long the setting (it
//! has at most one nap to fill the other three quarters), and a quiet moment costs a nap,
//! not a read and an append.

use std::os::fd::RawFd;
use std::thread;
use std::time::Duration;

/// Sizes asked for the stdin pipe (Linux default: 64 KiB), so bursts fit while the reader
/// writes or waits: 4 MiB where allowed (root with `CAP_SYS_RESOURCE`: httpd starts its
/// piped loggers as root), else 1 MiB (`/proc/sys/fs/pipe-max-size` by default).
const PIPE_SIZES: [libc::c_int; 2] = [4 << 20, 1 << 20];

/// The longest single wait between two looks at the pipe.
pub const NAP: Duration = Duration::from_millis(5);

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
}

impl Gather {
    /// For the pipe at `fd` (stdin: 0), as big as it is now.
    pub fn on(fd: RawFd) -> Gather {
        // SAFETY: F_GETPIPE_SZ only reads the capacity; on what is not a pipe it fails.
        let capacity = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        Gather {
            fd,
            enough: usize::try_from(capacity).ok().map(|c| c / 4),
        }
    }

    /// Waits up to `most` for lines: naps of [`NAP`] until `most` has passed or a quarter of
    /// the pipe is full.
    pub fn wait(&self, most: Duration) {
        if self.enough.is_none() {
            thread::sleep(most.min(NAP));
            return;
        }
        let mut waited = Duration::ZERO;
        while waited < most {
            let nap = NAP.min(most - waited);
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
    fn a_file_is_not_a_pipe() {
        let file = tempfile::tempfile().unwrap();
        assert!(Gather::on(file.as_raw_fd()).enough.is_none());
    }
}
