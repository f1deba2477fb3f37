//! Service names as one word on a line: `%` and every whitespace character
//! are written `%XX` (hex of the character, two digits); decoding undoes it
//! and leaves any other `%` as it is.

use std::fmt::Write as _;

/// `a b%c` → `a%20b%25c`.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            c if c.is_whitespace() => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `a%20b%25c` → `a b%c`; a `%` not followed by two hex digits stays.
pub fn unescape_name(word: &str) -> String {
    let b = word.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_words_and_come_back() {
        assert_eq!(escape_name("10-syslog"), "10-syslog");
        assert_eq!(escape_name("a b%c\td\ne"), "a%20b%25c%09d%0Ae");
        for name in ["10-syslog", "a b%c\td\ne", "%", "%zz", "été", ""] {
            assert_eq!(unescape_name(&escape_name(name)), name);
        }
    }

    #[test]
    fn stray_percent_signs_stay() {
        assert_eq!(unescape_name("a%20b%25c%09d%zz%2"), "a b%c\td%zz%2");
    }
}
