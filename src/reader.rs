//! Cuts a byte stream (stdin) into lines, one big `read()` at a time.
//!
//! Each call to [`LineReader::next_chunk`] blocks for exactly one `read()` and returns every
//! line that is complete in the buffer, so a caller hands lines on as soon as Apache wrote
//! them and never waits for a buffer to fill.
//!
//! What counts as a line:
//! - `\n` ends a line; a `\r` right before it is dropped (CRLF).
//! - Blank lines (empty or only spaces and tabs) carry nothing and are skipped, but counted.
//! - A line longer than `max_line` is cut to its first `max_line` bytes and marked
//!   `truncated`; the rest of it, up to its newline, is discarded and counted. Up to
//!   `max_line + 1` bytes of a line are kept waiting for its newline, so a line of exactly
//!   `max_line` bytes (plus a CR) whose newline comes in a later read is whole.
//! - At end of input an unterminated last line is still a line.
//!
//! Bytes are passed on untouched: no UTF-8 check here.

use std::io::{self, Read};

/// Bytes read per `read()` call at least (the buffer also holds one whole maximal line).
const READ_SIZE: usize = 256 * 1024;

/// One line, without its line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub bytes: &'a [u8],
    pub truncated: bool,
}

/// The lines one read made complete, and the start of the next one.
#[derive(Debug)]
pub struct Chunk<'a> {
    buf: &'a [u8],
    spans: &'a [Span],
    unfinished: &'a [u8],
    emptied: bool,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    truncated: bool,
}

impl<'a> Chunk<'a> {
    /// The lines, in input order.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = Line<'a>> + 'a {
        let buf = self.buf;
        self.spans.iter().map(move |s| Line {
            bytes: &buf[s.start..s.end],
            truncated: s.truncated,
        })
    }

    /// What has been read of the line after them (no newline yet), usually empty: a
    /// caller that must not lose read bytes keeps it somewhere safe until the next chunk.
    pub fn unfinished(&self) -> &'a [u8] {
        self.unfinished
    }

    /// The read took all there was and left room to spare (a pipe it emptied): the next
    /// read would wait for the writer.
    pub fn emptied(&self) -> bool {
        self.emptied
    }
}

/// Counters of what the reader saw besides the lines it returned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    pub bytes: u64,
    pub lines: u64,
    pub blank_lines: u64,
    pub truncated_lines: u64,
    /// Bytes cut off over-long lines.
    pub discarded_bytes: u64,
}

/// Reads lines from `R` in big chunks.
#[derive(Debug)]
pub struct LineReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    max_line: usize,
    /// Inside the discarded rest of an over-long line.
    discarding: bool,
    eof: bool,
    spans: Vec<Span>,
    stats: ReadStats,
}

impl<R: Read> LineReader<R> {
    /// A reader that cuts lines longer than `max_line` bytes (at least 1).
    pub fn new(src: R, max_line: usize) -> LineReader<R> {
        let max_line = max_line.max(1);
        LineReader {
            src,
            buf: vec![0; READ_SIZE + max_line],
            start: 0,
            end: 0,
            max_line,
            discarding: false,
            eof: false,
            spans: Vec::new(),
            stats: ReadStats::default(),
        }
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Blocks for one read and returns the lines it completed (possibly none), or `None` once
    /// the input has ended and every line was returned. Interrupted reads are retried.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk<'_>>> {
        if self.eof {
            return Ok(None);
        }
        self.compact();
        let room = self.buf.len() - self.end;
        let n = loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.stats.bytes += n as u64;
        self.end += n;
        self.eof = n == 0;
        self.cut_lines();
        Ok(Some(Chunk {
            buf: &self.buf,
            spans: &self.spans,
            unfinished: &self.buf[self.start..self.end],
            emptied: n > 0 && n < room,
        }))
    }

    /// Moves the unconsumed tail to the front so a whole `READ_SIZE` read fits behind it.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    fn cut_lines(&mut self) {
        self.spans.clear();
        let mut pos = self.start;
        while pos < self.end {
            let Some(nl) = memchr::memchr(b'\n', &self.buf[pos..self.end]).map(|i| pos + i) else {
                break;
            };
            if self.discarding {
                self.stats.discarded_bytes += (nl - pos) as u64;
                self.discarding = false;
            } else {
                self.push_line(pos, nl, true);
            }
            pos = nl + 1;
        }
        // What is left has no newline yet.
        let rest = self.end - pos;
        if self.discarding {
            self.stats.discarded_bytes += rest as u64;
            pos = self.end;
        } else if self.eof && rest > 0 {
            self.push_line(pos, self.end, true);
            pos = self.end;
        } else if rest >= self.max_line + 2 {
            // Longer than `max_line` whatever comes next (a CRLF ending would take off one
            // byte): cut it now and discard the rest of it up to its newline.
            self.push_line(pos, self.end, false);
            self.discarding = true;
            pos = self.end;
        }
        self.start = pos;
    }

    /// Records `buf[start..end]` (a line without its `\n`, or the start of an over-long one
    /// that is not `complete`) unless it is blank.
    fn push_line(&mut self, start: usize, mut end: usize, complete: bool) {
        if complete && end > start && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &self.buf[start..end];
        if line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
            self.stats.blank_lines += 1;
            return;
        }
        let truncated = end - start > self.max_line;
        if truncated {
            self.stats.truncated_lines += 1;
            self.stats.discarded_bytes += (end - start - self.max_line) as u64;
            end = start + self.max_line;
        }
        self.stats.lines += 1;
        self.spans.push(Span {
            start,
            end,
            truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that returns its input in the given piece sizes, like a pipe would.
    struct Pieces {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
    }

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let want = if self.sizes.is_empty() {
                usize::MAX
            } else {
                self.sizes.remove(0)
            };
            let n = want.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn read_all(
        data: &[u8],
        sizes: Vec<usize>,
        max_line: usize,
    ) -> (Vec<(Vec<u8>, bool)>, ReadStats) {
        let src = Pieces {
            data: data.to_vec(),
            pos: 0,
            sizes,
        };
        let mut reader = LineReader::new(src, max_line);
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().expect("reading from memory") {
            out.extend(chunk.lines().map(|l| (l.bytes.to_vec(), l.truncated)));
        }
        (out, reader.stats())
    }

    fn texts(lines: &[(Vec<u8>, bool)]) -> Vec<String> {
        lines
            .iter()
            .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn lines_split_across_reads_come_out_whole() {
        let (lines, stats) = read_all(b"alpha\nbeta\ngamma\n", vec![3, 4, 1, 100], 1024);
        assert_eq!(texts(&lines), ["alpha", "beta", "gamma"]);
        assert_eq!(stats.lines, 3);
        assert_eq!(stats.bytes, 17);
    }

    #[test]
    fn crlf_is_stripped_and_blank_lines_are_skipped_and_counted() {
        let (lines, stats) = read_all(b"a\r\n\r\n\n   \nb\n\t\n", vec![], 1024);
        assert_eq!(texts(&lines), ["a", "b"]);
        assert_eq!(stats.blank_lines, 4);
    }

    #[test]
    fn the_unfinished_line_is_shown_until_it_is_complete() {
        let src = Pieces {
            data: b"one\ntw".iter().chain(b"o\nthree").copied().collect(),
            pos: 0,
            sizes: vec![6, 2, 5],
        };
        let mut reader = LineReader::new(src, 1024);
        let mut seen = Vec::new();
        while let Some(chunk) = reader.next_chunk().expect("reading from memory") {
            let lines: Vec<Vec<u8>> = chunk.lines().map(|l| l.bytes.to_vec()).collect();
            seen.push((lines, chunk.unfinished().to_vec()));
        }
        let unfinished: Vec<&[u8]> = seen.iter().map(|(_, u)| u.as_slice()).collect();
        assert_eq!(unfinished, [&b"tw"[..], b"", b"three", b""]);
        assert_eq!(seen[3].0, [b"three".to_vec()], "at the end it is a line");
    }

    #[test]
    fn last_line_without_newline_is_kept() {
        let (lines, _) = read_all(b"one\ntwo", vec![], 1024);
        assert_eq!(texts(&lines), ["one", "two"]);
    }

    #[test]
    fn over_long_lines_are_cut_and_marked_and_the_next_line_survives() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\nshort\n");
        data.extend(vec![b'y'; 30]);
        let (lines, stats) = read_all(&data, vec![7, 7, 7, 7, 7], 10);
        assert_eq!(
            lines,
            vec![
                (vec![b'x'; 10], true),
                (b"short".to_vec(), false),
                (vec![b'y'; 10], true),
            ]
        );
        assert_eq!(stats.truncated_lines, 2);
        assert_eq!(stats.discarded_bytes, 90 + 20);
    }

    #[test]
    fn a_line_of_exactly_max_bytes_is_not_truncated() {
        let (lines, _) = read_all(b"0123456789\nab\n", vec![], 10);
        assert_eq!(lines[0], (b"0123456789".to_vec(), false));
        for sizes in [vec![10, 100], vec![10, 1, 100], vec![11, 100]] {
            let (lines, stats) = read_all(b"0123456789\r\nab\n", sizes.clone(), 10);
            assert_eq!(
                lines,
                vec![(b"0123456789".to_vec(), false), (b"ab".to_vec(), false)],
                "newline after the read of {sizes:?}"
            );
            assert_eq!((stats.truncated_lines, stats.discarded_bytes), (0, 0));
        }
    }

    #[test]
    fn a_longer_line_whose_first_max_bytes_come_in_one_read_is_marked_truncated() {
        for sizes in [
            vec![10, 100],
            vec![11, 100],
            vec![12, 100],
            vec![10, 1, 1, 100],
        ] {
            let (lines, stats) = read_all(b"0123456789XYZ\nab\n", sizes.clone(), 10);
            assert_eq!(
                lines,
                vec![(b"0123456789".to_vec(), true), (b"ab".to_vec(), false)],
                "reads of {sizes:?}"
            );
            assert_eq!((stats.truncated_lines, stats.discarded_bytes), (1, 3));
        }
        let (lines, _) = read_all(b"0123456789\rX\n", vec![11, 100], 10);
        assert_eq!(lines, vec![(b"0123456789".to_vec(), true)], "a CR inside");
    }

    #[test]
    fn any_bytes_pass_through_untouched() {
        let (lines, _) = read_all(b"\xff\x00\xfe\n", vec![], 64);
        assert_eq!(lines, vec![(b"\xff\x00\xfe".to_vec(), false)]);
    }
}
