//! The limits written into the subhost's cgroups: each goes to the
//! hierarchy that serves its controller (`hierarchy::Layout::place`),
//! in that hierarchy's file and unit.
//!
//! | variable    | cgroup2               | cgroup v1                                |
//! |-------------|-----------------------|------------------------------------------|
//! | MEMORY_MAX  | memory.max            | memory.limit_in_bytes                    |
//! | MEMORY_HIGH | memory.high           | memory.soft_limit_in_bytes               |
//! | CPU_MAX     | cpu.max "Q 100000"    | cpu.cfs_period_us 100000, cpu.cfs_quota_us Q |
//! | CPU_WEIGHT  | cpu.weight            | cpu.shares = weight × 1024 / 100         |
//! | PIDS_MAX    | pids.max              | pids.max                                 |
//! | IO_WEIGHT   | io.weight "default W" (else io.bfq.weight 1..1000) | blkio.bfq.weight (1..1000) |

use std::path::{Path, PathBuf};

use crate::error::{At, Result};
use crate::model::config::Limits;
use crate::model::hierarchy::{Ctl, Layout, Place};

/// The CFS period CPU_MAX is expressed in, µs.
const PERIOD_US: u64 = 100_000;

/// The controllers the limits need.
pub fn controllers(l: &Limits) -> Vec<Ctl> {
    let mut c = Vec::new();
    if l.memory_max.is_some() || l.memory_high.is_some() {
        c.push(Ctl::Memory);
    }
    if l.cpu_max.is_some() || l.cpu_weight.is_some() {
        c.push(Ctl::Cpu);
    }
    if l.pids_max.is_some() {
        c.push(Ctl::Pids);
    }
    if l.io_weight.is_some() {
        c.push(Ctl::Io);
    }
    c
}

/// One file to write: (controller, v2 file and text, v1 files and texts).
type Write = (Ctl, (&'static str, String), Vec<(&'static str, String)>);

/// The writes the limits ask for, in order.
pub fn writes(l: &Limits) -> Vec<Write> {
    let mut w: Vec<Write> = Vec::new();
    if let Some(b) = l.memory_max {
        w.push((
            Ctl::Memory,
            ("memory.max", b.to_string()),
            vec![("memory.limit_in_bytes", b.to_string())],
        ));
    }
    if let Some(b) = l.memory_high {
        let v1 = vec![("memory.soft_limit_in_bytes", b.to_string())];
        w.push((Ctl::Memory, ("memory.high", b.to_string()), v1));
    }
    if let Some(p) = l.cpu_max {
        let quota = p * PERIOD_US / 100;
        let v1 = vec![
            ("cpu.cfs_period_us", PERIOD_US.to_string()),
            ("cpu.cfs_quota_us", quota.to_string()),
        ];
        w.push((Ctl::Cpu, ("cpu.max", format!("{quota} {PERIOD_US}")), v1));
    }
    if let Some(n) = l.cpu_weight {
        let shares = (n * 1024 / 100).max(2);
        w.push((
            Ctl::Cpu,
            ("cpu.weight", n.to_string()),
            vec![("cpu.shares", shares.to_string())],
        ));
    }
    if let Some(n) = l.pids_max {
        w.push((
            Ctl::Pids,
            ("pids.max", n.to_string()),
            vec![("pids.max", n.to_string())],
        ));
    }
    if let Some(n) = l.io_weight {
        let v1 = vec![("blkio.bfq.weight", n.clamp(1, 1000).to_string())];
        w.push((Ctl::Io, ("io.weight", format!("default {n}")), v1));
    }
    w
}

/// The file a limit is written to in subhost `name`'s cgroups, with its text.
pub fn targets(layout: &Layout, name: &str, l: &Limits) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for (ctl, v2, v1) in writes(l) {
        match layout.place(ctl) {
            Some(Place::V2(m)) => out.push((m.join(name).join(v2.0), v2.1)),
            Some(Place::V1(h)) => {
                out.extend(v1.into_iter().map(|(f, t)| (h.mount.join(name).join(f), t)));
            }
            None => {}
        }
    }
    out
}

/// Writes the limits (the cgroups exist).
pub fn apply(layout: &Layout, name: &str, l: &Limits) -> Result<()> {
    for (file, text) in targets(layout, name, l) {
        // io.weight is iocost's; with BFQ alone cgroup2 has io.bfq.weight.
        let bfq = file.with_file_name("io.bfq.weight");
        match (file.ends_with("io.weight") && !file.exists(), l.io_weight) {
            (true, Some(w)) => write(&bfq, &w.clamp(1, 1000).to_string())?,
            _ => write(&file, &text)?,
        }
    }
    Ok(())
}

fn write(file: &Path, text: &str) -> Result<()> {
    std::fs::write(file, text).at("write", file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_and_v2_files() {
        let l = Limits {
            memory_max: Some(64 << 20),
            cpu_max: Some(150),
            cpu_weight: Some(100),
            pids_max: Some(64),
            ..Limits::default()
        };
        let hybrid = Layout::parse(
            "1 0 0:1 / /cg/memory rw - cgroup cgroup rw,memory\n\
             2 0 0:2 / /cg/cpu rw - cgroup cgroup rw,cpu\n\
             3 0 0:3 / /cg/unified rw - cgroup2 cgroup2 rw\n",
            |_| "pids\n".into(),
        );
        let got: Vec<(String, String)> = targets(&hybrid, "x", &l)
            .into_iter()
            .map(|(p, t)| (p.display().to_string(), t))
            .collect();
        let want = [
            ("/cg/memory/x/memory.limit_in_bytes", "67108864"),
            ("/cg/cpu/x/cpu.cfs_period_us", "100000"),
            ("/cg/cpu/x/cpu.cfs_quota_us", "150000"),
            ("/cg/cpu/x/cpu.shares", "1024"),
            ("/cg/unified/x/pids.max", "64"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(controllers(&l), vec![Ctl::Memory, Ctl::Cpu, Ctl::Pids]);
    }
}
