//! The variables that are not paths on the host: CABLES, START, the hooks,
//! RAM_SIZE, SERVICES and STOP_TIMEOUT.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cable::parse_cables;
use super::command::words;
use super::error::{ConfigError, Fault};
use super::name::check_ifnames;
use super::parse::Var;
use super::paths::{find_executable, subhost_path};
use super::resolve::{Resolver, Value};
use super::trust;
use super::{Cable, Hook, RamSize};

/// The default START list.
const DEFAULT_START: &str = "networking ssh";
/// The default size of the subhost's `/run`.
const DEFAULT_RAM_SIZE: &str = "50M";
/// The default services directory inside the subhost.
const DEFAULT_SERVICES: &str = "/etc/overlay-boot/services.d";
/// The default grace period between SIGTERM and SIGKILL at stop.
const DEFAULT_STOP_TIMEOUT: &str = "10";
/// The longest STOP_TIMEOUT accepted, in seconds.
const MAX_STOP_TIMEOUT: u64 = 3600;

/// START: blank-separated entries; `none` is the empty list.
pub fn parse_start(value: &str) -> Vec<String> {
    if value == "none" {
        Vec::new()
    } else {
        words(value)
    }
}

/// RAM_SIZE: `none`, or a tmpfs size: digits with an optional k, m, g, t,
/// p, e suffix (either case) or `%`.
pub fn parse_ram_size(value: &str) -> Result<RamSize, Fault> {
    if value == "none" {
        return Ok(RamSize::None);
    }
    let digits = value.trim_end_matches(|c: char| "kKmMgGtTpPeE%".contains(c));
    let suffix_ok = value.len() - digits.len() <= 1;
    if digits.is_empty() || !suffix_ok || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::BadRamSize(value.into()));
    }
    Ok(RamSize::Size(value.into()))
}

/// SERVICES: `none`, or an absolute path inside the subhost.
pub fn parse_services(value: &str) -> Result<Option<PathBuf>, Fault> {
    match value {
        "none" => Ok(None),
        v if !v.starts_with('/') => Err(Fault::NotAbsolute(v.into())),
        v => subhost_path(v).map(Some),
    }
}

/// STOP_TIMEOUT: whole seconds, 1..=3600.
pub fn parse_stop_timeout(value: &str) -> Result<Duration, Fault> {
    let bad = || Fault::BadTimeout(value.into());
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u64>() {
        Ok(s) if (1..=MAX_STOP_TIMEOUT).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(bad()),
    }
}

impl Resolver<'_> {
    /// CABLES, and the interface names they give NAME (named as NAME's fault).
    pub fn cables(&self, name: &Value, base: &Path) -> Result<Vec<Cable>, ConfigError> {
        let Some(value) = self.lookup(Var::Cables, base)? else {
            return Ok(Vec::new());
        };
        let cables = self.check(Var::Cables, &value, parse_cables)?;
        self.check(Var::Name, name, |n| check_ifnames(n, &cables))?;
        Ok(cables)
    }

    pub fn start(&self, base: &Path) -> Result<Vec<String>, ConfigError> {
        Ok(parse_start(
            &self.or_default(Var::Start, base, DEFAULT_START)?.text,
        ))
    }

    /// PREMOUNT, POSTMOUNT or INIT: built in unless set; when set, its first
    /// word must be an executable file, and is replaced by its absolute path.
    pub fn hook(&self, var: Var, base: &Path) -> Result<Hook, ConfigError> {
        let Some(value) = self.lookup(var, base)? else {
            return Ok(Hook::BuiltIn);
        };
        self.check(var, &value, |text| {
            let mut argv = words(text);
            let Some(first) = argv.first_mut() else {
                return Err(Fault::EmptyCommand(text.into()));
            };
            let program = find_executable(first, base, &self.env.search_path)?;
            // Run later as root: it must be root's alone (security check 25).
            trust::program(&program, &self.env.guarded).map_err(|distrust| Fault::Untrusted {
                program: program.clone(),
                distrust,
            })?;
            if let Some(program) = program.to_str() {
                *first = program.to_string();
            }
            Ok(Hook::Command(argv))
        })
    }

    pub fn ram_size(&self, base: &Path) -> Result<RamSize, ConfigError> {
        let value = self.or_default(Var::RamSize, base, DEFAULT_RAM_SIZE)?;
        self.check(Var::RamSize, &value, parse_ram_size)
    }

    pub fn services(&self, base: &Path) -> Result<Option<PathBuf>, ConfigError> {
        let value = self.or_default(Var::Services, base, DEFAULT_SERVICES)?;
        self.check(Var::Services, &value, parse_services)
    }

    pub fn stop_timeout(&self, base: &Path) -> Result<Duration, ConfigError> {
        let value = self.or_default(Var::StopTimeout, base, DEFAULT_STOP_TIMEOUT)?;
        self.check(Var::StopTimeout, &value, parse_stop_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lists() {
        assert_eq!(parse_start("networking ssh"), vec!["networking", "ssh"]);
        assert_eq!(parse_start("none"), Vec::<String>::new());
        assert_eq!(
            parse_start("/etc/rc.local\tcron"),
            vec!["/etc/rc.local", "cron"]
        );
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram_size("none").ok(), Some(RamSize::None));
        for good in ["50M", "1g", "4096", "10%"] {
            assert_eq!(
                parse_ram_size(good).ok(),
                Some(RamSize::Size(good.into())),
                "{good}"
            );
        }
        for bad in ["", "M", "50MB", "-1", "5 M", "1.5G"] {
            assert!(
                matches!(parse_ram_size(bad), Err(Fault::BadRamSize(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn services_dirs() {
        assert_eq!(parse_services("none").ok(), Some(None));
        assert_eq!(
            parse_services("/etc/sv/").ok(),
            Some(Some(PathBuf::from("/etc/sv")))
        );
        assert!(matches!(
            parse_services("etc/sv"),
            Err(Fault::NotAbsolute(_))
        ));
        assert!(matches!(
            parse_services("/etc/../sv"),
            Err(Fault::DotDot(_))
        ));
    }

    #[test]
    fn stop_timeouts() {
        assert_eq!(parse_stop_timeout("1").ok(), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_stop_timeout("3600").ok(),
            Some(Duration::from_secs(3600))
        );
        for bad in [
            "0",
            "3601",
            "-1",
            "+5",
            "1.5",
            "ten",
            "99999999999999999999",
        ] {
            assert!(
                matches!(parse_stop_timeout(bad), Err(Fault::BadTimeout(_))),
                "{bad}"
            );
        }
    }
}
