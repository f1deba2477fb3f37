//! Pure data and text: the configuration, names, paths, parsers and wire
//! formats. Nothing here makes a system call that changes anything; it
//! imports nothing from the layers above.

pub mod caps;
pub mod config;
pub mod exit;
pub mod hardened;
pub mod hierarchy;
pub mod ifupdown;
pub mod mountinfo;
pub mod names;
pub mod ostext;
pub mod parttable;
pub mod paths;
pub mod report;
pub mod seccomp;
