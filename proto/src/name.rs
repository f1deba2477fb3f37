//! Service names as one word on a line: `%` and every whitespace character
//! are written `%XX` per UTF-8 byte; decoding undoes it and leaves any
//! other `%` as it is. [`percent_escape`] is the one `%XX` writer, also used
//! by `--list` for the terminal with a wider set of characters.

use std::fmt::Write as _;

/// `text` with every character `escape` picks written as `%XX`, one per
/// byte of its UTF-8 encoding (so [`unescape_name`] gives it back).
pub fn percent_escape(text: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `a b%c` → `a%20b%25c`.
pub fn escape_name(name: &str) -> String {
    percent_escape(name, |c| c == '%' || c.is_whitespace())
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
        // U+3000 and U+2028 are whitespace beyond one byte: escaped per
        // UTF-8 byte, they come back whole.
        assert_eq!(escape_name("a\u{3000}b"), "a%E3%80%80b");
        for name in [
            "10-syslog",
            "a b%c\td\ne",
            "%",
            "%zz",
            "été",
            "",
            "x\u{3000}\u{2028}y",
        ] {
            assert_eq!(unescape_name(&escape_name(name)), name);
        }
    }

    #[test]
    fn stray_percent_signs_stay() {
        assert_eq!(unescape_name("a%20b%25c%09d%zz%2"), "a b%c\td%zz%2");
    }
}
