//! The system calls around the core: the signalfd and poll loop, reaping
//! and the child map, spawning, the services' output, the notification and
//! status pipes, the process table and Debian's omit list, memory trimming,
//! the services directory.

pub mod children;
pub mod effects;
pub mod event_loop;
pub mod exec_helper;
pub mod lsb;
pub mod memory;
pub mod notify;
pub mod omit;
pub mod output;
pub mod procs;
pub mod services_dir;
pub mod signals;
pub mod spawn;
pub mod status_pipe;
