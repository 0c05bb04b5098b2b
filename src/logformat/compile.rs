//! Compiling a LogFormat string into a [`Plan`]: the literal/field steps a line is matched
//! against, how each field's end is found, and the output columns.
//!
//! The string is read the way mod_log_config's `parse_log_item` reads it: after `%`, any of
//! `!`, digits, `,`, `<`, `>`, `{arg}` in any order, then a letter or `^` and two letters.
//! Literal text takes `\\`, `\n`, `\r`, `\t` as Apache does, and `\"` as `"` (as written in
//! httpd.conf); any other backslash stays.

use super::directive::{self, Conv, Spec, TimeItem, Unit, Written};
use super::names::NameSet;
use super::{Column, FormatError, META_AFTER, META_BEFORE, time};

/// The compiled form of a LogFormat.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) fields: Vec<Field>,
    /// The format's own columns in output order (without `id`, `host`, ...).
    pub(crate) columns: Vec<Column>,
    /// Indices of the `%t` fields that make the timestamp (empty: no `%t`).
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
    /// `,"name":` for each column this field writes (none for the second and later `%t`).
    pub(crate) keys: Vec<Box<[u8]>>,
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
}

/// A token of the format string.
enum Token {
    Literal(Vec<u8>),
    Directive {
        text: String,
        column: usize,
        spec: Spec,
    },
}

/// Compiles `format` (already expanded from a nickname).
pub(crate) fn compile(format: &str) -> Result<Plan, FormatError> {
    let tokens = tokenize(format)?;
    let mut names = NameSet::default();
    for c in META_BEFORE.iter().chain(META_AFTER) {
        names.reserve(c.0);
    }

    let mut plan = Plan {
        steps: Vec::new(),
        fields: Vec::new(),
        columns: Vec::new(),
        time_fields: Vec::new(),
        time_digits: 0,
    };
    let mut time_end: Option<bool> = None;
    let mut time_column = 0;
    let mut time_items = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (text, column, spec) = match token {
            Token::Literal(l) => {
                plan.steps.push(Step::Literal(l.clone().into_boxed_slice()));
                continue;
            }
            Token::Directive { text, column, spec } => (text, *column, spec),
        };
        let index = plan.fields.len();
        let mut takes_columns = true;
        if let Conv::Time(item) = &spec.conv {
            match time_end {
                None => {
                    time_end = Some(spec.end_time);
                    time_column = column;
                }
                Some(_) => takes_columns = false,
            }
            if time_end == Some(spec.end_time) {
                plan.time_fields.push(index);
                time_items.push(item.clone());
                plan.time_digits = plan.time_digits.max(time_digits(item));
            }
        }
        let mut keys = Vec::new();
        if takes_columns {
            for c in &spec.columns {
                let name = names.take(&c.name);
                keys.push(format!(",\"{name}\":").into_bytes().into_boxed_slice());
                plan.columns.push(Column {
                    name,
                    kind: c.kind,
                    description: c.description.clone(),
                });
            }
        }
        let extent = extent(&tokens, i, &spec.conv).ok_or_else(|| FormatError {
            column,
            message: format!(
                "directive {text} must be followed by literal text, not by another directive"
            ),
        })?;
        plan.fields.push(Field {
            text: text.clone(),
            conv: spec.conv.clone(),
            extent,
            keys,
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

/// How the field at `tokens[i]` ends; `None` when that cannot be known.
fn extent(tokens: &[Token], i: usize, conv: &Conv) -> Option<Extent> {
    match conv {
        Conv::Time(TimeItem::Clf) => return Some(Extent::Fixed(time::CLF_LEN)),
        Conv::Time(TimeItem::Frac(u)) => return Some(Extent::Fixed(u.digits())),
        Conv::Time(TimeItem::Strftime(_)) => return Some(Extent::Strftime),
        _ => {}
    }
    match tokens.get(i + 1) {
        None => Some(Extent::ToEnd),
        Some(Token::Literal(lit)) => {
            let after_quote =
                i > 0 && matches!(&tokens[i - 1], Token::Literal(prev) if prev.ends_with(b"\""));
            Some(Extent::Until {
                lit: lit.clone().into_boxed_slice(),
                quoted: after_quote && lit.starts_with(b"\""),
                last: i + 2 == tokens.len(),
            })
        }
        Some(Token::Directive { .. }) => match conv {
            Conv::Int(_) | Conv::Time(TimeItem::Epoch(_)) => Some(Extent::Digits { hex: false }),
            Conv::HexInt => Some(Extent::Digits { hex: true }),
            _ => None,
        },
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
                    negate,
                    statuses: &statuses,
                };
                let spec = directive::lookup(&written, &text)
                    .map_err(|message| FormatError { column, message })?;
                return Ok((Token::Directive { text, column, spec }, end));
            }
        }
        i += 1;
    }
}
