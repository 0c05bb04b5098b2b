//! Matching one line against a [`Plan`]: where each field starts and ends.
//!
//! Literals must appear exactly where the plan puts them. A field ends where the literal after
//! it begins (`scan::find3` for its first byte, `"` and `\`, so that the search also tells
//! whether the field holds either), inside quotes at the first unescaped `"` that starts that
//! literal (`scan::find2` on `"` and `\`), and the literal found that way is passed over
//! without being checked again; the format's final literal must end the line. Nothing is
//! copied or converted here.

use chrono::format::{Parsed, parse_and_remainder};

use super::compile::{Extent, Plan, Step};
use super::directive::{Conv, TimeItem};
use memchr::memchr;

use crate::scan::{find2, find3};

/// Where one field's text is in the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The text holds no `"` and no `\`, as the search for its end found (fields that end
    /// at a literal are searched for those; false when not known).
    pub(crate) clean: bool,
}

/// Why a line does not match; `at` is a byte offset in the line (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// The literal of step `step` is not at `at`.
    Literal { step: usize, at: usize },
    /// The literal that ends field `field` (starting at `at`) never comes.
    Unterminated { field: usize, at: usize },
    /// Field `field` at `at` is not what it must be.
    Field {
        field: usize,
        at: usize,
        what: &'static str,
    },
    /// The line goes on after the format ended.
    Trailing { at: usize },
}

impl LineError {
    /// A short message for the `parse_error` key, with a 1-based byte column.
    pub(crate) fn render(&self, plan: &Plan, out: &mut String) {
        use std::fmt::Write;
        let text = |f: usize| plan.fields[f].text.as_str();
        // Writing to a String cannot fail.
        let _ = match *self {
            LineError::Literal { step, at } => {
                let Step::Literal(lit) = &plan.steps[step] else {
                    return;
                };
                let lit = String::from_utf8_lossy(lit);
                match plan.steps.get(step + 1) {
                    Some(Step::Field(f)) => {
                        write!(
                            out,
                            "expected {lit:?} before {} at column {}",
                            text(*f),
                            at + 1
                        )
                    }
                    _ => write!(out, "expected {lit:?} at column {}", at + 1),
                }
            }
            LineError::Unterminated { field, at } => {
                let lit = match &plan.fields[field].extent {
                    Extent::Until { lit, .. } => String::from_utf8_lossy(lit),
                    Extent::Before { byte, .. } => {
                        String::from_utf8_lossy(&[*byte]).into_owned().into()
                    }
                    _ => "".into(),
                };
                write!(
                    out,
                    "no {lit:?} after {} starting at column {}",
                    text(field),
                    at + 1
                )
            }
            LineError::Field { field, at, what } => {
                write!(out, "{what} for {} at column {}", text(field), at + 1)
            }
            LineError::Trailing { at } => write!(out, "unexpected text at column {}", at + 1),
        };
    }
}

/// Splits `line` by `plan` into `spans` (one per field).
pub(crate) fn split(plan: &Plan, line: &[u8], spans: &mut Vec<Span>) -> Result<(), LineError> {
    spans.clear();
    // The line as text if it is UTF-8, checked only if a strftime item needs it.
    let mut text = None;
    let mut pos = 0;
    let mut steps = plan.steps.iter().enumerate();
    while let Some((step_index, step)) = steps.next() {
        match step {
            Step::Literal(lit) => {
                if !has_prefix(&line[pos..], lit) {
                    return Err(LineError::Literal {
                        step: step_index,
                        at: pos,
                    });
                }
                pos += lit.len();
            }
            Step::Field(f) => {
                let field = &plan.fields[*f];
                let mut clean = false;
                // Where the next step starts: past the literal that ends the field if the
                // search for it found it (its step is then skipped), else at the field's end.
                let mut next = None;
                let end = match &field.extent {
                    Extent::Until { lit, quoted, last } => {
                        let found = if *quoted {
                            find_quoted_end(line, pos, lit, *last)
                        } else {
                            find_end(line, pos, lit, *last)
                        };
                        let (end, no_specials) =
                            found.ok_or(LineError::Unterminated { field: *f, at: pos })?;
                        clean = no_specials;
                        next = Some(end + lit.len());
                        end
                    }
                    Extent::ToEnd => line.len(),
                    Extent::Fixed(n) => fixed_end(line, pos, *n, &field.conv)
                        .ok_or_else(|| fixed_error(*f, line, pos, &field.conv))?,
                    Extent::Strftime => {
                        let text = *text.get_or_insert_with(|| std::str::from_utf8(line).ok());
                        strftime_end(line, text, pos, &field.conv).ok_or(LineError::Field {
                            field: *f,
                            at: pos,
                            what: "bad time",
                        })?
                    }
                    Extent::Digits { hex } => digits_end(line, pos, *hex),
                    Extent::Before { byte, or_then } => {
                        find_before(line, pos, *byte, or_then.as_deref())
                            .ok_or(LineError::Unterminated { field: *f, at: pos })?
                    }
                };
                spans.push(Span {
                    start: pos,
                    end,
                    clean,
                });
                pos = match next {
                    Some(next) => {
                        steps.next();
                        next
                    }
                    None => end,
                };
            }
        }
    }
    if pos != line.len() {
        return Err(LineError::Trailing { at: pos });
    }
    Ok(())
}

/// `hay.starts_with(lit)` for the short literals of a format, without a call to memcmp for
/// the most common ones (one to three bytes: ` `, `" "`, `] `).
#[inline]
fn has_prefix(hay: &[u8], lit: &[u8]) -> bool {
    match *lit {
        [a] => hay.first() == Some(&a),
        [a, b] => hay.first_chunk() == Some(&[a, b]),
        [a, b, c] => hay.first_chunk() == Some(&[a, b, c]),
        _ => hay.starts_with(lit),
    }
}

/// Whether the literal `lit` is at `i` (and, if `last`, ends the line).
#[inline]
fn fits(line: &[u8], i: usize, lit: &[u8], last: bool) -> bool {
    has_prefix(&line[i..], lit) && (!last || i + lit.len() == line.len())
}

/// Where the literal `lit` that ends a field between quotes starting at `pos` begins: the
/// first `"` not escaped by a `\` where `lit` fits; and whether the field holds no `"` or
/// `\` at all.
#[inline(always)]
fn find_quoted_end(line: &[u8], pos: usize, lit: &[u8], last: bool) -> Option<(usize, bool)> {
    let mut at = pos;
    while let Some(off) = find2(b'"', b'\\', &line[at..]) {
        let i = at + off;
        if line[i] == b'\\' {
            at = i + 2;
            if at > line.len() {
                return None;
            }
        } else if fits(line, i, lit, last) {
            // Nothing was found before it: the field holds no `"` or `\`.
            return Some((i, at == pos));
        } else {
            at = i + 1;
        }
    }
    None
}

/// Where the literal `lit` that ends a field starting at `pos` begins, and whether the field
/// is known to hold no `"` or `\` (the search for the literal looks for those too; a last
/// literal is not searched for, so nothing is known then).
#[inline(always)]
fn find_end(line: &[u8], pos: usize, lit: &[u8], last: bool) -> Option<(usize, bool)> {
    if last {
        let end = line.len().checked_sub(lit.len())?;
        return (end >= pos && fits(line, end, lit, last)).then_some((end, false));
    }
    let first = *lit.first()?;
    let mut at = pos;
    let mut clean = true;
    while let Some(off) = find3(first, b'"', b'\\', &line[at..]) {
        let i = at + off;
        if line[i] == first && fits(line, i, lit, last) {
            return Some((i, clean));
        }
        clean = clean && line[i] != b'"' && line[i] != b'\\';
        at = i + 1;
    }
    None
}

/// Where a field starting at `pos` ends that is directly followed by a directive whose text
/// starts with `byte`: at the first `byte`; if that directive may log nothing (`or_then`:
/// how it ends), at the first `byte` before where it would end, else there.
#[inline(never)]
fn find_before(line: &[u8], pos: usize, byte: u8, or_then: Option<&Extent>) -> Option<usize> {
    let limit = match or_then {
        None => line.len(),
        Some(then) => end_from(line, pos, then)?,
    };
    match memchr(byte, &line[pos..limit]) {
        Some(off) => Some(pos + off),
        None => or_then.map(|_| limit),
    }
}

/// Where a field starting at `pos` would end by `extent`, for the extents of fields that may
/// be empty (the others never are).
fn end_from(line: &[u8], pos: usize, extent: &Extent) -> Option<usize> {
    match extent {
        Extent::Until { lit, quoted, last } => {
            let found = if *quoted {
                find_quoted_end(line, pos, lit, *last)
            } else {
                find_end(line, pos, lit, *last)
            };
            found.map(|(end, _)| end)
        }
        Extent::ToEnd => Some(line.len()),
        Extent::Before { byte, or_then } => find_before(line, pos, *byte, or_then.as_deref()),
        Extent::Fixed(_) | Extent::Strftime | Extent::Digits { .. } => None,
    }
}

/// The end of a fixed-width field, checking the parts that tell where it is.
fn fixed_end(line: &[u8], pos: usize, n: usize, conv: &Conv) -> Option<usize> {
    let bytes = line.get(pos..pos + n)?;
    let ok = match conv {
        Conv::Time(TimeItem::Clf) => bytes[0] == b'[' && bytes[n - 1] == b']',
        _ => bytes.iter().all(u8::is_ascii_digit),
    };
    ok.then_some(pos + n)
}

fn fixed_error(field: usize, line: &[u8], at: usize, conv: &Conv) -> LineError {
    let what = match conv {
        Conv::Time(TimeItem::Clf) if line.get(at) != Some(&b'[') => "expected \"[\"",
        Conv::Time(TimeItem::Clf) => "expected \"[dd/Mon/yyyy:HH:MM:SS +zzzz]\"",
        _ => "expected digits",
    };
    LineError::Field { field, at, what }
}

/// How far a strftime `%t` item reads from `pos`.
fn strftime_end(line: &[u8], text: Option<&str>, pos: usize, conv: &Conv) -> Option<usize> {
    let Conv::Time(TimeItem::Strftime(items)) = conv else {
        return None;
    };
    let rest = match text {
        Some(t) => t.get(pos..)?,
        None => match std::str::from_utf8(&line[pos..]) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&line[pos..pos + e.valid_up_to()]).ok()?,
        },
    };
    let mut parsed = Parsed::new();
    let remainder = parse_and_remainder(&mut parsed, rest, items.iter()).ok()?;
    Some(pos + rest.len() - remainder.len())
}

/// `-`, or the run of digits (with an optional `-` sign) at `pos`.
fn digits_end(line: &[u8], pos: usize, hex: bool) -> usize {
    let mut end = pos;
    if line.get(end) == Some(&b'-') {
        end += 1;
    }
    while end < line.len() && (line[end].is_ascii_digit() || (hex && line[end].is_ascii_hexdigit()))
    {
        end += 1;
    }
    end
}
