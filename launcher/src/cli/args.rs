//! Each tool's arguments, checked: positions, counts, NAME, SUBPATH, MNT
//! and PART.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Command, Tool, UsageError};
use crate::model::names::{name_fault, NameFault};
use crate::model::paths::{mount_point, subhost_path};

/// Refuses an argument that looks like an option.
fn no_option(tool: Tool, args: &[OsString]) -> Result<(), UsageError> {
    match args
        .iter()
        .filter_map(|a| a.to_str())
        .find(|a| a.starts_with('-') && a.len() > 1)
    {
        Some(o) => Err(UsageError::UnknownOption {
            tool,
            option: o.to_string(),
        }),
        None => Ok(()),
    }
}

pub(super) fn parse_share(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Share;
    no_option(tool, args)?;
    let (path, name, subpath) = match args {
        [] => return Err(UsageError::MissingArgument { tool, what: "PATH" }),
        [_] => return Err(UsageError::MissingArgument { tool, what: "NAME" }),
        [p, n] => (p, n, None),
        [p, n, s] => (p, n, Some(s)),
        [_, _, _, extra_arg, ..] => return Err(extra(tool, extra_arg)),
    };
    let name = name.to_string_lossy().into_owned();
    if !valid_name(&name) {
        return Err(UsageError::BadName { tool, name });
    }
    let subpath = match subpath {
        None => None,
        Some(s) => Some(
            subhost_path(Path::new(s)).ok_or_else(|| UsageError::BadArgument {
                tool,
                what: "SUBPATH (no `..` allowed)",
                arg: s.to_string_lossy().into_owned(),
            })?,
        ),
    };
    Ok(Command::Share {
        path: PathBuf::from(path),
        name,
        subpath,
    })
}

pub(super) fn parse_diskfile(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Diskfile;
    no_option(tool, args)?;
    let (mnt, image, part) = match args {
        [] => return Err(UsageError::MissingArgument { tool, what: "MNT" }),
        [m] => (m, None, None),
        [m, i] => (m, Some(i), None),
        [m, i, p] => (m, Some(i), Some(p)),
        [_, _, _, extra_arg, ..] => return Err(extra(tool, extra_arg)),
    };
    let mnt = PathBuf::from(mnt);
    if mount_point(&mnt).is_none() {
        return Err(UsageError::BadArgument {
            tool,
            what: "MNT (it needs a leading directory, not `..`)",
            arg: mnt.to_string_lossy().into_owned(),
        });
    }
    let part = match part {
        None => None,
        Some(p) => match p.to_str().and_then(|s| s.parse::<u32>().ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(UsageError::BadArgument {
                    tool,
                    what: "PART (a partition number from 1)",
                    arg: p.to_string_lossy().into_owned(),
                })
            }
        },
    };
    Ok(Command::Diskfile {
        mnt,
        image: image.map(PathBuf::from),
        part,
    })
}

pub(super) fn parse_boot(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Boot;
    match args.first().and_then(|a| a.to_str()) {
        Some("--session") => return parse_session(&args[1..]),
        Some("--list") => return parse_list(&args[1..]),
        _ => {}
    }
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

/// `--session CONF [CMD ARG…]`: everything after CONF is the command.
pub(super) fn parse_session(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Boot;
    let Some((conf, argv)) = args.split_first() else {
        return Err(UsageError::MissingArgument { tool, what: "CONF" });
    };
    match conf.to_str() {
        Some(o) if o.starts_with('-') && o.len() > 1 => Err(UsageError::UnknownOption {
            tool,
            option: o.to_string(),
        }),
        _ => Ok(Command::Session {
            conf: PathBuf::from(conf),
            argv: argv.to_vec(),
        }),
    }
}

/// `--list [--json] [--watch SECONDS]`, the options in any order.
pub(super) fn parse_list(args: &[OsString]) -> Result<Command, UsageError> {
    let tool = Tool::Boot;
    let (mut json, mut watch) = (false, None);
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.to_str() {
            Some("--json") if !json => json = true,
            Some("--watch") if watch.is_none() => {
                let secs = rest.next().ok_or(UsageError::MissingArgument {
                    tool,
                    what: "SECONDS after --watch",
                })?;
                watch = Some(watch_seconds(secs)?);
            }
            Some(o) if o.starts_with('-') => {
                return Err(UsageError::UnknownOption {
                    tool,
                    option: o.to_string(),
                })
            }
            _ => return Err(extra(tool, a)),
        }
    }
    Ok(Command::Status { json, watch })
}

/// --watch's SECONDS: a whole number from 1 to 3600.
fn watch_seconds(arg: &OsString) -> Result<u64, UsageError> {
    arg.to_str()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .filter(|n| (1..=3600).contains(n))
        .ok_or_else(|| UsageError::BadArgument {
            tool: Tool::Boot,
            what: "--watch SECONDS (1 to 3600)",
            arg: arg.to_string_lossy().into_owned(),
        })
}

pub(super) fn parse_stop(args: &[OsString]) -> Result<Command, UsageError> {
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

pub(super) fn parse_go(args: &[OsString]) -> Result<Command, UsageError> {
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

/// A NAME that is safe as one path component: the NAME rule but for its
/// length (a longer NAME cannot run, which the command then says).
pub(super) fn valid_name(name: &str) -> bool {
    matches!(name_fault(name), None | Some(NameFault::TooLong))
}

fn extra(tool: Tool, arg: &OsString) -> UsageError {
    UsageError::ExtraArgument {
        tool,
        arg: arg.to_string_lossy().into_owned(),
    }
}
