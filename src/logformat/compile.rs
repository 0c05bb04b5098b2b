//! Compiling a LogFormat string into a [`Plan`]: the literal/field steps a line is matched
//! against, how each field's end is found, and what each field logs.
//!
//! The string is read the way mod_log_config's `parse_log_item` reads it: after `%`, any of
//! `!`, digits, `,`, `<`, `>`, `{arg}` in any order, then a letter or `^` and two letters.
//! Literal text takes `\\`, `\n`, `\r`, `\t` as Apache does, and `\"` as `"` (as written in
//! httpd.conf); any other backslash stays.

use chrono::format::Item as StrftimeItem;

use super::directive::{self, Condition, Conv, Directive, Logged, Spec, TimeItem, Unit, Written};
use super::{FormatError, time};

/// The compiled form of a LogFormat.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) fields: Vec<Field>,
    /// Indices of the `%t` fields that make the timestamp (empty: no `%t`); the first is the
    /// field whose value it is.
    pub(crate) time_fields: Vec<usize>,
    /// Fraction digits of the timestamp: 0, 3 or 6.
    pub(crate) time_digits: usize,
}

/// One step of matching a line.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Literal(Box<[u8]>),
    Field(usize),
}

/// One directive in the plan.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The directive as written in the format, for messages.
    pub(crate) text: String,
    pub(crate) conv: Conv,
    pub(crate) extent: Extent,
    pub(crate) directive: Directive,
}

/// How the end of a field is found.
#[derive(Debug, Clone)]
pub(crate) enum Extent {
    /// At the next occurrence of the literal that follows. `quoted`: the field sits between
    /// `"`s, so escaped `\"` and `\\` are skipped. `last`: the literal ends the format, so it
    /// must end the line.
    Until {
        lit: Box<[u8]>,
        quoted: bool,
        last: bool,
    },
    /// The field ends the format: the rest of the line.
    ToEnd,
    /// Exactly this many bytes (`%t`, `%{msec_frac}t`).
    Fixed(usize),
    /// As far as the strftime format of the `%t` item reads.
    Strftime,
    /// An integer directly followed by another directive: `-` or as many digits as there are.
    Digits { hex: bool },
    /// Directly followed by a directive whose text starts with `byte`: up to the first
    /// `byte`, which is left to that directive. `or_then`: that directive may also log
    /// nothing (`%q`), and this is how it ends; the field then ends there when no `byte`
    /// comes first.
    Before {
        byte: u8,
        or_then: Option<Box<Extent>>,
    },
}

/// A token of the format string.
enum Token {
    Literal(Vec<u8>),
    Directive {
        text: String,
        column: usize,
        spec: Spec,
        condition: Option<Condition>,
    },
}

/// Compiles `format` (already expanded from a nickname).
pub(crate) fn compile(format: &str) -> Result<Plan, FormatError> {
    let tokens = tokenize(format)?;
    let mut plan = Plan {
        steps: Vec::new(),
        fields: Vec::new(),
        time_fields: Vec::new(),
        time_digits: 0,
    };
    let mut time_end: Option<bool> = None;
    let mut time_column = 0;
    let mut time_items = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (text, column, spec, condition) = match token {
            Token::Literal(l) => {
                plan.steps.push(Step::Literal(l.clone().into_boxed_slice()));
                continue;
            }
            Token::Directive {
                text,
                column,
                spec,
                condition,
            } => (text, *column, spec, condition),
        };
        let index = plan.fields.len();
        let mut logged = spec.logged.clone();
        if let Conv::Time(item) = &spec.conv {
            match time_end {
                None => {
                    time_end = Some(spec.end_time);
                    time_column = column;
                }
                Some(_) => logged = Logged::TimePart,
            }
            if time_end == Some(spec.end_time) {
                plan.time_fields.push(index);
                time_items.push(item.clone());
                plan.time_digits = plan.time_digits.max(time_digits(item));
            }
        }
        let extent = extent(&tokens, i, &spec.conv).map_err(|at| {
            let (text, column) = match &tokens[at] {
                Token::Directive { text, column, .. } => (text.as_str(), *column),
                Token::Literal(_) => (text.as_str(), column),
            };
            FormatError {
                column,
                message: format!(
                    "directive {text} must be followed by literal text, not by another directive"
                ),
            }
        })?;
        plan.fields.push(Field {
            text: text.clone(),
            conv: spec.conv.clone(),
            extent,
            directive: Directive {
                logged,
                condition: condition.clone(),
            },
        });
        plan.steps.push(Step::Field(index));
    }
    if !time_items.is_empty() {
        time::check_items(&time_items).map_err(|message| FormatError {
            column: time_column,
            message,
        })?;
    }
    Ok(plan)
}

fn time_digits(item: &TimeItem) -> usize {
    match item {
        TimeItem::Epoch(u) | TimeItem::Frac(u) => u.digits(),
        TimeItem::Clf | TimeItem::Strftime(_) => Unit::Sec.digits(),
    }
}

/// How the field at `tokens[i]` ends; `Err` holds the index of the directive whose end
/// cannot be known (this one, or the next when this one ends where that one would).
fn extent(tokens: &[Token], i: usize, conv: &Conv) -> Result<Extent, usize> {
    match conv {
        Conv::Time(TimeItem::Clf) => return Ok(Extent::Fixed(time::CLF_LEN)),
        Conv::Time(TimeItem::Frac(u)) => return Ok(Extent::Fixed(u.digits())),
        Conv::Time(TimeItem::Strftime(_)) => return Ok(Extent::Strftime),
        _ => {}
    }
    match tokens.get(i + 1) {
        None => Ok(Extent::ToEnd),
        Some(Token::Literal(lit)) => {
            // Directives with nothing between them sit within the same quotes.
            let after_quote = tokens[..i].iter().rev().find_map(|t| match t {
                Token::Literal(prev) => Some(prev.ends_with(b"\"")),
                Token::Directive { .. } => None,
            });
            Ok(Extent::Until {
                lit: lit.clone().into_boxed_slice(),
                quoted: after_quote == Some(true) && lit.starts_with(b"\""),
                last: i + 2 == tokens.len(),
            })
        }
        Some(Token::Directive {
            spec, condition, ..
        }) => match conv {
            Conv::Int(_) | Conv::Time(TimeItem::Epoch(_)) => Ok(Extent::Digits { hex: false }),
            Conv::HexInt => Ok(Extent::Digits { hex: true }),
            _ => {
                let (byte, may_be_empty) = first_byte(&spec.conv, condition.as_ref()).ok_or(i)?;
                let or_then = match may_be_empty {
                    true => Some(Box::new(extent(tokens, i + 1, &spec.conv)?)),
                    false => None,
                };
                Ok(Extent::Before { byte, or_then })
            }
        },
    }
}

/// The byte a directive's text always starts with, and whether it may also be empty: `?` for
/// `%q` (or nothing), `[` for `%t`, the first character of a strftime `%{...}t` that starts
/// with literal text. `None` for every other directive, and for any directive with a status
/// condition (which then logs `-`).
fn first_byte(conv: &Conv, condition: Option<&Condition>) -> Option<(u8, bool)> {
    if condition.is_some() {
        return None;
    }
    match conv {
        Conv::Query => Some((b'?', true)),
        Conv::Time(TimeItem::Clf) => Some((b'[', false)),
        Conv::Time(TimeItem::Strftime(items)) => match items.first()? {
            StrftimeItem::Literal(text) => Some((*text.as_bytes().first()?, false)),
            StrftimeItem::OwnedLiteral(text) => Some((*text.as_bytes().first()?, false)),
            _ => None,
        },
        _ => None,
    }
}

/// Splits `format` into literals and looked-up directives.
fn tokenize(format: &str) -> Result<Vec<Token>, FormatError> {
    let chars: Vec<char> = format.chars().collect();
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '%' if chars.get(i + 1) == Some(&'%') => {
                literal.push('%');
                i += 2;
            }
            '%' => {
                let (token, next) = directive_at(&chars, i)?;
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal).into_bytes()));
                }
                tokens.push(token);
                i = next;
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some('\\') => literal.push('\\'),
                    Some('"') => literal.push('"'),
                    Some('n') => literal.push('\n'),
                    Some('r') => literal.push('\r'),
                    Some('t') => literal.push('\t'),
                    _ => {
                        literal.push('\\');
                        i += 1;
                        continue;
                    }
                }
                i += 2;
            }
            c => {
                literal.push(c);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal.into_bytes()));
    }
    Ok(tokens)
}

/// Reads the directive whose `%` is at `chars[start]`; returns it and the index after it.
fn directive_at(chars: &[char], start: usize) -> Result<(Token, usize), FormatError> {
    let column = start + 1;
    let fail = |end: usize, what: &str| FormatError {
        column,
        message: format!("{what} {}", chars[start..end].iter().collect::<String>()),
    };
    let mut arg: Option<String> = None;
    let mut want_orig = None;
    let mut negate = false;
    let mut statuses = Vec::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None if i == start + 1 => {
                return Err(FormatError {
                    column,
                    message: "lone % at the end of the format".to_owned(),
                });
            }
            None => return Err(fail(i, "unfinished directive")),
            Some('!') => negate = !negate,
            Some('<') => want_orig = Some(true),
            Some('>') => want_orig = Some(false),
            Some(',') => {}
            Some('{') => {
                let close = chars[i + 1..].iter().position(|&c| c == '}');
                let Some(len) = close else {
                    return Err(fail(chars.len(), "unterminated { in directive"));
                };
                arg = Some(chars[i + 1..i + 1 + len].iter().collect());
                i += len + 1;
            }
            Some(c) if c.is_ascii_digit() => {
                let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                let number: String = chars[i..i + digits].iter().collect();
                let status = number
                    .parse()
                    .map_err(|_| fail(i + digits, "status number too large in"))?;
                statuses.push(status);
                i += digits - 1;
            }
            Some(&c) => {
                let end = if c == '^' { i + 3 } else { i + 1 };
                if end > chars.len() {
                    return Err(fail(chars.len(), "unfinished directive"));
                }
                let code: String = chars[i..end].iter().collect();
                let text: String = chars[start..end].iter().collect();
                let written = Written {
                    code: &code,
                    arg: arg.as_deref(),
                    want_orig,
                };
                let spec = directive::lookup(&written, &text)
                    .map_err(|message| FormatError { column, message })?;
                let condition = (!statuses.is_empty()).then_some(Condition { negate, statuses });
                let token = Token::Directive {
                    text,
                    column,
                    spec,
                    condition,
                };
                return Ok((token, end));
            }
        }
        i += 1;
    }
}
