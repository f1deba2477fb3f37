//! The command line of the subinit: its contract with the launcher
//! (`man/subinit.8`). Pure parsing, unit-tested.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_SERVICES: &str = "/etc/overlay-boot/services.d";
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    pub start: Vec<OsString>,
    pub init_fd: Option<RawFd>,
    pub services: Option<PathBuf>,
    pub stop_timeout: Duration,
    pub script_timeout: Duration,
    pub ready_fd: Option<RawFd>,
    pub status_fd: Option<RawFd>,
    pub session: Option<Session>,
    /// `--removed-caps CAPS`: the capabilities SECURITY=hardened removed.
    pub removed_caps: Option<Box<str>>,
}

/// `--session-fd FD [--session-term TERM] -- CMD [ARG]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The slave side of the session's pseudo-terminal.
    pub fd: RawFd,
    pub term: String,
    pub argv: Vec<OsString>,
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
    /// A value that must be text (a name, a TERM) is not UTF-8.
    NotUtf8(String),
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
            UsageError::NotUtf8(opt) => write!(f, "{opt}: the value is not UTF-8 text"),
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
               [--removed-caps CAPS]
               [--session-fd FD [--session-term TERM] -- CMD [ARG]...]
       subinit --exec [--tty-fd FD] [--search] -- CMD [ARG]...
       subinit --help | --version
PID 1 of an overlay-boot subhost; see subinit(8).";

/// Parses the arguments as the kernel passed them (`std::env::args_os`):
/// the session's command and the START entries may be any bytes.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
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
    let mut removed_caps = None;
    let mut args = args.into_iter();
    while let Some(raw) = args.next() {
        let arg = raw.to_string_lossy().into_owned();
        let mut next = || {
            args.next()
                .ok_or_else(|| UsageError::MissingValue(arg.clone()))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--name" => name = text(&arg, next()?)?,
            "--start" => start.push(next()?),
            "--init-fd" => init_fd = Some(number(&arg, &next()?)?),
            "--services" => services = services_dir(next()?),
            "--stop-timeout" => stop_timeout = seconds(&arg, &next()?)?,
            "--script-timeout" => script_timeout = Some(seconds(&arg, &next()?)?),
            "--ready-fd" => ready_fd = Some(number(&arg, &next()?)?),
            "--status-fd" => status_fd = Some(number(&arg, &next()?)?),
            "--session-fd" => session_fd = Some(number(&arg, &next()?)?),
            "--session-term" => term = text(&arg, next()?)?,
            "--removed-caps" => removed_caps = Some(text(&arg, next()?)?.into()),
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
        removed_caps,
    }))
}

/// A value that must be UTF-8.
fn text(option: &str, value: OsString) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|_| UsageError::NotUtf8(option.to_owned()))
}

fn services_dir(value: OsString) -> Option<PathBuf> {
    (value != "none" && !value.is_empty()).then(|| PathBuf::from(value))
}

fn number(option: &str, value: &OsStr) -> Result<i32, UsageError> {
    let value = value.to_string_lossy();
    value
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| UsageError::BadNumber {
            option: option.to_owned(),
            value: value.clone().into_owned(),
        })
}

fn seconds(option: &str, value: &OsStr) -> Result<Duration, UsageError> {
    let value = value.to_string_lossy();
    let bad = || UsageError::BadNumber {
        option: option.to_owned(),
        value: value.clone().into_owned(),
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
        parse(args.iter().map(OsString::from))
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
        assert_eq!(o.removed_caps, None);
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
            "--removed-caps",
            "CAP_SYS_ADMIN CAP_MKNOD",
        ];
        let Ok(Command::Run(o)) = run(&args) else {
            panic!("expected options")
        };
        assert_eq!(o.name, "mta");
        assert_eq!(o.removed_caps.as_deref(), Some("CAP_SYS_ADMIN CAP_MKNOD"));
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

    #[test]
    fn any_bytes_in_commands_and_entries_but_text_where_text_is_needed() {
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9").to_owned();
        let args = [
            "--start".into(),
            odd.clone(),
            "--session-fd".into(),
            "4".into(),
            "--".into(),
            "/bin/echo".into(),
            odd.clone(),
        ];
        let Ok(Command::Run(o)) = parse(args) else {
            panic!("expected options")
        };
        assert_eq!(o.start, std::slice::from_ref(&odd));
        assert_eq!(o.session.expect("session").argv[1], odd);
        assert_eq!(
            parse(["--name".into(), odd]),
            Err(UsageError::NotUtf8("--name".into()))
        );
    }
}
