//! `!command` values: the words after `!` are run (no shell) in a given
//! directory, stdin `/dev/null`, stderr inherited; the first line of stdout
//! becomes the value. Bounded: the line at most `VALUE_MAX` bytes, the run
//! at most `contain::timeout()`, and nothing it starts outlives it.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::kernel::contain::{finish, spawn, timeout, wait, FirstLine, Waited};

use super::error::Fault;
use super::parse::{check_raw, trim_blanks, VALUE_MAX};
use super::paths::find_executable;
use super::trust::{self, Guarded};

/// Splits a command line into words on blanks; no quoting, no expansion.
pub fn words(line: &str) -> Vec<String> {
    line.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Runs `value` (which starts with `!`) in `cwd`, with `search_path` as
/// PATH, and returns the first line of its output, trimmed of blanks.
pub fn run(
    value: &str,
    cwd: &Path,
    search_path: &OsStr,
    guarded: &[Guarded],
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
    let mut cmd = Command::new(real);
    cmd.arg0(arg0)
        .args(args)
        .current_dir(cwd)
        .env("PATH", search_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let spawn_failed = |source| Fault::CommandSpawn {
        command: value.into(),
        source,
    };
    let mut child = spawn(&mut cmd).map_err(spawn_failed)?;
    let limit = timeout();
    let out = child
        .child
        .stdout
        .take()
        .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))
        .and_then(|pipe| FirstLine::new(pipe, VALUE_MAX));
    let (waited, out) = match out {
        Ok(mut out) => (wait(&mut child, limit, Some(&mut out), None), Some(out)),
        Err(e) => (Err(e), None),
    };
    // Whatever it left running in its process group ends with it.
    finish(&mut child, &waited);
    let waited = waited.map_err(spawn_failed)?;
    let out = out.ok_or_else(|| spawn_failed(io::ErrorKind::BrokenPipe.into()))?;
    match waited {
        Waited::Exited(status) if status.success() => {}
        Waited::Exited(status) => {
            return Err(Fault::CommandFailed {
                command: value.into(),
                status,
            })
        }
        Waited::LineTooLong => return Err(Fault::CommandLineTooLong(value.into())),
        Waited::TimedOut | Waited::Stopped => {
            return Err(Fault::CommandTimedOut {
                command: value.into(),
                secs: limit.as_secs(),
            })
        }
    }
    let first = check_raw(out.line()).map_err(Fault::from)?;
    match trim_blanks(first) {
        "" => Err(Fault::CommandSilent(value.into())),
        text => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

    fn run_here(value: &str) -> Result<String, Fault> {
        run(value, Path::new("/"), OsStr::new(PATH), &[])
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
            run("!pwd", Path::new("/usr"), OsStr::new(PATH), &[])
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
