//! The runner of the configuration's `!` commands: each contained as
//! `contain` does it (a process group of its own, dying with the launcher,
//! the group killed however it ends), bounded by `contain::timeout()`, and
//! only its first line of output kept.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::kernel::contain::{finish, spawn, timeout, wait, FirstLine, Waited};
use crate::model::config::{BangCommand, BangRunner, Ran};

/// The launcher's `!` command runner.
pub struct ContainedRunner;

impl BangRunner for ContainedRunner {
    fn run(&self, command: &BangCommand) -> io::Result<Ran> {
        let mut cmd = Command::new(command.program);
        cmd.arg0(command.arg0)
            .args(command.args)
            .current_dir(command.cwd)
            .env("PATH", command.search_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn(&mut cmd)?;
        let limit = timeout();
        let out = child
            .child
            .stdout
            .take()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))
            .and_then(|pipe| FirstLine::new(pipe, command.line_max));
        let (waited, out) = match out {
            Ok(mut out) => (wait(&mut child, limit, Some(&mut out), None), Some(out)),
            Err(e) => (Err(e), None),
        };
        // Whatever it left running in its process group ends with it.
        finish(&mut child, &waited);
        let out = out.ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(match waited? {
            Waited::Exited(status) => Ran::Exited {
                status,
                line: out.line().to_vec(),
            },
            Waited::LineTooLong => Ran::LineTooLong,
            Waited::TimedOut | Waited::Stopped => Ran::TimedOut {
                secs: limit.as_secs(),
            },
        })
    }
}
