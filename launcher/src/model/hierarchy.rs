//! Where the cgroup hierarchies are mounted (from /proc/self/mountinfo) and
//! which one serves each controller: a cgroup v1 hierarchy that has it
//! mounted (hybrid or v1 hosts, e.g. /sys/fs/cgroup/memory), else cgroup2
//! when its root lists the controller in cgroup.controllers (pure v2
//! hosts). Pure: the texts are read by the caller.

use std::path::{Path, PathBuf};

use crate::model::mountinfo::unescape;

/// A controller the limits or the usage figures need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctl {
    Memory,
    Cpu,
    /// CPU time accounting: its own controller on v1, part of `cpu.stat`
    /// (always there) on v2.
    CpuAcct,
    Pids,
    Io,
    /// The device allow-list of SECURITY=hardened: the v1 `devices`
    /// controller; on cgroup2 a BPF program, which needs no controller.
    Devices,
}

impl Ctl {
    pub const ALL: [Ctl; 6] = [
        Ctl::Memory,
        Ctl::Cpu,
        Ctl::CpuAcct,
        Ctl::Pids,
        Ctl::Io,
        Ctl::Devices,
    ];

    /// The controller's name on a v1 hierarchy.
    pub fn v1_name(self) -> &'static str {
        match self {
            Ctl::Memory => "memory",
            Ctl::Cpu => "cpu",
            Ctl::CpuAcct => "cpuacct",
            Ctl::Pids => "pids",
            Ctl::Io => "blkio",
            Ctl::Devices => "devices",
        }
    }

    /// The controller's name in cgroup2 (`None`: no controller needed).
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Ctl::Memory => Some("memory"),
            Ctl::Cpu => Some("cpu"),
            Ctl::CpuAcct => None,
            Ctl::Pids => Some("pids"),
            Ctl::Io => Some("io"),
            Ctl::Devices => None,
        }
    }
}

/// One cgroup v1 hierarchy: its mount point and its controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1 {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

impl V1 {
    pub fn has(&self, c: Ctl) -> bool {
        self.controllers.iter().any(|n| n == c.v1_name())
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The cgroup2 mount point, if mounted.
    pub v2: Option<PathBuf>,
    /// The controllers cgroup2's root offers (its cgroup.controllers).
    pub v2_controllers: Vec<String>,
    /// The v1 hierarchies with a controller of [`Ctl::ALL`].
    pub v1: Vec<V1>,
}

/// Where a controller is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    V1(&'a V1),
    V2(&'a Path),
}

impl Layout {
    /// From the text of a mountinfo file; `controllers(mount)` gives the
    /// text of cgroup2's root cgroup.controllers.
    pub fn parse(mountinfo: &str, controllers: impl Fn(&Path) -> String) -> Layout {
        let mut layout = Layout::default();
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(mp), Some(fstype), Some(opts)) =
                (fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
            else {
                continue;
            };
            match *fstype {
                "cgroup2" if layout.v2.is_none() => {
                    let mount = unescape(mp.as_bytes());
                    layout.v2_controllers = words(&controllers(&mount));
                    layout.v2 = Some(mount);
                }
                "cgroup" => {
                    let v1 = V1 {
                        mount: unescape(mp.as_bytes()),
                        controllers: opts.split(',').map(str::to_string).collect(),
                    };
                    let known = Ctl::ALL.iter().any(|&c| v1.has(c));
                    let seen = layout.v1.iter().any(|h| h.controllers == v1.controllers);
                    if known && !seen {
                        layout.v1.push(v1);
                    }
                }
                _ => {}
            }
        }
        layout
    }

    /// The hierarchy that serves `c`, if any.
    pub fn place(&self, c: Ctl) -> Option<Place<'_>> {
        if let Some(h) = self.v1.iter().find(|h| h.has(c)) {
            return Some(Place::V1(h));
        }
        let v2 = self.v2.as_deref()?;
        match c.v2_name() {
            None => Some(Place::V2(v2)),
            Some(name) if self.v2_controllers.iter().any(|n| n == name) => Some(Place::V2(v2)),
            Some(_) => None,
        }
    }

    /// The v2 controllers to enable for the subhost: those of `ctls` that
    /// no v1 hierarchy serves and cgroup2 offers.
    pub fn v2_enable(&self, ctls: &[Ctl]) -> Vec<&'static str> {
        ctls.iter()
            .filter(|&&c| matches!(self.place(c), Some(Place::V2(_))))
            .filter_map(|c| c.v2_name())
            .collect()
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_serves_limits_from_v1() {
        let l = Layout::parse(HYBRID, |_| String::new());
        assert_eq!(l.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(l.v1.len(), 6);
        for c in Ctl::ALL {
            match l.place(c) {
                Some(Place::V1(h)) => assert!(h.mount.ends_with(c.v1_name())),
                other => panic!("{c:?}: {other:?}"),
            }
        }
        assert!(l.v2_enable(&Ctl::ALL).is_empty());
    }

    #[test]
    fn pure_v2_enables_what_its_root_offers() {
        let text = "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::parse(text, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup"));
            "cpuset cpu memory pids\n".into()
        });
        assert!(l.v1.is_empty());
        assert!(matches!(l.place(Ctl::Memory), Some(Place::V2(_))));
        assert!(matches!(l.place(Ctl::CpuAcct), Some(Place::V2(_))));
        assert_eq!(l.place(Ctl::Io), None);
        assert!(matches!(l.place(Ctl::Devices), Some(Place::V2(_))));
        assert_eq!(l.v2_enable(&Ctl::ALL), vec!["memory", "cpu", "pids"]);
    }

    #[test]
    fn comounted_cpu_and_cpuacct_is_one_hierarchy() {
        let text = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                    33 31 0:29 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = Layout::parse(text, |_| String::new());
        assert_eq!(l.v1.len(), 1);
        assert_eq!(l.place(Ctl::Cpu), l.place(Ctl::CpuAcct));
        assert_eq!(l.place(Ctl::Memory), None);
    }
}
