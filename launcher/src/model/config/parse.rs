//! Text → assignments, exactly as the original reads its file: `VAR=value`
//! with VAR flush left and `=` right after it (`SHARE` may have blanks before
//! `=`), the value trimmed of blanks, the first assignment of a variable wins,
//! every `SHARE` counts, everything else is ignored. Pure, no I/O.

use std::fmt;

/// The variables the file may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    Name,
    Log,
    Base,
    Cables,
    Live,
    Upper,
    Work,
    Lower,
    Start,
    Premount,
    Postmount,
    Init,
    RamSize,
    Share,
    Services,
    StopTimeout,
    MemoryMax,
    MemoryHigh,
    CpuMax,
    CpuWeight,
    PidsMax,
    IoWeight,
    KeepCaps,
    Security,
    PrivateUsers,
}

impl Var {
    pub const ALL: [Var; 25] = [
        Var::Name,
        Var::Log,
        Var::Base,
        Var::Cables,
        Var::Live,
        Var::Upper,
        Var::Work,
        Var::Lower,
        Var::Start,
        Var::Premount,
        Var::Postmount,
        Var::Init,
        Var::RamSize,
        Var::Share,
        Var::Services,
        Var::StopTimeout,
        Var::MemoryMax,
        Var::MemoryHigh,
        Var::CpuMax,
        Var::CpuWeight,
        Var::PidsMax,
        Var::IoWeight,
        Var::KeepCaps,
        Var::Security,
        Var::PrivateUsers,
    ];

    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Var::Name => "NAME",
            Var::Log => "LOG",
            Var::Base => "BASE",
            Var::Cables => "CABLES",
            Var::Live => "LIVE",
            Var::Upper => "UPPER",
            Var::Work => "WORK",
            Var::Lower => "LOWER",
            Var::Start => "START",
            Var::Premount => "PREMOUNT",
            Var::Postmount => "POSTMOUNT",
            Var::Init => "INIT",
            Var::RamSize => "RAM_SIZE",
            Var::Share => "SHARE",
            Var::Services => "SERVICES",
            Var::StopTimeout => "STOP_TIMEOUT",
            Var::MemoryMax => "MEMORY_MAX",
            Var::MemoryHigh => "MEMORY_HIGH",
            Var::CpuMax => "CPU_MAX",
            Var::CpuWeight => "CPU_WEIGHT",
            Var::PidsMax => "PIDS_MAX",
            Var::IoWeight => "IO_WEIGHT",
            Var::KeepCaps => "KEEP_CAPS",
            Var::Security => "SECURITY",
            Var::PrivateUsers => "PRIVATE_USERS",
        }
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One assignment: its 1-based line number and its trimmed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub line: usize,
    pub value: String,
}

/// The assignments that count: the first of each variable, and every SHARE.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Assignments {
    first: Vec<(Var, Assignment)>,
    pub shares: Vec<Assignment>,
}

impl Assignments {
    /// The first assignment of `var` (not meaningful for SHARE).
    pub fn get(&self, var: Var) -> Option<&Assignment> {
        self.first.iter().find(|(v, _)| *v == var).map(|(_, a)| a)
    }
}

/// The longest value accepted, in bytes, as written or as a `!` command's
/// first line of output. Far below what exec(2) takes for one argument
/// (128 KiB), so that a value can always be passed on.
pub const VALUE_MAX: usize = 64 * 1024;

/// What is wrong with a known variable's value, before any meaning is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    NotUtf8,
    /// A NUL byte: no argument or path can hold it.
    Nul,
    /// Longer than [`VALUE_MAX`]; the length.
    TooLong(usize),
}

/// A known variable's value that cannot be used, at this line.
#[derive(Debug, PartialEq, Eq)]
pub struct BadValue {
    pub line: usize,
    pub var: Var,
    pub flaw: Flaw,
}

/// Checks a raw value: UTF-8, no NUL byte, at most [`VALUE_MAX`] bytes.
pub fn check_raw(raw: &[u8]) -> Result<&str, Flaw> {
    if raw.len() > VALUE_MAX {
        return Err(Flaw::TooLong(raw.len()));
    }
    if raw.contains(&0) {
        return Err(Flaw::Nul);
    }
    std::str::from_utf8(raw).map_err(|_| Flaw::NotUtf8)
}

/// Blanks trimmed from values: spaces and tabs, and a carriage return so that
/// a file saved with CRLF line ends reads the same.
pub fn trim_blanks(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r'])
}

/// Parses the file's bytes. Lines that are not assignments (comments, blank
/// lines, text in any encoding) are ignored; only a known variable's value
/// must pass [`check_raw`].
pub fn parse(text: &[u8]) -> Result<Assignments, BadValue> {
    let mut out = Assignments::default();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let Some((var, raw)) = split_assignment(line) else {
            log_unknown(number, line);
            continue;
        };
        let value = check_raw(raw).map_err(|flaw| BadValue {
            line: number,
            var,
            flaw,
        })?;
        let assignment = Assignment {
            line: number,
            value: trim_blanks(value).to_string(),
        };
        if var == Var::Share {
            out.shares.push(assignment);
        } else if out.get(var).is_none() {
            out.first.push((var, assignment));
        }
    }
    Ok(out)
}

/// `VAR=rest` for a known VAR, flush left; for SHARE blanks may precede `=`.
fn split_assignment(line: &[u8]) -> Option<(Var, &[u8])> {
    Var::ALL.iter().find_map(|&var| {
        let rest = line.strip_prefix(var.as_str().as_bytes())?;
        let rest = if var == Var::Share {
            let blanks = rest
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            &rest[blanks..]
        } else {
            rest
        };
        rest.strip_prefix(b"=").map(|value| (var, value))
    })
}

/// The original ignores assignments of variables it does not know; say so at
/// debug level, which helps with typos.
fn log_unknown(number: usize, line: &[u8]) {
    let name_len = line
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    if name_len > 0 && line.get(name_len) == Some(&b'=') {
        let name = String::from_utf8_lossy(&line[..name_len]);
        log::debug!("line {number}: unknown variable {name} ignored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &[u8]) -> Assignments {
        parse(text).expect("valid UTF-8")
    }

    fn value(a: &Assignments, var: Var) -> Option<(usize, &str)> {
        a.get(var).map(|x| (x.line, x.value.as_str()))
    }

    #[test]
    fn flush_left_and_equals_right_after() {
        let a = ok(b" NAME=a\n\tBASE=/b\nLIVE =/c\nUPPER=/d\n");
        assert_eq!(value(&a, Var::Name), None);
        assert_eq!(value(&a, Var::Base), None);
        assert_eq!(value(&a, Var::Live), None);
        assert_eq!(value(&a, Var::Upper), Some((4, "/d")));
    }

    #[test]
    fn first_assignment_wins() {
        let a = ok(b"NAME=one\nNAME=two\n");
        assert_eq!(value(&a, Var::Name), Some((1, "one")));
    }

    #[test]
    fn empty_first_assignment_still_wins() {
        let a = ok(b"LIVE=\nLIVE=/x\n");
        assert_eq!(value(&a, Var::Live), Some((1, "")));
    }

    #[test]
    fn values_are_trimmed_of_blanks_only() {
        let a = ok(b"BASE= \t /srv/a b \t\r\nSTART=  ssh   cron \n");
        assert_eq!(value(&a, Var::Base), Some((1, "/srv/a b")));
        assert_eq!(value(&a, Var::Start), Some((2, "ssh   cron")));
    }

    #[test]
    fn share_allows_blanks_before_equals_and_accumulates() {
        let a = ok(b"SHARE =/a\nSHARE\t=/b:/c\nSHARE=/d\n SHARE=/e\n");
        let got: Vec<_> = a
            .shares
            .iter()
            .map(|s| (s.line, s.value.as_str()))
            .collect();
        assert_eq!(got, vec![(1, "/a"), (2, "/b:/c"), (3, "/d")]);
    }

    #[test]
    fn comments_blank_lines_and_unknown_variables_are_ignored() {
        let a = ok(b"# NAME=x\n\n#BASE=/y\nFOO=bar\nNAMES=z\nNAME=ok");
        assert_eq!(value(&a, Var::Name), Some((6, "ok")));
        assert_eq!(value(&a, Var::Base), None);
    }

    #[test]
    fn similar_prefixes_do_not_match() {
        let a = ok(b"INITX=1\nRAM_SIZEX=2\nLIVELY=3\n");
        assert_eq!(a, Assignments::default());
    }

    #[test]
    fn non_utf8_is_refused_only_in_a_known_value() {
        assert!(parse(b"# caf\xe9\nFOO=\xe9\nNAME=a\n").is_ok());
        assert_eq!(
            parse(b"\nBASE=/caf\xe9\n"),
            Err(BadValue {
                line: 2,
                var: Var::Base,
                flaw: Flaw::NotUtf8
            })
        );
    }

    #[test]
    fn nul_bytes_and_overlong_values_are_refused() {
        assert!(parse(b"# a\0b\nFOO=\0\n").is_ok());
        assert_eq!(
            parse(b"BASE=.\nSTART=/a\0/svc.sh\n").map_err(|e| (e.line, e.var, e.flaw)),
            Err((2, Var::Start, Flaw::Nul))
        );
        let long = format!("START={}\n", "x".repeat(VALUE_MAX + 1));
        assert_eq!(
            parse(long.as_bytes()).map_err(|e| e.flaw),
            Err(Flaw::TooLong(VALUE_MAX + 1))
        );
        let fits = format!("START={}\n", "x".repeat(VALUE_MAX));
        assert!(parse(fits.as_bytes()).is_ok());
    }
}
