//! Column names: turning header/variable names into BigQuery-legal snake case, and
//! numbering duplicates (`method`, `method_2`, ...).

use std::collections::HashSet;

/// BigQuery's limit on a column name's length.
const MAX_NAME: usize = 300;

/// `X-Forwarded-For` -> `x_forwarded_for`: ASCII letters and digits lowercased, every run of
/// anything else one `_`, no `_` at either end. May be empty.
pub(crate) fn snake(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    let mut pending = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending && !s.is_empty() {
                s.push('_');
            }
            pending = false;
            s.push(c.to_ascii_lowercase());
        } else {
            pending = true;
        }
    }
    s
}

/// The names taken so far in one record.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    used: HashSet<String>,
}

impl NameSet {
    /// Reserves `name` as is (the record's own keys).
    pub(crate) fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_owned());
    }

    /// Takes `name`, or `name_2`, `name_3`, ... when it is taken; cut to BigQuery's limit.
    pub(crate) fn take(&mut self, name: &str) -> String {
        let base: String = name.chars().take(MAX_NAME - 8).collect();
        let mut candidate = base.clone();
        let mut n = 1;
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{base}_{n}");
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rules() {
        assert_eq!(snake("X-Forwarded-For"), "x_forwarded_for");
        assert_eq!(snake("SSL_PROTOCOL"), "ssl_protocol");
        assert_eq!(snake("--a  b--"), "a_b");
        assert_eq!(snake("Ünïcode"), "n_code");
        assert_eq!(snake("-"), "");
    }

    #[test]
    fn duplicates_are_numbered() {
        let mut names = NameSet::default();
        names.reserve("id");
        assert_eq!(names.take("method"), "method");
        assert_eq!(names.take("method"), "method_2");
        assert_eq!(names.take("method"), "method_3");
        assert_eq!(names.take("id"), "id_2");
    }

    #[test]
    fn long_names_are_cut() {
        let mut names = NameSet::default();
        let long = "a".repeat(400);
        let first = names.take(&long);
        let second = names.take(&long);
        assert!(first.len() <= MAX_NAME && second.len() <= MAX_NAME);
        assert_ne!(first, second);
    }
}
