//! A byte buffer for the short appends a record is made of, and the form of the texts that
//! are appended to it on every line (keys).

/// A growable byte buffer that keeps the bytes past its content initialized (zeroed
/// once, when it grows), so that appends are fixed-size, possibly overlapping moves into
/// them instead of `memcpy` calls, which cost more than the copy for the short keys and
/// values of a record.
#[derive(Debug, Default)]
pub(super) struct Buf {
    bytes: Vec<u8>,
    len: usize,
}

impl Buf {
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the content to `len` bytes (no-op if it is not longer).
    pub(super) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The `n` bytes after the content, made to exist. The test for room is the bounds
    /// check of the slice, so there is only one.
    #[inline(always)]
    fn spare(&mut self, n: usize) -> &mut [u8] {
        let (start, end) = (self.len, self.len + n);
        if end > self.bytes.len() {
            self.grow(end);
        }
        &mut self.bytes[start..end]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, end: usize) {
        let want = end.max(2 * self.bytes.len()).max(4096);
        self.bytes.resize(want, 0);
    }

    #[inline]
    pub(super) fn push(&mut self, b: u8) {
        self.spare(1)[0] = b;
        self.len += 1;
    }

    // Always inlined: most calls have a short or constant `s`, for which only one arm
    // of the match in `copy` is left.
    #[inline(always)]
    pub(super) fn put(&mut self, s: &[u8]) {
        let n = s.len();
        copy(self.spare(n), s);
        self.len += n;
    }

    /// Appends `s` and the `"` that closes a JSON string, with one test for room.
    #[inline(always)]
    pub(super) fn put_quoted(&mut self, s: &[u8]) {
        let n = s.len();
        let spare = self.spare(n + 1);
        copy(&mut spare[..n], s);
        spare[n] = b'"';
        self.len += n + 1;
    }

    /// [`Buf::put_quoted`] for a copy of `self.as_slice()[start..end]`.
    #[inline]
    pub(super) fn repeat_quoted(&mut self, start: usize, end: usize) {
        let n = end - start;
        self.spare(n + 1);
        let (content, spare) = self.bytes.split_at_mut(self.len);
        copy(&mut spare[..n], &content[start..end]);
        spare[n] = b'"';
        self.len += n + 1;
    }

    /// Writes `w` after the content without adding it (that is [`Buf::advance`]'s job):
    /// scanning loops copy a word before they know how much of it to keep.
    #[inline]
    pub(super) fn stage(&mut self, w: u64) {
        self.spare(8).copy_from_slice(&w.to_le_bytes());
    }

    /// Adds `n` bytes of what was staged (at most 8) to the content.
    #[inline]
    pub(super) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

/// A text appended on every line (a key, the end of a record), kept with zeros after it up to
/// `ROOM` bytes (32 unless said) so that when it fits, appending it is one fixed-size move,
/// without the choice by length that [`Buf::put`] makes.
#[derive(Debug)]
pub(super) struct Padded<const ROOM: usize = 32> {
    bytes: Box<[u8]>,
    len: usize,
}

impl<const ROOM: usize> Padded<ROOM> {
    pub(super) fn new(text: &[u8]) -> Padded<ROOM> {
        let mut bytes = text.to_vec();
        bytes.resize(text.len().max(ROOM), 0);
        Padded {
            bytes: bytes.into_boxed_slice(),
            len: text.len(),
        }
    }
}

impl Buf {
    /// Appends the text of `t`.
    #[inline(always)]
    pub(super) fn put_padded<const ROOM: usize>(&mut self, t: &Padded<ROOM>) {
        match t.bytes.first_chunk::<ROOM>() {
            Some(room) if t.len <= ROOM => {
                self.spare(ROOM).copy_from_slice(room);
                self.len += t.len;
            }
            _ => self.put(&t.bytes[..t.len]),
        }
    }
}

/// Copies `s` to `d`, which is as long.
#[inline(always)]
fn copy(d: &mut [u8], s: &[u8]) {
    let n = s.len();
    match n {
        0 => {}
        1..=3 => {
            d[0] = s[0];
            d[n / 2] = s[n / 2];
            d[n - 1] = s[n - 1];
        }
        4..=7 => pair::<4>(d, s),
        8..=16 => pair::<8>(d, s),
        17..=32 => pair::<16>(d, s),
        33..=64 => pair::<32>(d, s),
        65..=128 => pair::<64>(d, s),
        _ => d.copy_from_slice(s),
    }
}

/// Copies `s` (`N..=2N` bytes) to `d` (as long) as two `N`-byte moves that overlap.
#[inline(always)]
fn pair<const N: usize>(d: &mut [u8], s: &[u8]) {
    let n = s.len();
    d[..N].copy_from_slice(&s[..N]);
    d[n - N..].copy_from_slice(&s[n - N..]);
}
