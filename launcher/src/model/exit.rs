//! A process's end as an exit code, the shell's way: its own code, or
//! 128 + the signal that killed it. Used where a command's status becomes
//! ours (a session's CMD, overlay-go's command).

use nix::sys::wait::WaitStatus;

/// `Exited(c)` is `c`, `Signaled(s)` is `128 + s`; anything else (not an
/// end) is 1.
pub fn shell_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn codes() {
        let p = Pid::from_raw(1);
        assert_eq!(shell_code(WaitStatus::Exited(p, 0)), 0);
        assert_eq!(shell_code(WaitStatus::Exited(p, 3)), 3);
        assert_eq!(
            shell_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            137
        );
        assert_eq!(shell_code(WaitStatus::StillAlive), 1);
    }
}
