//! The only writer of stderr, which for the piped logger is httpd's ErrorLog.
//!
//! Every message is one line prefixed `accesslog-pubsub: `, written with one `write()` so
//! lines of different threads never interleave. A failing stderr is ignored: there is no
//! one left to tell.
//!
//! Levels decide what is said:
//! - [`error`]: something failed or was lost; always said.
//! - `warn`: trouble the operator should look at while the work goes on; always said.
//! - `note`: what a command or the spool did that is worth knowing; always said.
//! - `Level::Info`: reports nobody asked to be warned about; said only with `verbose`
//!   ([`set_verbose`]).
//!
//! Rate limits keep a flood of trouble from flooding the log, each owned by the caller that
//! says the lines, with time passed in so tests can step it:
//! - `PerKind`: each kind of message at most once per period;
//! - `Budget`: at most so many lines per period, plus one line saying how many were held
//!   back.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::Hash;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What every line starts with.
const PREFIX: &str = "accesslog-pubsub: ";

/// Whether [`Level::Info`] lines are said.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// How much a message matters, which decides whether it is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warning,
    Notice,
    Info,
}

/// Says `Level::Info` lines from now on (`true`) or not.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// Says one line at `level`, if that level is said.
pub(crate) fn say(level: Level, text: impl fmt::Display) {
    if level == Level::Info && !VERBOSE.load(Ordering::Relaxed) {
        return;
    }
    write_stderr(&line(text));
}

/// Something failed or was lost.
pub fn error(text: impl fmt::Display) {
    say(Level::Error, text);
}

/// Trouble the operator should look at; the work goes on.
pub(crate) fn warn(text: impl fmt::Display) {
    say(Level::Warning, text);
}

/// What was done, worth knowing.
pub(crate) fn note(text: impl fmt::Display) {
    say(Level::Notice, text);
}

/// Redraws a progress line in place (a terminal's `\r`), without the prefix.
pub(crate) fn progress(text: impl fmt::Display) {
    write_stderr(&format!("\r{text}"));
}

/// Ends a progress line, so what follows starts on a line of its own.
pub(crate) fn end_progress() {
    write_stderr("\n");
}

/// The line `text` is said as: prefix, text, newline.
fn line(text: impl fmt::Display) -> String {
    let mut line = String::with_capacity(128);
    line.push_str(PREFIX);
    // Writing into a String cannot fail.
    let _ = write!(line, "{text}");
    line.push('\n');
    line
}

fn write_stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Each kind of message at most once per period.
#[derive(Debug)]
pub(crate) struct PerKind<K> {
    period: Duration,
    last: HashMap<K, Instant>,
}

impl<K: Eq + Hash> PerKind<K> {
    pub fn new(period: Duration) -> PerKind<K> {
        PerKind {
            period,
            last: HashMap::new(),
        }
    }

    /// When `kind` may be said again; `None`: at any time.
    pub fn allowed_from(&self, kind: &K) -> Option<Instant> {
        self.last.get(kind).map(|at| *at + self.period)
    }

    /// True when `kind` was not said within the period before `now`; it then counts as
    /// said at `now`.
    pub fn allow(&mut self, kind: K, now: Instant) -> bool {
        match self.last.get(&kind) {
            Some(at) if now.duration_since(*at) < self.period => false,
            _ => {
                self.last.insert(kind, now);
                true
            }
        }
    }
}

/// At most `lines` lines per period; what is held back is counted and said when the next
/// period begins.
#[derive(Debug)]
pub(crate) struct Budget {
    lines: usize,
    period: Duration,
    /// What the held-back lines were, for the line that counts them ("spool events").
    what: &'static str,
    window_start: Option<Instant>,
    shown: usize,
    held_back: usize,
}

impl Budget {
    pub fn new(lines: usize, period: Duration, what: &'static str) -> Budget {
        Budget {
            lines,
            period,
            what,
            window_start: None,
            shown: 0,
            held_back: 0,
        }
    }

    /// Starts a new period if the current one is over at `now` (or at once with `last`,
    /// before the program exits), and returns the line about what the ended one held back.
    pub(crate) fn roll(&mut self, now: Instant, last: bool) -> Option<String> {
        let over = last
            || self
                .window_start
                .is_none_or(|start| now.duration_since(start) >= self.period);
        if !over {
            return None;
        }
        let held_back = std::mem::take(&mut self.held_back);
        self.window_start = Some(now);
        self.shown = 0;
        (held_back > 0).then(|| {
            format!(
                "{held_back} more {} were not shown (at most {} per {}s)",
                self.what,
                self.lines,
                self.period.as_secs()
            )
        })
    }

    /// When the line about what this period held back is due; `None` if nothing was.
    pub fn held_until(&self) -> Option<Instant> {
        self.window_start
            .filter(|_| self.held_back > 0)
            .map(|start| start + self.period)
    }

    /// True when one more line fits in this period; false counts it as held back.
    pub fn take(&mut self) -> bool {
        if self.shown < self.lines {
            self.shown += 1;
            true
        } else {
            self.held_back += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_prefixed_and_ends_with_a_newline() {
        assert_eq!(
            line(format_args!("{} lines", 3)),
            "accesslog-pubsub: 3 lines\n"
        );
    }

    #[test]
    fn each_kind_is_allowed_once_per_period() {
        let mut limit = PerKind::new(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(limit.allowed_from(&"topic"), None);
        assert!(limit.allow("topic", start));
        assert_eq!(
            limit.allowed_from(&"topic"),
            Some(start + Duration::from_secs(30))
        );
        assert!(!limit.allow("topic", start + Duration::from_secs(29)));
        assert!(limit.allow("permission", start));
        assert!(limit.allow("topic", start + Duration::from_secs(30)));
    }

    #[test]
    fn a_budget_holds_back_the_excess_and_counts_it_next_period() {
        let mut budget = Budget::new(2, Duration::from_secs(30), "events");
        let start = Instant::now();
        assert_eq!(budget.roll(start, false), None);
        assert!(budget.take() && budget.take());
        assert!(!budget.take() && !budget.take());
        assert_eq!(budget.held_until(), Some(start + Duration::from_secs(30)));
        assert_eq!(budget.roll(start + Duration::from_secs(1), false), None);
        assert_eq!(
            budget
                .roll(start + Duration::from_secs(30), false)
                .as_deref(),
            Some("2 more events were not shown (at most 2 per 30s)")
        );
        assert!(budget.take());
        assert_eq!(budget.roll(start, true), None, "nothing held back");
    }
}
