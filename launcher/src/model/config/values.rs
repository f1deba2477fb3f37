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

/// The most bytes START's entries may take in the subinit's argument list
/// (`--start ENTRY` each, with its pointer): half of the 128 KiB that
/// exec(2) grants whatever the stack limit, the rest for the other arguments.
pub const START_ARGS_MAX: usize = 64 * 1024;

/// START: blank-separated entries; `none` is the empty list.
pub fn parse_start(value: &str) -> Vec<String> {
    if value == "none" {
        Vec::new()
    } else {
        words(value)
    }
}

/// START's entries, refused when exec(2) could not pass them on.
pub fn check_start(value: &str) -> Result<Vec<String>, Fault> {
    let start = parse_start(value);
    let pointer = std::mem::size_of::<usize>();
    let bytes: usize = start
        .iter()
        .map(|e| "--start".len() + e.len() + 2 + 2 * pointer)
        .sum();
    if bytes > START_ARGS_MAX {
        return Err(Fault::StartTooLongForExec(bytes));
    }
    Ok(start)
}

/// RAM_SIZE: `none`, or a tmpfs size: digits with an optional k, m, g, t,
/// p, e suffix (either case) or `%`; not zero (tmpfs: no limit), at most
/// `memory` bytes or 100%.
pub fn parse_ram_size(value: &str, memory: u64) -> Result<RamSize, Fault> {
    if value == "none" {
        return Ok(RamSize::None);
    }
    let digits = value.trim_end_matches(|c: char| "kKmMgGtTpPeE%".contains(c));
    let suffix = &value[digits.len()..];
    if digits.is_empty() || suffix.len() > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::BadRamSize(value.into()));
    }
    let huge = || Fault::HugeRamSize {
        size: value.into(),
        memory,
    };
    let number: u64 = digits.parse().map_err(|_| huge())?;
    if number == 0 {
        return Err(Fault::ZeroRamSize(value.into()));
    }
    let shift = match suffix {
        "%" if number > 100 => return Err(huge()),
        "%" => return Ok(RamSize::Size(value.into())),
        "" => 0,
        s => 10 * (1 + "kmgtpe".find(s.to_ascii_lowercase().as_str()).unwrap_or(0)),
    };
    match number.checked_mul(1u64 << shift) {
        Some(bytes) if bytes <= memory => Ok(RamSize::Size(value.into())),
        _ => Err(huge()),
    }
}

/// The host's memory in bytes (all of it, not what is free).
fn host_memory() -> u64 {
    nix::sys::sysinfo::sysinfo().map_or(u64::MAX, |info| info.ram_total())
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
        let value = self.or_default(Var::Start, base, DEFAULT_START)?;
        self.check(Var::Start, &value, check_start)
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
        self.check(Var::RamSize, &value, |v| parse_ram_size(v, host_memory()))
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

    const GIB: u64 = 1 << 30;

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram_size("none", GIB).ok(), Some(RamSize::None));
        for good in ["50M", "1g", "4096", "10%", "100%", "1048576k", "1073741824"] {
            assert_eq!(
                parse_ram_size(good, GIB).ok(),
                Some(RamSize::Size(good.into())),
                "{good}"
            );
        }
        for bad in ["", "M", "50MB", "-1", "5 M", "1.5G", "%"] {
            assert!(
                matches!(parse_ram_size(bad, GIB), Err(Fault::BadRamSize(_))),
                "{bad}"
            );
        }
        for zero in ["0", "0M", "00g", "0%"] {
            assert!(
                matches!(parse_ram_size(zero, GIB), Err(Fault::ZeroRamSize(_))),
                "{zero}"
            );
        }
        for huge in ["2g", "1025M", "1T", "101%", "16E", "99999999999999999999"] {
            assert!(
                matches!(parse_ram_size(huge, GIB), Err(Fault::HugeRamSize { .. })),
                "{huge}"
            );
        }
    }

    #[test]
    fn start_lists_too_long_for_exec() {
        assert!(check_start(&"a ".repeat(1000)).is_ok());
        assert!(matches!(
            check_start(&"a ".repeat(5000)),
            Err(Fault::StartTooLongForExec(_))
        ));
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
