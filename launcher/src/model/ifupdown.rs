//! The words of Debian's ifupdown configuration (interfaces(5)), parsed:
//! which interfaces it names, and its `source` / `source-directory`
//! includes (shell patterns, run-parts names). Pure; the files are read
//! in `subhost::ifupdown`.

use std::collections::HashSet;

/// An include line of interfaces(5).
#[derive(Debug, PartialEq, Eq)]
pub enum Include {
    /// `source PATTERN`: the files the shell pattern names.
    Source(String),
    /// `source-directory DIR`: its files named `[A-Za-z0-9_-]+`.
    Directory(String),
}

/// Collects the words of every line that is not a comment, and returns the
/// include lines.
pub fn scan(text: &str, words: &mut HashSet<String>) -> Vec<Include> {
    let mut includes = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let mut it = line.split_whitespace();
        match (it.next(), it.next()) {
            (Some("source"), Some(p)) => includes.push(Include::Source(p.into())),
            (Some("source-directory"), Some(d)) => includes.push(Include::Directory(d.into())),
            _ => words.extend(line.split_whitespace().map(str::to_string)),
        }
    }
    includes
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Names `source-directory` takes (run-parts' rule).
pub fn run_parts_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Shell pattern match of one file name: `*` and `?` (a leading dot is
/// never matched by a wildcard); `[` is taken literally.
pub fn wild_match(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pat.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wild_match("*", "mta"));
        assert!(wild_match("*.cfg", "a.cfg"));
        assert!(!wild_match("*.cfg", "a.cfgx"));
        assert!(wild_match("a?c", "abc"));
        assert!(!wild_match("*", ".hidden"));
        assert!(wild_match(".*", ".hidden"));
    }

    #[test]
    fn words_and_includes() {
        let mut w = HashSet::new();
        let inc = scan(
            "# iface gone0 inet manual\nauto mta0\niface mta0 inet manual\n\
             source interfaces.d/*\n  source-directory more\n",
            &mut w,
        );
        assert!(w.contains("mta0") && !w.contains("gone0"));
        assert_eq!(
            inc,
            vec![
                Include::Source("interfaces.d/*".into()),
                Include::Directory("more".into())
            ]
        );
    }
}
