//! The value of a variable: its first assignment, with `!command` values run,
//! or its default; and how a refused value becomes a [`ConfigError`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::command::{self, BangRunner};
use super::error::{ConfigError, Fault, Origin};
use super::parse::{Assignments, Var};
use super::trust::{self, Trees};
use crate::model::mountinfo::MOUNTINFO;

/// PATH when the launcher's environment has none (Debian's root default).
const DEFAULT_PATH: &str = proto::PATH;

/// The host facts loading reads besides the file, and the runner of its
/// `!` commands, as parameters so that tests can point them elsewhere.
#[derive(Clone)]
pub struct HostEnv {
    /// The mount table LIVE is checked against.
    pub mountinfo: PathBuf,
    /// PATH for `!` commands and for finding PREMOUNT, POSTMOUNT and INIT.
    pub search_path: OsString,
    /// The trees of the running subhosts, where no program or
    /// configuration may lie.
    pub guarded: Arc<dyn Trees>,
    /// What runs the `!` commands.
    pub runner: Arc<dyn BangRunner>,
}

impl HostEnv {
    /// `/proc/self/mountinfo`, the process's PATH and the running
    /// subhosts' trees as the caller found them, and its runner.
    pub fn from_process(guarded: Arc<dyn Trees>, runner: Arc<dyn BangRunner>) -> Self {
        HostEnv {
            mountinfo: PathBuf::from(MOUNTINFO),
            search_path: std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
            guarded,
            runner,
        }
    }
}

/// A variable's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub origin: Origin,
}

/// Looks variables up in the parsed file and turns faults into errors that
/// name the file, the variable and the line.
pub struct Resolver<'a> {
    /// The file as the user named it, for messages.
    pub file: &'a Path,
    pub set: &'a Assignments,
    pub env: &'a HostEnv,
}

impl Resolver<'_> {
    /// The error for `fault` in `var`'s value from `origin`.
    pub fn fail(&self, var: Var, origin: Origin, fault: Fault) -> ConfigError {
        ConfigError::Value {
            file: self.file.into(),
            var,
            origin,
            fault,
        }
    }

    /// The error for a required variable that is not set.
    pub fn missing(&self, var: Var) -> ConfigError {
        ConfigError::Missing {
            file: self.file.into(),
            var,
        }
    }

    /// `var`'s first assignment, a `!command` run in `cwd`; `None` when the
    /// variable is not set or set to nothing (both mean the default).
    pub fn lookup(&self, var: Var, cwd: &Path) -> Result<Option<Value>, ConfigError> {
        let Some(assignment) = self.set.get(var) else {
            return Ok(None);
        };
        let origin = Origin::Line(assignment.line);
        let text = match assignment.value.as_str() {
            "" => return Ok(None),
            v if v.starts_with('!') => {
                let env = self.env;
                command::run(v, cwd, &env.search_path, &*env.guarded, &*env.runner)
                    .map_err(|fault| self.fail(var, origin, fault))?
            }
            v => v.to_string(),
        };
        Ok(Some(Value { text, origin }))
    }

    /// `var`'s value as [`Resolver::lookup`] gives it, else `default`.
    pub fn or_default(&self, var: Var, cwd: &Path, default: &str) -> Result<Value, ConfigError> {
        Ok(self.lookup(var, cwd)?.unwrap_or_else(|| Value {
            text: default.into(),
            origin: Origin::Default,
        }))
    }

    /// Refuses a tree that is not root's alone (see [`trust::tree`]).
    pub fn roots_alone(&self, var: Var, origin: Origin, path: &Path) -> Result<(), ConfigError> {
        trust::tree(path).map_err(|distrust| {
            let path = path.to_path_buf();
            let distrust = Box::new(distrust);
            self.fail(var, origin, Fault::NotRootsAlone { path, distrust })
        })
    }

    /// Applies `check` to a value, naming `var` and the value's origin on failure.
    pub fn check<T>(
        &self,
        var: Var,
        value: &Value,
        check: impl FnOnce(&str) -> Result<T, Fault>,
    ) -> Result<T, ConfigError> {
        check(&value.text).map_err(|fault| self.fail(var, value.origin, fault))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::parse::parse;

    fn env() -> HostEnv {
        HostEnv {
            mountinfo: PathBuf::from("/nonexistent"),
            search_path: "/usr/bin:/bin".into(),
            guarded: Arc::new(Vec::new()),
            runner: Arc::new(command::Plain),
        }
    }

    #[test]
    fn values_defaults_and_commands() {
        let set = parse(b"NAME=a\nLIVE=\nLOG=!echo x\nBASE=!false\n").expect("parses");
        let env = env();
        let r = Resolver {
            file: Path::new("/c/x.conf"),
            set: &set,
            env: &env,
        };
        let cwd = Path::new("/");
        let got = r.lookup(Var::Name, cwd).ok().flatten();
        assert_eq!(
            got,
            Some(Value {
                text: "a".into(),
                origin: Origin::Line(1)
            })
        );
        assert_eq!(r.lookup(Var::Live, cwd).ok(), Some(None));
        let got = r.or_default(Var::Upper, cwd, "root").ok();
        assert_eq!(
            got,
            Some(Value {
                text: "root".into(),
                origin: Origin::Default
            })
        );
        let got = r.lookup(Var::Log, cwd).ok().flatten().map(|v| v.text);
        assert_eq!(got.as_deref(), Some("x"));
        let msg = r.lookup(Var::Base, cwd).err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("/c/x.conf:4: BASE: command \"!false\" failed (exit status 1)")
        );
    }
}
