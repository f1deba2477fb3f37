//! Command line: one binary answering to several names (argv[0] dispatch).
//! Pure parsing, no side effects, so it is unit-tested.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// `overlay-go` with no NAME lists the running subhosts.
    List,
    Go {
        name: String,
        argv: Vec<OsString>,
    },
    /// A tool that is not written yet (overlay-share, overlay-diskfile).
    NotYet {
        tool: Tool,
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
                "usage: overlay-boot [--foreground] CONF\n\
                 Boot the subhost that CONF describes; returns when it is ready.\n  \
                 --foreground  stay attached for the subhost's whole life"
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
            Tool::Share => "usage: overlay-share PATH NAME [SUBPATH]",
            Tool::Diskfile => "usage: overlay-diskfile MNT [IMAGE [PART]]",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum UsageError {
    UnknownOption { tool: Tool, option: String },
    MissingArgument { tool: Tool, what: &'static str },
    ExtraArgument { tool: Tool, arg: String },
    BadName { tool: Tool, name: String },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tool, text) = match self {
            Self::UnknownOption { tool, option } => (tool, format!("unknown option {option}")),
            Self::MissingArgument { tool, what } => (tool, format!("missing {what}")),
            Self::ExtraArgument { tool, arg } => (tool, format!("unexpected argument {arg}")),
            Self::BadName { tool, name } => (tool, format!("bad subhost name {name:?}")),
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
        Tool::Share | Tool::Diskfile => Ok(Command::NotYet { tool }),
    }
}

fn parse_boot(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Boot;
    let mut foreground = false;
    let mut conf = None;
    for arg in args {
        match arg.to_str() {
            Some("--foreground") => foreground = true,
            Some(o) if o.starts_with('-') && o.len() > 1 => {
                return Err(UsageError::UnknownOption {
                    tool,
                    option: o.to_string(),
                })
            }
            _ if conf.is_none() => conf = Some(PathBuf::from(arg)),
            _ => return Err(extra(tool, arg)),
        }
    }
    let conf = conf.ok_or(UsageError::MissingArgument { tool, what: "CONF" })?;
    Ok(Command::Boot { conf, foreground })
}

fn parse_stop(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Stop;
    match args {
        [] => Err(UsageError::MissingArgument { tool, what: "CONF" }),
        [conf] => match conf.to_str() {
            Some(o) if o.starts_with('-') && o.len() > 1 => Err(UsageError::UnknownOption {
                tool,
                option: o.to_string(),
            }),
            _ => Ok(Command::Stop {
                conf: PathBuf::from(conf),
            }),
        },
        [_, extra_arg, ..] => Err(extra(tool, extra_arg)),
    }
}

fn parse_go(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Go;
    let Some((name, argv)) = args.split_first() else {
        return Ok(Command::List);
    };
    let name = name.to_str().unwrap_or_default().to_string();
    if name.starts_with('-') {
        return Err(UsageError::UnknownOption { tool, option: name });
    }
    if !valid_name(&name) {
        return Err(UsageError::BadName { tool, name });
    }
    Ok(Command::Go {
        name,
        argv: argv.to_vec(),
    })
}

/// A NAME that is safe as one path component (the config has the full rules).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

fn extra(tool: Tool, arg: &OsString) -> UsageError {
    UsageError::ExtraArgument {
        tool,
        arg: arg.to_string_lossy().into_owned(),
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
    fn not_yet_tools() {
        assert_eq!(
            parse(Tool::Share, &args(&["/a", "b"])),
            Ok(Command::NotYet { tool: Tool::Share })
        );
    }
}
