//! Command line: one binary answering to several names (argv[0] dispatch).
//! Pure parsing, no side effects, so it is unit-tested: what can be asked
//! (`Command`), by which name (`Tool`), and the usage errors here; each
//! tool's arguments in `args`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

mod args;

use args::{parse_boot, parse_diskfile, parse_go, parse_share, parse_stop};

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Boot {
        conf: PathBuf,
        foreground: bool,
    },
    Stop {
        conf: PathBuf,
    },
    /// `overlay-boot --session CONF [CMD ARG…]`.
    Session {
        conf: PathBuf,
        argv: Vec<OsString>,
    },
    /// `overlay-boot --list [--json] [--watch SECONDS]`.
    Status {
        json: bool,
        /// Refresh every this many seconds (1..=3600).
        watch: Option<u64>,
    },
    /// `overlay-go` with no NAME lists the running subhosts.
    List,
    Go {
        name: String,
        argv: Vec<OsString>,
    },
    /// `overlay-share PATH NAME [SUBPATH]`.
    Share {
        path: PathBuf,
        name: String,
        subpath: Option<PathBuf>,
    },
    /// `overlay-diskfile MNT [IMAGE [PART]]`.
    Diskfile {
        mnt: PathBuf,
        image: Option<PathBuf>,
        part: Option<u32>,
    },
    Help {
        tool: Tool,
    },
    Version {
        tool: Tool,
    },
}

/// The name the binary was called by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Boot,
    Stop,
    Go,
    Share,
    Diskfile,
}

impl Tool {
    /// The tool for argv[0]; anything unknown is `overlay-boot`.
    pub fn from_argv0(argv0: &Path) -> Tool {
        match argv0.file_name().and_then(|n| n.to_str()) {
            Some("overlay-stop") => Tool::Stop,
            Some("overlay-go") => Tool::Go,
            Some("overlay-share") => Tool::Share,
            Some("overlay-diskfile") => Tool::Diskfile,
            _ => Tool::Boot,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tool::Boot => "overlay-boot",
            Tool::Stop => "overlay-stop",
            Tool::Go => "overlay-go",
            Tool::Share => "overlay-share",
            Tool::Diskfile => "overlay-diskfile",
        }
    }

    pub fn usage(self) -> &'static str {
        match self {
            Tool::Boot => {
                "usage: overlay-boot [--foreground] CONF\n       \
                 overlay-boot --session CONF [CMD ARG...]\n       \
                 overlay-boot --list [--json] [--watch SECONDS]\n\
                 Boot the subhost that CONF describes; returns when it is ready.\n  \
                 --foreground  stay attached for the subhost's whole life\n  \
                 --session     boot with no services, run CMD (default a login shell)\n                \
                 on a terminal of its own, stop when it exits\n  \
                 --list        show the running subhosts, their state, usage and services\n  \
                 --watch N     with --list: show it again every N seconds"
            }
            Tool::Stop => {
                "usage: overlay-stop CONF\n\
                 Stop the subhost that CONF describes; returns when nothing of it is left."
            }
            Tool::Go => {
                "usage: overlay-go [NAME [CMD ARG...]]\n\
                 Run CMD (default a login shell) inside running subhost NAME;\n\
                 without NAME, list the running subhosts (NAME PID CONF)."
            }
            Tool::Share => {
                "usage: overlay-share PATH NAME [SUBPATH]\n\
                 Bind the host's PATH (a directory or file) into running subhost NAME\n\
                 at SUBPATH (default PATH)."
            }
            Tool::Diskfile => {
                "usage: overlay-diskfile MNT [IMAGE [PART]]\n\
                 Mount IMAGE (or its partition PART) on MNT's leading directory unless\n\
                 something is mounted there, and print MNT (for `!` values)."
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum UsageError {
    UnknownOption {
        tool: Tool,
        option: String,
    },
    MissingArgument {
        tool: Tool,
        what: &'static str,
    },
    ExtraArgument {
        tool: Tool,
        arg: String,
    },
    BadName {
        tool: Tool,
        name: String,
    },
    BadArgument {
        tool: Tool,
        what: &'static str,
        arg: String,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tool, text) = match self {
            Self::UnknownOption { tool, option } => (tool, format!("unknown option {option}")),
            Self::MissingArgument { tool, what } => (tool, format!("missing {what}")),
            Self::ExtraArgument { tool, arg } => (tool, format!("unexpected argument {arg}")),
            Self::BadName { tool, name } => (tool, format!("bad subhost name {name:?}")),
            Self::BadArgument { tool, what, arg } => (tool, format!("bad {what} {arg:?}")),
        };
        write!(f, "{text}\n{}", tool.usage())
    }
}

/// Parses the arguments after argv[0] for the tool argv[0] names.
pub fn parse(tool: Tool, args: &[OsString]) -> Result<Command, UsageError> {
    match args.first().and_then(|a| a.to_str()) {
        Some("--help" | "-h") => return Ok(Command::Help { tool }),
        Some("--version" | "-V") => return Ok(Command::Version { tool }),
        _ => {}
    }
    match tool {
        Tool::Boot => parse_boot(args),
        Tool::Stop => parse_stop(args),
        Tool::Go => parse_go(args),
        Tool::Share => parse_share(args),
        Tool::Diskfile => parse_diskfile(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn argv0_picks_the_tool() {
        assert_eq!(
            Tool::from_argv0(Path::new("/usr/sbin/overlay-stop")),
            Tool::Stop
        );
        assert_eq!(Tool::from_argv0(Path::new("overlay-go")), Tool::Go);
        assert_eq!(Tool::from_argv0(Path::new("overlay-share")), Tool::Share);
        assert_eq!(Tool::from_argv0(Path::new("./whatever")), Tool::Boot);
    }

    #[test]
    fn boot_takes_conf_and_foreground() {
        let c = parse(Tool::Boot, &args(&["--foreground", "a.conf"]));
        assert_eq!(
            c,
            Ok(Command::Boot {
                conf: "a.conf".into(),
                foreground: true
            })
        );
        assert!(matches!(
            parse(Tool::Boot, &args(&[])),
            Err(UsageError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Boot, &args(&["a", "b"])),
            Err(UsageError::ExtraArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Boot, &args(&["--bogus", "a"])),
            Err(UsageError::UnknownOption { .. })
        ));
    }

    #[test]
    fn help_and_version_on_every_tool() {
        for t in [
            Tool::Boot,
            Tool::Stop,
            Tool::Go,
            Tool::Share,
            Tool::Diskfile,
        ] {
            assert_eq!(parse(t, &args(&["--help"])), Ok(Command::Help { tool: t }));
            assert_eq!(
                parse(t, &args(&["--version"])),
                Ok(Command::Version { tool: t })
            );
        }
    }

    #[test]
    fn go_lists_or_enters() {
        assert_eq!(parse(Tool::Go, &args(&[])), Ok(Command::List));
        let c = parse(Tool::Go, &args(&["mta", "ls", "-l"]));
        assert_eq!(
            c,
            Ok(Command::Go {
                name: "mta".into(),
                argv: args(&["ls", "-l"])
            })
        );
        assert!(matches!(
            parse(Tool::Go, &args(&["../x"])),
            Err(UsageError::BadName { .. })
        ));
    }

    #[test]
    fn session_takes_conf_and_a_command() {
        assert_eq!(
            parse(Tool::Boot, &args(&["--session", "a.conf"])),
            Ok(Command::Session {
                conf: "a.conf".into(),
                argv: vec![]
            })
        );
        assert_eq!(
            parse(
                Tool::Boot,
                &args(&["--session", "a.conf", "sh", "-c", "exit 7"])
            ),
            Ok(Command::Session {
                conf: "a.conf".into(),
                argv: args(&["sh", "-c", "exit 7"])
            })
        );
        assert!(matches!(
            parse(Tool::Boot, &args(&["--session"])),
            Err(UsageError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Boot, &args(&["--session", "--json"])),
            Err(UsageError::UnknownOption { .. })
        ));
    }

    #[test]
    fn list_and_json() {
        assert_eq!(
            parse(Tool::Boot, &args(&["--list"])),
            Ok(Command::Status {
                json: false,
                watch: None
            })
        );
        assert_eq!(
            parse(Tool::Boot, &args(&["--list", "--json"])),
            Ok(Command::Status {
                json: true,
                watch: None
            })
        );
        assert_eq!(
            parse(Tool::Boot, &args(&["--list", "--watch", "2", "--json"])),
            Ok(Command::Status {
                json: true,
                watch: Some(2)
            })
        );
        for bad in [
            &["--list", "--watch"][..],
            &["--list", "--watch", "0"],
            &["--list", "--watch", "-1"],
            &["--list", "--watch", "x"],
            &["--list", "--json", "--json"],
        ] {
            assert!(parse(Tool::Boot, &args(bad)).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse(Tool::Boot, &args(&["--list", "--yaml"])),
            Err(UsageError::UnknownOption { .. })
        ));
        assert!(matches!(
            parse(Tool::Boot, &args(&["--list", "x.conf"])),
            Err(UsageError::ExtraArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Boot, &args(&["--json"])),
            Err(UsageError::UnknownOption { .. })
        ));
    }

    #[test]
    fn stop_takes_one_conf() {
        assert_eq!(
            parse(Tool::Stop, &args(&["x.conf"])),
            Ok(Command::Stop {
                conf: "x.conf".into()
            })
        );
        assert!(parse(Tool::Stop, &args(&["x.conf", "y"])).is_err());
    }

    #[test]
    fn share_takes_path_name_and_subpath() {
        assert_eq!(
            parse(Tool::Share, &args(&["/srv/a", "mta"])),
            Ok(Command::Share {
                path: "/srv/a".into(),
                name: "mta".into(),
                subpath: None
            })
        );
        assert_eq!(
            parse(Tool::Share, &args(&["a", "mta", "var/mail/"])),
            Ok(Command::Share {
                path: "a".into(),
                name: "mta".into(),
                subpath: Some("/var/mail".into())
            })
        );
        assert!(matches!(
            parse(Tool::Share, &args(&["/a"])),
            Err(UsageError::MissingArgument { what: "NAME", .. })
        ));
        assert!(matches!(
            parse(Tool::Share, &args(&["/a", "../x"])),
            Err(UsageError::BadName { .. })
        ));
        assert!(matches!(
            parse(Tool::Share, &args(&["/a", "x", "/b/../etc"])),
            Err(UsageError::BadArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Share, &args(&["/a", "x", "/b", "c"])),
            Err(UsageError::ExtraArgument { .. })
        ));
        assert!(matches!(
            parse(Tool::Share, &args(&["-x", "a"])),
            Err(UsageError::UnknownOption { .. })
        ));
    }

    #[test]
    fn diskfile_takes_mnt_image_and_part() {
        assert_eq!(
            parse(Tool::Diskfile, &args(&["img/root", "disk.img", "2"])),
            Ok(Command::Diskfile {
                mnt: "img/root".into(),
                image: Some("disk.img".into()),
                part: Some(2)
            })
        );
        assert_eq!(
            parse(Tool::Diskfile, &args(&["img/"])),
            Ok(Command::Diskfile {
                mnt: "img/".into(),
                image: None,
                part: None
            })
        );
        for bad in [&["img", "d", "0"][..], &["img", "d", "x"], &["../img", "d"]] {
            assert!(
                matches!(
                    parse(Tool::Diskfile, &args(bad)),
                    Err(UsageError::BadArgument { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(Tool::Diskfile, &args(&[])),
            Err(UsageError::MissingArgument { what: "MNT", .. })
        ));
        assert!(matches!(
            parse(Tool::Diskfile, &args(&["a", "b", "1", "x"])),
            Err(UsageError::ExtraArgument { .. })
        ));
    }
}
