//! The loading sequence: read, parse, then evaluate the variables in a fixed
//! order (NAME, LOG, BASE relative to the file's directory; the rest relative
//! to BASE), checking each as it comes, so that a refusal stops before any
//! later `!command` runs.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Fault, Origin};
use super::name::check_name;
use super::parse::{parse, Var};
use super::paths::{absolute, canonical_dir};
use super::resolve::{HostEnv, Resolver, Value};
use super::trust;
use super::Config;

/// The longest file name the kernel takes (one path component).
const NAME_MAX: usize = 255;

/// Loads `file` (as the user named it) with the host facts in `env`.
pub fn load(file: &Path, env: &HostEnv) -> Result<Config, ConfigError> {
    let unreadable = |source| ConfigError::Unreadable {
        file: file.into(),
        source,
    };
    let path = fs::canonicalize(file).map_err(unreadable)?;
    // Opened without following a last symlink, checked by its fd: what is
    // trusted is what is read (security check 25), before any `!` runs.
    // Non-blocking, so that a FIFO is refused by the check, not waited on
    // (a regular file reads the same either way).
    let mut opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(unreadable)?;
    trust::config_file(&path, &opened, &*env.guarded).map_err(|distrust| {
        ConfigError::Untrusted {
            file: file.into(),
            distrust,
        }
    })?;
    let mut bytes = Vec::new();
    opened.read_to_end(&mut bytes).map_err(unreadable)?;
    let conf_dir = fs::canonicalize(parent_dir(file)).map_err(unreadable)?;
    let set = parse(&bytes).map_err(|e| ConfigError::Value {
        file: file.into(),
        var: e.var,
        origin: Origin::Line(e.line),
        fault: e.flaw.into(),
    })?;
    let r = Resolver {
        file,
        set: &set,
        env,
    };

    let name = r.name(&conf_dir)?;
    let (log, log_line) = r.log(&name.text, &conf_dir)?;
    let base = r.base(&conf_dir)?;
    let cables = r.cables(&name, &base)?;
    let roots = r.roots(&base)?;
    let start = r.start(&base)?;
    let premount = r.hook(Var::Premount, &base)?;
    let postmount = r.hook(Var::Postmount, &base)?;
    let init = r.hook(Var::Init, &base)?;
    let ram_size = r.ram_size(&base)?;
    let services = r.services(&base)?;
    let stop_timeout = r.stop_timeout(&base)?;
    let security = r.security(&base)?;
    let keep_caps = r.keep_caps(&base, security)?;
    let (private_users, private_users_origin) = r.private_users(&base)?;
    let shares = r.shares(&base, &roots.lower)?;
    let limits = r.limits(&base)?;

    Ok(Config {
        path,
        name: name.text,
        log,
        log_line,
        base,
        cables,
        live: roots.live,
        upper: roots.upper,
        work: roots.work,
        lower: roots.lower,
        mode: roots.mode,
        start,
        premount,
        postmount,
        init,
        ram_size,
        shares,
        services,
        stop_timeout,
        limits,
        keep_caps,
        security,
        private_users,
        private_users_origin,
    })
}

/// The directory holding `file` (`.` for a bare file name).
fn parent_dir(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The default NAME: the file's base name without `.conf`.
pub(super) fn default_name(file: &Path) -> Result<String, Fault> {
    let base = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or(Fault::NotUtf8)?;
    Ok(base.strip_suffix(".conf").unwrap_or(base).to_string())
}

impl Resolver<'_> {
    fn name(&self, conf_dir: &Path) -> Result<Value, ConfigError> {
        let value = match self.lookup(Var::Name, conf_dir)? {
            Some(value) => value,
            None => Value {
                text: default_name(self.file)
                    .map_err(|fault| self.fail(Var::Name, Origin::Default, fault))?,
                origin: Origin::Default,
            },
        };
        self.check(Var::Name, &value, check_name)?;
        Ok(value)
    }

    /// LOG: a file whose directory must exist (relative to CONF's directory,
    /// since it comes before BASE); whether it is the default. What a user
    /// planted at the default path is no error here: the boot logs
    /// elsewhere (`reserve`).
    fn log(&self, name: &str, conf_dir: &Path) -> Result<(PathBuf, Option<usize>), ConfigError> {
        let value = self.or_default(Var::Log, conf_dir, &format!("/tmp/oly-{name}.log"))?;
        let line = match value.origin {
            Origin::Line(n) => n,
            Origin::Default => return Ok((PathBuf::from(value.text), None)),
        };
        let log = self.check(Var::Log, &value, |text| {
            let path = absolute(conf_dir, text);
            let file_name = path
                .file_name()
                .ok_or_else(|| Fault::NotAFile(path.clone()))?;
            if file_name.len() > NAME_MAX {
                return Err(Fault::LogNameTooLong(file_name.len()));
            }
            let log = canonical_dir(parent_dir(&path))?.join(file_name);
            if log.is_dir() {
                return Err(Fault::NotAFile(path));
            }
            Ok(log)
        })?;
        Ok((log, Some(line)))
    }

    /// BASE: required, relative to CONF's directory, an existing directory.
    fn base(&self, conf_dir: &Path) -> Result<PathBuf, ConfigError> {
        let value = self
            .lookup(Var::Base, conf_dir)?
            .ok_or_else(|| self.missing(Var::Base))?;
        let base = self.check(Var::Base, &value, |text| {
            canonical_dir(&absolute(conf_dir, text))
        })?;
        self.roots_alone(Var::Base, value.origin, &base)?;
        Ok(base)
    }
}
