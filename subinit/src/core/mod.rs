//! PID 1's decisions, pure: state machines that take `now` and the facts
//! the runtime reports, and return actions. No system calls here, so the
//! whole boot, supervision and stop sequence is unit-tested with fake time
//! (`machine_tests.rs`).

pub mod action;
pub mod backoff;
pub mod boot;
pub mod foreground;
pub mod machine;
#[cfg(test)]
mod machine_tests;
pub mod plan;
pub mod service;
pub mod session;
pub mod snapshot;
pub mod stop;
pub mod supervisor;
