//! Kernel primitives, one file per concern: each wraps one syscall
//! sequence (namespaces, cgroups, loop devices, pidfds, ptys, netlink).
//! Imports only the model below it.

pub mod bang;
pub mod caps;
pub mod cgroup;
pub mod cgroups;
pub mod contain;
pub mod devbpf;
pub mod devices;
pub mod dirfd;
pub mod idmap;
pub mod inroot;
pub mod limits;
pub mod loopdev;
pub mod netlink;
pub mod netns;
pub mod notify;
pub mod nsenter;
pub mod pidfd;
pub mod privilege;
pub mod process;
pub mod pty;
pub mod rest;
pub mod seccomp;
pub mod sys;
pub mod term;
pub mod usage;
pub mod userns;
pub mod watchdog;
