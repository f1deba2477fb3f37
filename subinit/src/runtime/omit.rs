//! Debian's omit list for the sweep before `networking` stops: the pids
//! written, one or more per file, in `/run/sendsigs.omit.d/*` and
//! `/run/sendsigs.omit` (as `/etc/init.d/sendsigs` reads them), spared by
//! the SIGTERM and SIGKILL of the sweep (not by the final ones).

use std::fs;
use std::path::{Path, PathBuf};

const OMIT_DIR: &str = "/run/sendsigs.omit.d";
const OMIT_FILE: &str = "/run/sendsigs.omit";

/// The omitted pids, read now (a file that cannot be read counts as empty).
pub fn omitted() -> Vec<i32> {
    let mut files = vec![PathBuf::from(OMIT_FILE)];
    if let Ok(dir) = fs::read_dir(OMIT_DIR) {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    files.iter().flat_map(|f| pids_in(f)).collect()
}

/// Every blank-separated word of `file` that is a pid above 1.
fn pids_in(file: &Path) -> Vec<i32> {
    let text = fs::read_to_string(file).unwrap_or_default();
    parse(&text)
}

fn parse(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .filter(|pid| *pid > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_the_numeric_words_above_one() {
        assert_eq!(parse("42\n"), [42]);
        assert_eq!(parse(" 7 8\n9 x -3 1 0 12a\n"), [7, 8, 9]);
        assert_eq!(parse(""), Vec::<i32>::new());
    }
}
