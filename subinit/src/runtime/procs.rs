//! The process table, read from /proc, for the stop sweep: which processes
//! other than PID 1 are left, and (when the subinit is a subreaper rather than
//! PID 1) which of them descend from it.

use std::collections::HashMap;
use std::fs;

use nix::unistd::Pid;

/// Pids of all processes visible in /proc, with their parent pids.
fn table() -> HashMap<i32, i32> {
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
        if let Some(ppid) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| parent_from_stat(&stat))
        {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// The ppid field of /proc/PID/stat; the command name may hold ')' and blanks.
fn parent_from_stat(stat: &str) -> Option<i32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Every process that descends from `root` (excluding `root`).
pub fn descendants(root: Pid) -> Vec<Pid> {
    let parents = table();
    let mut found = vec![root.as_raw()];
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
    found.into_iter().skip(1).map(Pid::from_raw).collect()
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
        assert_eq!(parent_from_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parent_from_stat("42 (a) b) c) R 9 1"), Some(9));
        assert_eq!(parent_from_stat("garbage"), None);
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
}
