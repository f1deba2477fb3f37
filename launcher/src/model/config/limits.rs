//! The resource limits: MEMORY_MAX, MEMORY_HIGH, CPU_MAX, CPU_WEIGHT,
//! PIDS_MAX and IO_WEIGHT, parsed and checked against the host (its memory,
//! its CPUs, the cgroup controllers it has) at configuration time.

use std::path::Path;

use super::error::{ConfigError, Fault};
use super::parse::Var;
use super::resolve::Resolver;
use crate::model::hierarchy::{Ctl, Layout};

/// The fewest pids a subhost may be held to: the subinit, a service, its
/// child and a command entered with overlay-go.
pub const MIN_PIDS: u64 = 4;
/// The least memory a limit may leave the subhost (the subinit and a shell).
pub const MIN_MEMORY: u64 = 4 << 20;
/// The kernel's largest pid count (PID_MAX_LIMIT on 64-bit).
const MAX_PIDS: u64 = 4 << 20;

/// The limits of one subhost; `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes.
    pub memory_max: Option<u64>,
    /// Bytes.
    pub memory_high: Option<u64>,
    /// Percent of one CPU (150 = 1.5 CPUs).
    pub cpu_max: Option<u64>,
    /// 1..=10000, 100 the default.
    pub cpu_weight: Option<u64>,
    pub pids_max: Option<u64>,
    /// 1..=10000, 100 the default.
    pub io_weight: Option<u64>,
}

/// What the checks need to know of the host.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// MemTotal, bytes.
    pub memory: u64,
    /// Online CPUs.
    pub cpus: u64,
    pub layout: Layout,
}

impl HostFacts {
    /// The running host, with the mount table `mountinfo`.
    pub fn read(mountinfo: &Path) -> HostFacts {
        let text = std::fs::read_to_string(mountinfo).unwrap_or_default();
        let layout = Layout::parse(&text, |m| {
            std::fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default()
        });
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpus = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN);
        HostFacts {
            memory: mem_total(&meminfo),
            cpus: cpus.ok().flatten().map_or(1, |n| n.max(1) as u64),
            layout,
        }
    }
}

/// MemTotal from /proc/meminfo's text, in bytes.
fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// Digits only, as a u64 (no sign, no blank, no overflow).
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A size: bytes with an optional K, M, G or T suffix (powers of 1024,
/// either case), or N% of the host's memory (1..=100).
pub fn parse_size(value: &str, memory: u64) -> Result<u64, Fault> {
    let bad = || Fault::BadSize(value.into());
    let bytes = if let Some(p) = value.strip_suffix('%') {
        let p = number(p)
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(bad)?;
        (u128::from(memory) * u128::from(p) / 100) as u64
    } else {
        let (digits, shift) = match value.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let shift = match c.to_ascii_uppercase() {
                    'K' => 10,
                    'M' => 20,
                    'G' => 30,
                    'T' => 40,
                    _ => return Err(bad()),
                };
                (&value[..i], shift)
            }
            _ => (value, 0),
        };
        let n = number(digits).ok_or_else(bad)?;
        n.checked_mul(1u64 << shift).ok_or_else(bad)?
    };
    if bytes < MIN_MEMORY {
        return Err(Fault::TooSmall {
            value: value.into(),
            least: "4M".into(),
        });
    }
    Ok(bytes)
}

/// CPU_MAX: N% of one CPU, 1 to 100 × the host's CPUs.
pub fn parse_cpu_max(value: &str, cpus: u64) -> Result<u64, Fault> {
    let p = value
        .strip_suffix('%')
        .and_then(number)
        .filter(|&p| p >= 1)
        .ok_or_else(|| Fault::BadPercent(value.into()))?;
    if p > cpus.saturating_mul(100) {
        return Err(Fault::CpuMaxAboveHost {
            value: value.into(),
            cpus,
        });
    }
    Ok(p)
}

/// A whole number from `lo` to `hi`.
pub fn parse_range(value: &str, lo: u64, hi: u64) -> Result<u64, Fault> {
    number(value)
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| Fault::OutOfRange {
            value: value.into(),
            lo,
            hi,
        })
}

/// The controller a variable needs.
fn controller(var: Var) -> Ctl {
    match var {
        Var::MemoryMax | Var::MemoryHigh => Ctl::Memory,
        Var::CpuMax | Var::CpuWeight => Ctl::Cpu,
        Var::PidsMax => Ctl::Pids,
        _ => Ctl::Io,
    }
}

/// Refuses a limit whose controller this host lacks. IO_WEIGHT on v1 also
/// needs the BFQ scheduler's weight (blkio.bfq.*).
fn available(var: Var, layout: &Layout) -> Result<(), Fault> {
    let c = controller(var);
    let missing = |what: String| Fault::NoController { controller: what };
    match layout.place(c) {
        None => Err(missing(format!(
            "the {} controller (cgroup v1 {}, cgroup2 {})",
            c.v2_name().unwrap_or(c.v1_name()),
            c.v1_name(),
            c.v2_name().unwrap_or("-")
        ))),
        Some(crate::model::hierarchy::Place::V1(h))
            if c == Ctl::Io && !h.mount.join("blkio.bfq.io_service_bytes").exists() =>
        {
            Err(missing("blkio weights (the BFQ I/O scheduler)".into()))
        }
        Some(_) => Ok(()),
    }
}

impl Resolver<'_> {
    /// The limit variables; the host is read only when one is set.
    pub fn limits(&self, base: &Path) -> Result<Limits, ConfigError> {
        let mut facts: Option<HostFacts> = None;
        let mut get = |var: Var, parse: &dyn Fn(&str, &HostFacts) -> Result<u64, Fault>| {
            let Some(value) = self.lookup(var, base)? else {
                return Ok::<_, ConfigError>(None);
            };
            let facts = facts.get_or_insert_with(|| HostFacts::read(&self.env.mountinfo));
            let n = self.check(var, &value, |t| parse(t, facts))?;
            self.check(var, &value, |_| available(var, &facts.layout))?;
            Ok(Some(n))
        };
        Ok(Limits {
            memory_max: get(Var::MemoryMax, &|t, f| parse_size(t, f.memory))?,
            memory_high: get(Var::MemoryHigh, &|t, f| parse_size(t, f.memory))?,
            cpu_max: get(Var::CpuMax, &|t, f| parse_cpu_max(t, f.cpus))?,
            cpu_weight: get(Var::CpuWeight, &|t, _| parse_range(t, 1, 10000))?,
            pids_max: get(Var::PidsMax, &|t, _| parse_range(t, MIN_PIDS, MAX_PIDS))?,
            io_weight: get(Var::IoWeight, &|t, _| parse_range(t, 1, 10000))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M", G).ok(), Some(64 << 20));
        assert_eq!(parse_size("64m", G).ok(), Some(64 << 20));
        assert_eq!(parse_size("1G", G).ok(), Some(G));
        assert_eq!(parse_size("8192k", G).ok(), Some(8 << 20));
        assert_eq!(parse_size("5000000", G).ok(), Some(5_000_000));
        assert_eq!(parse_size("50%", 4 * G).ok(), Some(2 * G));
        for bad in [
            "",
            "M",
            "64MB",
            "-1",
            "+5M",
            "1.5G",
            "5 M",
            "64X",
            "0%",
            "101%",
            "%",
            "99999999999999999999",
            "99999999999T",
        ] {
            assert!(
                matches!(parse_size(bad, G), Err(Fault::BadSize(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse_size("1M", G), Err(Fault::TooSmall { .. })));
        assert!(matches!(parse_size("0", G), Err(Fault::TooSmall { .. })));
    }

    #[test]
    fn cpu_max() {
        assert_eq!(parse_cpu_max("50%", 2).ok(), Some(50));
        assert_eq!(parse_cpu_max("200%", 2).ok(), Some(200));
        assert!(matches!(
            parse_cpu_max("201%", 2),
            Err(Fault::CpuMaxAboveHost { cpus: 2, .. })
        ));
        for bad in ["0%", "50", "-5%", "1.5%", "%", "99999999999999999999%"] {
            assert!(
                matches!(parse_cpu_max(bad, 2), Err(Fault::BadPercent(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("64", MIN_PIDS, MAX_PIDS).ok(), Some(64));
        for bad in ["3", "0", "-1", "", "x", "4194305", "18446744073709551616"] {
            assert!(parse_range(bad, MIN_PIDS, MAX_PIDS).is_err(), "{bad}");
        }
        assert!(parse_range("10001", 1, 10000).is_err());
    }

    #[test]
    fn meminfo() {
        assert_eq!(
            mem_total("MemTotal:       24684000 kB\nMemFree: 1 kB\n"),
            24684000 * 1024
        );
        assert_eq!(mem_total(""), 0);
    }

    #[test]
    fn missing_controllers_are_named() {
        let none = Layout::default();
        let e = available(Var::PidsMax, &none).err().map(|f| f.to_string());
        assert!(e.is_some_and(|m| m.contains("pids controller")));
        let v2 = Layout {
            v2: Some("/sys/fs/cgroup".into()),
            v2_controllers: vec!["memory".into()],
            v1: Vec::new(),
        };
        assert!(available(Var::MemoryMax, &v2).is_ok());
        assert!(available(Var::CpuMax, &v2).is_err());
    }
}
