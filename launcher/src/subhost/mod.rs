//! A subhost's life: its run state, the set-up step by step, PID 1's
//! spawn, the monitor that waits for it, and the one teardown. Built on
//! the kernel primitives and the model; never imports a command.

pub mod attach;
pub mod cables;
pub mod confine;
pub mod conflock;
pub mod devfs;
pub mod diskmounts;
pub mod early;
pub mod exeseal;
pub mod hooks;
pub mod idmount;
pub mod idrange;
pub mod ifupdown;
pub mod interrupt;
pub mod legacy;
pub mod lock;
pub mod logrotate;
pub mod monitor;
pub mod oom;
pub mod outcome;
pub mod output;
pub mod owned;
pub mod policy;
pub mod rclayer;
pub mod reserve;
pub mod rootfs;
pub mod rootindex;
pub mod setup;
pub mod spawn;
pub mod state;
pub mod status;
pub mod subinit_path;
pub mod teardown;
pub mod tell;
mod watch;
