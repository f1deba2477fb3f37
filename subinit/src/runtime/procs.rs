//! The process table, read from /proc, for the stop sweep: which processes
//! other than PID 1 are left, and (when the subinit is a subreaper rather than
//! PID 1) which of them descend from it.

use std::collections::HashMap;
use std::fs;

use nix::unistd::{getpid, Pid};

/// Pids of all processes visible in /proc, with their parent pids.
fn table() -> HashMap<i32, i32> {
    full_table()
        .into_iter()
        .map(|(pid, (ppid, _))| (pid, ppid))
        .collect()
}

/// Pids of all processes visible in /proc, with their parent pids and
/// whether they are zombies.
fn full_table() -> HashMap<i32, (i32, bool)> {
    let mut parents = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return parents;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A process can vanish between readdir and read: skip it.
        if let Some(fields) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| state_and_parent(&stat))
        {
            parents.insert(pid, fields);
        }
    }
    parents
}

/// The ppid of /proc/PID/stat, and whether its state is `Z` (zombie); the
/// command name may hold ')' and blanks.
fn state_and_parent(stat: &str) -> Option<(i32, bool)> {
    let mut after_name = stat[stat.rfind(')')? + 1..].split_whitespace();
    let zombie = after_name.next()? == "Z";
    Some((after_name.next()?.parse().ok()?, zombie))
}

/// Every process that descends from `root` (excluding `root`).
pub fn descendants(root: Pid) -> Vec<Pid> {
    descendants_in(&table(), root.as_raw())
        .into_iter()
        .map(Pid::from_raw)
        .collect()
}

fn descendants_in(parents: &HashMap<i32, i32>, root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| **pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.into_iter().skip(1).collect()
}

/// The live processes the stop's sweep is for: as PID 1 every other
/// process of the namespace, else every descendant; zombies and `omitted`
/// left out.
pub fn strays(is_pid1: bool, omitted: &[i32]) -> Vec<Pid> {
    let table = full_table();
    let candidates: Vec<i32> = if is_pid1 {
        table.keys().copied().filter(|pid| *pid != 1).collect()
    } else {
        let parents = table.iter().map(|(p, (pp, _))| (*p, *pp)).collect();
        descendants_in(&parents, getpid().as_raw())
    };
    candidates
        .into_iter()
        .filter(|pid| table.get(pid).is_some_and(|(_, zombie)| !zombie))
        .filter(|pid| !omitted.contains(pid))
        .map(Pid::from_raw)
        .collect()
}

/// True when PID 1 is alone in its pid namespace (entered sessions, whose
/// parent is outside, are not its children but still count).
pub fn alone_in_namespace() -> bool {
    table().keys().all(|pid| *pid == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_field_after_odd_names() {
        assert_eq!(state_and_parent("42 (sh) S 7 42 42 0"), Some((7, false)));
        assert_eq!(state_and_parent("42 (a) b) c) R 9 1"), Some((9, false)));
        assert_eq!(state_and_parent("garbage"), None);
        assert_eq!(state_and_parent("42 (z) Z 1 42"), Some((1, true)));
        assert_eq!(state_and_parent("42 (Z) S 1 42"), Some((1, false)));
    }

    #[test]
    fn own_children_are_descendants() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let me = nix::unistd::getpid();
        let pid = Pid::from_raw(child.id() as i32);
        assert!(descendants(me).contains(&pid));
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn strays_are_live_descendants_not_omitted() {
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .expect("spawn sleep")
        };
        let (mut kept, mut omitted) = (spawn(), spawn());
        let (k, o) = (kept.id() as i32, omitted.id() as i32);
        let found = strays(false, &[o]);
        assert!(found.contains(&Pid::from_raw(k)));
        assert!(!found.contains(&Pid::from_raw(o)));
        let _ = kept.kill();
        // Dead, not reaped (WNOWAIT): a zombie is no stray.
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        waitid(
            Id::Pid(Pid::from_raw(k)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .expect("waitid");
        assert!(!strays(false, &[o]).contains(&Pid::from_raw(k)));
        let _ = kept.wait();
        let _ = omitted.kill();
        let _ = omitted.wait();
    }
}
