//! The host ids of a `PRIVATE_USERS` subhost: picked (`yes`) or taken as
//! given (`FIRST:COUNT`), checked against the ranges the running subhosts
//! recorded, and recorded in the run directory as `idrange` ("FIRST
//! COUNT"), where `--list`, overlay-go and the next boot find it.
//!
//! `yes` picks like systemd-nspawn's `pick`: ranges of 65,536 ids from
//! 0x70000000 up, in 65,536 steps, skipping every range a running subhost
//! recorded, every range of /etc/subuid and /etc/subgid (the host's
//! rootless containers) and every id of /etc/passwd and /etc/group
//! (a host user). The check and the record happen under one lock,
//! `/run/overlay-boot/.id-ranges.lock`, so two boots never take the same
//! ids.

use std::fs::File;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{At, Error, Result};
use crate::kernel::userns::IdMap;
use crate::model::config::{reachable_by_users, Config, Fault, PrivateUsers};
use crate::subhost::lock::{self, Probe};
use crate::subhost::state::{self, RUN_DIR};

/// The record's file in the run directory.
pub const FILE: &str = "idrange";
/// The lock that serialises the pick-and-record (more than 12 characters:
/// never a NAME).
const LOCK: &str = ".id-ranges.lock";
/// Where `yes` starts picking, its step and its size.
const PICK_FIRST: u32 = 0x7000_0000;
const PICK_SIZE: u32 = 0x1_0000;
/// Where picking stops: the last range ends below 2^32-1.
const PICK_END: u32 = 0xFFFE_0000;

/// Reserves the subhost's ids (None for PRIVATE_USERS=no), with the NAME
/// lock held: refused with exit 2 when the range overlaps a running
/// subhost's, none is free, or the host allows no more user namespaces.
pub fn reserve(cfg: &Config) -> Result<Option<IdMap>> {
    if cfg.private_users == PrivateUsers::No {
        return Ok(None);
    }
    // Why: a file root inside makes lands in UPPER as a host file of the
    // same owner (uid 0 for root inside); only UPPER's being out of every
    // host user's reach keeps a setuid-root one from being theirs to run.
    if reachable_by_users(&cfg.upper) {
        let fault = Fault::Reachable {
            what: "UPPER",
            path: cfg.upper.clone(),
        };
        return Err(Error::Config(cfg.private_users_fault(fault)));
    }
    let _lock = take_lock()?;
    let others = running_ranges(&cfg.name);
    check_limit(cfg, others.len())?;
    let map = match cfg.private_users {
        PrivateUsers::Range { first, count } => {
            let map = IdMap { first, count };
            if let Some((by, _)) = others.iter().find(|(_, r)| r.overlaps(&map)) {
                let range = format!("{first}:{count}");
                let fault = Fault::IdRangeInUse {
                    range,
                    by: by.clone(),
                };
                return Err(Error::Config(cfg.private_users_fault(fault)));
            }
            map
        }
        _ => pick(&others, &sub_ids())
            .ok_or_else(|| Error::Config(cfg.private_users_fault(Fault::NoFreeIdRange)))?,
    };
    let path = state::dir(&cfg.name).join(FILE);
    std::fs::write(&path, format!("{} {}\n", map.first, map.count)).at("write", &path)?;
    Ok(Some(map))
}

/// The range recorded for `name`, if any.
pub fn recorded(name: &str) -> Option<IdMap> {
    parse(&state::field(name, FILE)?)
}

/// The range a FILE's text (without its newline) records.
pub fn parse(text: &str) -> Option<IdMap> {
    let (first, count) = text.split_once(' ')?;
    let (first, count) = (first.parse().ok()?, count.parse().ok()?);
    (count > 0 && u64::from(first) + u64::from(count) < u64::from(u32::MAX))
        .then_some(IdMap { first, count })
}

/// The first free range of 65,536 ids from 0x70000000 up.
fn pick(others: &[(String, IdMap)], sub: &[IdMap]) -> Option<IdMap> {
    let mut first = PICK_FIRST;
    while first < PICK_END {
        let map = IdMap {
            first,
            count: PICK_SIZE,
        };
        let taken = others
            .iter()
            .map(|(_, r)| r)
            .chain(sub)
            .any(|r| r.overlaps(&map));
        if !taken {
            return Some(map);
        }
        first += PICK_SIZE;
    }
    None
}

/// The ranges recorded by the other subhosts whose lock is held (running
/// or booting); a stale record takes nothing.
fn running_ranges(me: &str) -> Vec<(String, IdMap)> {
    let mut out = Vec::new();
    for name in state::names() {
        if name == me {
            continue;
        }
        let Some(map) = recorded(&name) else { continue };
        if matches!(lock::probe(&name), Ok(Probe::Running)) {
            out.push((name, map));
        }
    }
    out
}

/// Refuses a boot the host's `user.max_user_namespaces` does not allow.
fn check_limit(cfg: &Config, running: usize) -> Result<()> {
    let max: usize = std::fs::read_to_string(MAX_USERNS)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(usize::MAX);
    match limit_fault(running, max) {
        None => Ok(()),
        Some(why) => Err(Error::Config(
            cfg.private_users_fault(Fault::NoUserNamespace(why)),
        )),
    }
}

/// The host's limit on user namespaces.
const MAX_USERNS: &str = "/proc/sys/user/max_user_namespaces";

/// Why one more user namespace is refused with `running` subhosts in one
/// each and the host's limit `max`; None when it fits.
fn limit_fault(running: usize, max: usize) -> Option<String> {
    match max {
        _ if running < max => None,
        0 => Some(format!("user namespaces are disabled ({MAX_USERNS} is 0)")),
        _ => Some(format!(
            "{running} subhosts already use user namespaces, {MAX_USERNS} allows {max}"
        )),
    }
}

/// The ranges of /etc/subuid and /etc/subgid (`name:first:count`), and
/// the ids of /etc/passwd and /etc/group (a host user's uid in a picked
/// range would own the subhost's processes).
fn sub_ids() -> Vec<IdMap> {
    let mut out = Vec::new();
    let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
    for file in ["/etc/subuid", "/etc/subgid"] {
        out.extend(read(file).lines().filter_map(sub_id_line));
    }
    let id = |l: &str| l.split(':').nth(2)?.parse().ok();
    for file in ["/etc/passwd", "/etc/group"] {
        let ids = read(file).lines().filter_map(id).collect::<Vec<u32>>();
        out.extend(ids.into_iter().map(|first| IdMap { first, count: 1 }));
    }
    out
}

fn sub_id_line(line: &str) -> Option<IdMap> {
    let mut parts = line.trim().split(':').skip(1);
    let first: u32 = parts.next()?.parse().ok()?;
    let count: u32 = parts.next()?.parse().ok()?;
    (count > 0 && first.checked_add(count - 1).is_some()).then_some(IdMap { first, count })
}

/// The lock serialising the check and the record, root's alone.
fn take_lock() -> Result<Flock<File>> {
    let path = Path::new(RUN_DIR).join(LOCK);
    let file = lock::open_root_only(&path, false)?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .at("flock", &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_free_range() {
        let r = |first| IdMap {
            first,
            count: PICK_SIZE,
        };
        assert_eq!(pick(&[], &[]), Some(r(PICK_FIRST)));
        let others = vec![("a".to_string(), r(PICK_FIRST))];
        assert_eq!(pick(&others, &[]), Some(r(PICK_FIRST + PICK_SIZE)));
        let sub = [IdMap {
            first: PICK_FIRST + PICK_SIZE + 5,
            count: 1,
        }];
        assert_eq!(pick(&others, &sub), Some(r(PICK_FIRST + 2 * PICK_SIZE)));
    }

    #[test]
    fn user_namespace_limit() {
        assert_eq!(limit_fault(0, 10), None);
        assert_eq!(limit_fault(9, 10), None);
        let full = limit_fault(10, 10).expect("refused");
        assert!(
            full.contains("10 subhosts") && full.contains("allows 10"),
            "{full}"
        );
        let off = limit_fault(0, 0).expect("refused");
        assert!(off.contains("disabled"), "{off}");
    }

    #[test]
    fn subuid_lines() {
        assert_eq!(
            sub_id_line("alice:100000:65536"),
            Some(IdMap {
                first: 100_000,
                count: 65536
            })
        );
        assert_eq!(sub_id_line("bob:x:1"), None);
        assert_eq!(sub_id_line("bob:4294967295:2"), None);
    }

    #[test]
    fn overlap() {
        let a = IdMap {
            first: 10,
            count: 5,
        };
        assert!(a.overlaps(&IdMap {
            first: 14,
            count: 1
        }));
        assert!(!a.overlaps(&IdMap {
            first: 15,
            count: 1
        }));
        assert!(a.overlaps(&IdMap {
            first: 0,
            count: 11
        }));
        assert!(!a.overlaps(&IdMap {
            first: 0,
            count: 10
        }));
    }
}
