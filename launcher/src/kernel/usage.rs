//! A subhost's live usage, read from its cgroup files in the hierarchy that
//! serves each controller (v1 or v2):
//!
//! | figure        | cgroup2                   | cgroup v1                     |
//! |---------------|---------------------------|-------------------------------|
//! | memory        | memory.current, .max      | memory.usage_in_bytes, .limit_in_bytes |
//! | CPU time      | cpu.stat `usage_usec`     | cpuacct.usage (ns)            |
//! | pids          | pids.current, pids.max    | pids.current, pids.max        |
//!
//! "max" (v2) and v1's "no limit" (at least 2^62) read as no maximum.

use std::fmt::Write as _;

use crate::kernel::dirfd::Dir;
use crate::model::hierarchy::{Ctl, Layout, Place};

/// What a v1 limit file holds when there is no limit (PAGE_COUNTER_MAX
/// pages, rounded): anything this large is none.
const V1_UNLIMITED: u64 = 1 << 62;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub memory: Option<u64>,
    pub memory_max: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub pids: Option<u64>,
    pub pids_max: Option<u64>,
}

/// The hierarchies that serve the figures, each opened once for all the
/// subhosts (`dirfd`: a file is then NAME/FILE under its fd, not a walk
/// from /).
pub struct Reader {
    memory: Option<(Dir, bool)>,
    cpu: Option<(Dir, bool)>,
    pids: Option<Dir>,
}

/// The directory of the hierarchy that serves `c`, and whether it is v1.
fn mount(layout: &Layout, c: Ctl) -> Option<(Dir, bool)> {
    match layout.place(c)? {
        Place::V1(h) => Some((Dir::open(&h.mount)?, true)),
        Place::V2(m) => Some((Dir::open(m)?, false)),
    }
}

fn number(dir: &Dir, name: &str, file: &str) -> Option<u64> {
    dir.text(&format!("{name}/{file}"))?.trim().parse().ok()
}

/// A limit file: a number, or none for "max" or v1's huge no-limit value.
fn limit(dir: &Dir, name: &str, file: &str) -> Option<u64> {
    number(dir, name, file).filter(|&n| n < V1_UNLIMITED)
}

impl Reader {
    pub fn new(layout: &Layout) -> Reader {
        Reader {
            memory: mount(layout, Ctl::Memory),
            cpu: mount(layout, Ctl::CpuAcct),
            pids: mount(layout, Ctl::Pids).map(|(d, _)| d),
        }
    }

    /// The usage of subhost `name` (None where a figure cannot be read).
    pub fn read(&self, name: &str) -> Usage {
        let mut u = Usage::default();
        if let Some((d, v1)) = &self.memory {
            let (cur, max) = match v1 {
                true => ("memory.usage_in_bytes", "memory.limit_in_bytes"),
                false => ("memory.current", "memory.max"),
            };
            u.memory = number(d, name, cur);
            u.memory_max = limit(d, name, max);
        }
        if let Some((d, v1)) = &self.cpu {
            u.cpu_seconds = match v1 {
                true => number(d, name, "cpuacct.usage").map(|ns| ns as f64 / 1e9),
                false => d
                    .text(&format!("{name}/cpu.stat"))
                    .and_then(|t| {
                        t.lines()
                            .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok())
                    })
                    .map(|us| us as f64 / 1e6),
            };
        }
        if let Some(d) = &self.pids {
            u.pids = number(d, name, "pids.current");
            u.pids_max = limit(d, name, "pids.max");
        }
        u
    }
}

/// `12.3M`, `64M`, `512K`, `1.5G` (powers of 1024).
pub fn size(bytes: u64) -> String {
    let units = [("G", 30), ("M", 20), ("K", 10)];
    for (unit, shift) in units {
        if bytes >= 1 << shift {
            let v = bytes as f64 / (1u64 << shift) as f64;
            return match v.fract() == 0.0 || v >= 100.0 {
                true => format!("{v:.0}{unit}"),
                false => format!("{v:.1}{unit}"),
            };
        }
    }
    bytes.to_string()
}

fn opt(v: Option<u64>, f: impl Fn(u64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

impl Usage {
    /// The text columns MEMORY CPU PIDS: `12.3M/64M 1.52s 5/64`, with `-`
    /// for a figure not read and for no maximum.
    pub fn columns(&self) -> String {
        let mem = format!("{}/{}", opt(self.memory, size), opt(self.memory_max, size));
        let cpu = self
            .cpu_seconds
            .map_or_else(|| "-".into(), |s| format!("{s:.2}s"));
        let pids = format!(
            "{}/{}",
            opt(self.pids, |n| n.to_string()),
            opt(self.pids_max, |n| n.to_string())
        );
        format!("{mem} {cpu} {pids}")
    }

    /// The JSON object `{"memory_bytes":…,"memory_max_bytes":…,
    /// "cpu_seconds":…,"pids":…,"pids_max":…}`, null for what is unknown
    /// or unlimited.
    pub fn json(&self) -> String {
        let n = |v: Option<u64>| v.map_or_else(|| "null".to_string(), |n| n.to_string());
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"memory_bytes\":{},\"memory_max_bytes\":{},\"cpu_seconds\":{},\"pids\":{},\"pids_max\":{}}}",
            n(self.memory),
            n(self.memory_max),
            self.cpu_seconds
                .map_or_else(|| "null".to_string(), |c| format!("{c:.6}")),
            n(self.pids),
            n(self.pids_max)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_columns() {
        assert_eq!(size(64 << 20), "64M");
        assert_eq!(size(12_900_000), "12.3M");
        assert_eq!(size(512), "512");
        let u = Usage {
            memory: Some(12_900_000),
            memory_max: Some(64 << 20),
            cpu_seconds: Some(1.519),
            pids: Some(5),
            pids_max: None,
        };
        assert_eq!(u.columns(), "12.3M/64M 1.52s 5/-");
        assert_eq!(
            u.json(),
            "{\"memory_bytes\":12900000,\"memory_max_bytes\":67108864,\"cpu_seconds\":1.519000,\"pids\":5,\"pids_max\":null}"
        );
        assert_eq!(Usage::default().columns(), "-/- - -/-");
    }
}
