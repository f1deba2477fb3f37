//! `!command` values: the words after `!` are run (no shell) in a given
//! directory, stdin `/dev/null`, stderr inherited; the first line of stdout
//! becomes the value. Bounded: the line at most `VALUE_MAX` bytes; the
//! runner the caller gives (`kernel::bang`) bounds the time and makes sure
//! nothing the command starts outlives it.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::ExitStatus;

use super::error::Fault;
use super::parse::{check_raw, trim_blanks, VALUE_MAX};
use super::paths::find_executable;
use super::trust::{self, Trees};

/// Splits a command line into words on blanks; no quoting, no expansion.
pub fn words(line: &str) -> Vec<String> {
    line.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// A `!` command as loading decided to run it: a program already found
/// and trusted, its arguments, where and with which PATH.
#[derive(Debug)]
pub struct BangCommand<'a> {
    /// The canonical path of the program that runs (the file checked).
    pub program: &'a Path,
    pub arg0: &'a OsStr,
    pub args: &'a [String],
    pub cwd: &'a Path,
    pub search_path: &'a OsStr,
    /// The longest first line read, in bytes.
    pub line_max: usize,
}

/// How a `!` command ended, as its runner saw it.
#[derive(Debug)]
pub enum Ran {
    /// It exited; the first line of its output, without the newline.
    Exited { status: ExitStatus, line: Vec<u8> },
    /// Its first line grew past `line_max`.
    LineTooLong,
    /// Still running at the runner's deadline of `secs` seconds, or stopped.
    TimedOut { secs: u64 },
}

/// What runs `!` commands while the configuration loads: the launcher's
/// contained runner (`kernel::bang`), given by the caller, so that this
/// pure layer makes no process of its own.
pub trait BangRunner: Send + Sync {
    fn run(&self, command: &BangCommand) -> io::Result<Ran>;
}

/// Runs `value` (which starts with `!`) in `cwd`, with `search_path` as
/// PATH, through `runner`, and returns the first line of its output,
/// trimmed of blanks.
pub fn run(
    value: &str,
    cwd: &Path,
    search_path: &OsStr,
    guarded: &dyn Trees,
    runner: &dyn BangRunner,
) -> Result<String, Fault> {
    let line = value.strip_prefix('!').unwrap_or(value);
    let argv = words(line);
    let Some((program, args)) = argv.split_first() else {
        return Err(Fault::EmptyCommand(value.into()));
    };
    // The program is found as PREMOUNT's is (a word with a `/` relative to
    // `cwd`, a bare name in `search_path`) and must be root's alone before
    // it runs (security check 25). Its canonical path is what runs, so the
    // file checked is the file run; argv[0] stays what it was.
    let found = find_executable(program, cwd, search_path)?;
    let real = trust::program(&found, guarded).map_err(|distrust| Fault::Untrusted {
        program: found.clone(),
        distrust,
    })?;
    let arg0 = if program.contains('/') {
        found.into_os_string()
    } else {
        program.into()
    };
    let ran = runner
        .run(&BangCommand {
            program: &real,
            arg0: &arg0,
            args,
            cwd,
            search_path,
            line_max: VALUE_MAX,
        })
        .map_err(|source| Fault::CommandSpawn {
            command: value.into(),
            source,
        })?;
    let out = match ran {
        Ran::Exited { status, line } if status.success() => line,
        Ran::Exited { status, .. } => {
            return Err(Fault::CommandFailed {
                command: value.into(),
                status,
            })
        }
        Ran::LineTooLong => return Err(Fault::CommandLineTooLong(value.into())),
        Ran::TimedOut { secs } => {
            return Err(Fault::CommandTimedOut {
                command: value.into(),
                secs,
            })
        }
    };
    let first = check_raw(&out).map_err(Fault::from)?;
    match trim_blanks(first) {
        "" => Err(Fault::CommandSilent(value.into())),
        text => Ok(text.to_string()),
    }
}

/// A runner for the unit tests: the command run plainly, unbounded (the
/// launcher's contained runner is tested in `kernel::bang` and end to end).
#[cfg(test)]
pub struct Plain;

#[cfg(test)]
impl BangRunner for Plain {
    fn run(&self, command: &BangCommand) -> io::Result<Ran> {
        use std::os::unix::process::CommandExt;
        let out = std::process::Command::new(command.program)
            .arg0(command.arg0)
            .args(command.args)
            .current_dir(command.cwd)
            .env("PATH", command.search_path)
            .stdin(std::process::Stdio::null())
            .output()?;
        let line = out.stdout.split(|&b| b == b'\n').next().unwrap_or(&[]);
        if line.len() > command.line_max {
            return Ok(Ran::LineTooLong);
        }
        Ok(Ran::Exited {
            status: out.status,
            line: line.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

    fn run_here(value: &str) -> Result<String, Fault> {
        run(value, Path::new("/"), OsStr::new(PATH), &Vec::new(), &Plain)
    }

    #[test]
    fn words_split_on_blanks_without_shell_syntax() {
        assert_eq!(words(" a  'b c'\t$X "), vec!["a", "'b", "c'", "$X"]);
    }

    #[test]
    fn first_line_of_output_is_the_value() {
        assert_eq!(
            run_here("!printf  %s\\n  one two").ok().as_deref(),
            Some("one")
        );
        assert_eq!(
            run_here("!echo   spaced   ").ok().as_deref(),
            Some("spaced")
        );
    }

    #[test]
    fn runs_in_the_given_directory() {
        assert_eq!(
            run(
                "!pwd",
                Path::new("/usr"),
                OsStr::new(PATH),
                &Vec::new(),
                &Plain
            )
            .ok()
            .as_deref(),
            Some("/usr")
        );
    }

    #[test]
    fn failures_are_reported() {
        let msg = run_here("!false").err().map(|f| f.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("command \"!false\" failed (exit status 1)")
        );
        let msg = run_here("!true").err().map(|f| f.to_string());
        assert_eq!(msg.as_deref(), Some("command \"!true\" printed nothing"));
        assert!(matches!(
            run_here("!printf \\n"),
            Err(Fault::CommandSilent(_))
        ));
        assert!(matches!(run_here("!"), Err(Fault::EmptyCommand(_))));
        assert!(matches!(
            run_here("!no-such-cmd-x"),
            Err(Fault::NotInPath(_))
        ));
        assert!(matches!(
            run_here("!/nonexistent/x"),
            Err(Fault::NotExecutable(_))
        ));
    }
}
