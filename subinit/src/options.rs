//! The command line of the subinit: its contract with the launcher
//! (`man/subinit.8`). Pure parsing, unit-tested.

use std::fmt;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_SERVICES: &str = "/etc/overlay-boot/services.d";
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    pub start: Vec<String>,
    pub init_fd: Option<RawFd>,
    pub services: Option<PathBuf>,
    pub stop_timeout: Duration,
    pub script_timeout: Duration,
    pub ready_fd: Option<RawFd>,
    pub status_fd: Option<RawFd>,
    pub session: Option<Session>,
}

/// `--session-fd FD [--session-term TERM] -- CMD [ARG]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The slave side of the session's pseudo-terminal.
    pub fd: RawFd,
    pub term: String,
    pub argv: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub enum UsageError {
    MissingValue(String),
    BadNumber {
        option: String,
        value: String,
    },
    Unknown(String),
    /// `--session-fd` without `-- CMD`, or a command without `--session-fd`.
    SessionIncomplete,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::MissingValue(opt) => write!(f, "{opt} needs a value"),
            UsageError::BadNumber { option, value } => {
                write!(f, "{option}: {value:?} is not a valid number")
            }
            UsageError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            UsageError::SessionIncomplete => {
                write!(
                    f,
                    "--session-fd needs a command after --, and a command needs --session-fd"
                )
            }
        }
    }
}

pub const USAGE: &str = "\
usage: subinit [--name NAME] [--start ENTRY]... [--init-fd FD]
               [--services DIR|none] [--stop-timeout SECS]
               [--script-timeout SECS] [--ready-fd FD] [--status-fd FD]
               [--session-fd FD [--session-term TERM] -- CMD [ARG]...]
       subinit --help | --version
PID 1 of an overlay-boot subhost; see subinit(8).";

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut name = String::from("subhost");
    let mut start = Vec::new();
    let mut init_fd = None;
    let mut services = Some(PathBuf::from(DEFAULT_SERVICES));
    let mut stop_timeout = DEFAULT_STOP_TIMEOUT;
    let mut script_timeout = None;
    let mut ready_fd = None;
    let mut status_fd = None;
    let mut session_fd = None;
    let mut term = String::from("linux");
    let mut command = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| UsageError::MissingValue(arg.clone()))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--name" => name = value()?,
            "--start" => start.push(value()?),
            "--init-fd" => init_fd = Some(number(&arg, &value()?)?),
            "--services" => services = services_dir(value()?),
            "--stop-timeout" => stop_timeout = seconds(&arg, &value()?)?,
            "--script-timeout" => script_timeout = Some(seconds(&arg, &value()?)?),
            "--ready-fd" => ready_fd = Some(number(&arg, &value()?)?),
            "--status-fd" => status_fd = Some(number(&arg, &value()?)?),
            "--session-fd" => session_fd = Some(number(&arg, &value()?)?),
            "--session-term" => term = value()?,
            "--" => {
                command = args.by_ref().collect();
                break;
            }
            _ => return Err(UsageError::Unknown(arg)),
        }
    }
    let session = match (session_fd, command.is_empty()) {
        (Some(fd), false) => Some(Session {
            fd,
            term,
            argv: command,
        }),
        (None, true) => None,
        _ => return Err(UsageError::SessionIncomplete),
    };
    Ok(Command::Run(Options {
        name,
        start,
        init_fd,
        services,
        stop_timeout,
        script_timeout: script_timeout.unwrap_or(stop_timeout),
        ready_fd,
        status_fd,
        session,
    }))
}

fn services_dir(value: String) -> Option<PathBuf> {
    (value != "none" && !value.is_empty()).then(|| PathBuf::from(value))
}

fn number(option: &str, value: &str) -> Result<i32, UsageError> {
    value
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| UsageError::BadNumber {
            option: option.to_owned(),
            value: value.to_owned(),
        })
}

fn seconds(option: &str, value: &str) -> Result<Duration, UsageError> {
    let bad = || UsageError::BadNumber {
        option: option.to_owned(),
        value: value.to_owned(),
    };
    let secs: f64 = value.parse().map_err(|_| bad())?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults() {
        let Ok(Command::Run(o)) = run(&[]) else {
            panic!("expected options")
        };
        assert_eq!(o.name, "subhost");
        assert_eq!(o.services, Some(PathBuf::from(DEFAULT_SERVICES)));
        assert_eq!(o.stop_timeout, Duration::from_secs(10));
        assert_eq!(o.script_timeout, o.stop_timeout);
        assert!(o.start.is_empty() && o.init_fd.is_none() && o.ready_fd.is_none());
    }

    #[test]
    fn all_options_in_order() {
        let args = [
            "--name",
            "mta",
            "--start",
            "networking",
            "--start",
            "/x",
            "--services",
            "none",
            "--stop-timeout",
            "2.5",
            "--script-timeout",
            "1",
            "--ready-fd",
            "5",
            "--init-fd",
            "4",
        ];
        let Ok(Command::Run(o)) = run(&args) else {
            panic!("expected options")
        };
        assert_eq!(o.name, "mta");
        assert_eq!(o.start, ["networking", "/x"]);
        assert_eq!(o.services, None);
        assert_eq!(o.stop_timeout, Duration::from_millis(2500));
        assert_eq!(o.script_timeout, Duration::from_secs(1));
        assert_eq!((o.ready_fd, o.init_fd), (Some(5), Some(4)));
    }

    #[test]
    fn errors_name_the_option() {
        assert_eq!(
            run(&["--ready-fd"]),
            Err(UsageError::MissingValue("--ready-fd".into()))
        );
        assert!(matches!(
            run(&["--stop-timeout", "soon"]),
            Err(UsageError::BadNumber { .. })
        ));
        assert!(matches!(
            run(&["--ready-fd", "-3"]),
            Err(UsageError::BadNumber { .. })
        ));
        assert_eq!(
            run(&["--bogus"]),
            Err(UsageError::Unknown("--bogus".into()))
        );
        assert_eq!(run(&["--help"]), Ok(Command::Help));
        assert_eq!(
            run(&["--session-fd", "4"]),
            Err(UsageError::SessionIncomplete)
        );
        assert_eq!(run(&["--", "sh"]), Err(UsageError::SessionIncomplete));
    }

    #[test]
    fn session_and_status() {
        let args = [
            "--status-fd",
            "6",
            "--session-fd",
            "4",
            "--session-term",
            "xterm",
            "--",
            "/bin/sh",
            "-l",
        ];
        let Ok(Command::Run(o)) = run(&args) else {
            panic!("expected options")
        };
        assert_eq!(o.status_fd, Some(6));
        let session = o.session.expect("session");
        assert_eq!((session.fd, session.term.as_str()), (4, "xterm"));
        assert_eq!(session.argv, ["/bin/sh", "-l"]);
    }
}
