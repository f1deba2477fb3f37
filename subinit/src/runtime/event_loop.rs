//! PID 1's event loop: one thread, one `poll` over the signalfd, the
//! children's output pipes and the notification pipes, with a deadline
//! taken from the core (a script's timeout, a restart, the stop budget).
//! Each wake-up turns into facts for the core (`core::Machine`), whose
//! actions `Effects` carries out, until the core has nothing more to do.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;

use super::effects::Effects;
use super::signals::{self, Meaning, Sender};
use super::status_pipe::StatusPipe;
use super::{omit, procs};
use crate::core::action::{Facts, Role};
use crate::core::machine::Machine;
use crate::logging::SELF;

/// Room for this many `signalfd_siginfo` records per read.
const BATCH: usize = 16;
const INFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();

pub struct Runtime {
    machine: Machine,
    effects: Effects,
    sigfd: SignalFd,
    status: Option<StatusPipe>,
    is_pid1: bool,
}

impl Runtime {
    pub fn new(
        machine: Machine,
        effects: Effects,
        sigfd: SignalFd,
        status: Option<StatusPipe>,
        is_pid1: bool,
    ) -> Runtime {
        Runtime {
            machine,
            effects,
            sigfd,
            status,
            is_pid1,
        }
    }

    /// Runs until a requested stop has finished; returns the exit status:
    /// the session command's, or 0.
    pub fn run(&mut self) -> i32 {
        loop {
            self.settle();
            self.publish_status();
            if let Some(code) = self.machine.exit_status() {
                self.effects.output.flush_all();
                return code;
            }
            self.wait_for_events();
        }
    }

    /// Lets the core move as far as it can now, carrying out its actions.
    /// It is asked again only when it got an answer (a child started) or
    /// now wants the process census it did not get: never merely because
    /// time passed, so a slow kill sweep cannot keep the loop from reaping.
    fn settle(&mut self) {
        loop {
            let facts = self.facts();
            let had_census = self.machine.wants_census();
            let actions = self.machine.advance(Instant::now(), facts);
            let mut again = !had_census && self.machine.wants_census();
            for action in actions {
                if let Some((role, started)) = self.effects.execute(action) {
                    self.machine.started(role, started, Instant::now());
                    again = true;
                }
            }
            if !again {
                return;
            }
        }
    }

    fn facts(&self) -> Facts {
        let no_children = self.effects.children.none();
        // /proc is read only while the stop waits for the last processes.
        let census = self.machine.wants_census();
        let nothing_left = census && no_children && (!self.is_pid1 || procs::alone_in_namespace());
        let no_strays = nothing_left
            || (self.machine.wants_stray_census()
                && procs::strays(self.is_pid1, &omit::omitted()).is_empty());
        Facts {
            no_children,
            nothing_left,
            no_strays,
        }
    }

    fn publish_status(&mut self) {
        // Most wake-ups (a reaped orphan) change nothing shown here.
        let Some(pipe) = self.status.as_mut() else {
            return;
        };
        if let Some(snapshot) = self.machine.take_snapshot() {
            if !pipe.publish(&snapshot) {
                self.status = None;
            }
        }
    }

    /// Waits until something happened that the core may have to act on.
    fn wait_for_events(&mut self) {
        let deadline = self.machine.next_deadline(Instant::now());
        // Nothing but signals to wait for, and no deadline: block in the
        // signalfd's read itself, one syscall fewer per wake-up than poll
        // and read. A wake-up that only reaped orphans gives the core
        // nothing (no deadline, no pipe, no tracked child changed), so the
        // loop stays here for the next signal: the common case, a reaped
        // orphan, costs one read and the waitpid calls, nothing more.
        let notifying = self.effects.ready_pipes.len();
        if self.effects.output.is_empty() && notifying == 0 && deadline.is_none() {
            while !self.read_signals() {}
            return;
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                // Round up so a wake-up never comes just before the deadline.
                let left =
                    at.saturating_duration_since(Instant::now()) + Duration::from_micros(999);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        let (ready, services) = self.poll(timeout);
        if ready.first() == Some(&true) {
            self.read_signals();
        }
        let pipes = ready.len().saturating_sub(1 + notifying);
        for (n, index) in services.into_iter().enumerate() {
            if ready.get(1 + pipes + n) == Some(&true) && self.effects.ready_pipes.read(index) {
                self.machine.service_ready(index, Instant::now());
            }
        }
        // Backwards: draining may remove a pipe by swapping in the last one.
        for index in (1..=pipes).rev().filter(|i| ready[*i]) {
            self.effects.output.drain(index - 1);
        }
    }

    /// Polls the signalfd, the output pipes and the notification pipes (in
    /// that order): which are readable, and the services of the last ones.
    fn poll(&self, timeout: PollTimeout) -> (Vec<bool>, Vec<usize>) {
        let services: Vec<usize> = self.effects.ready_pipes.fds().map(|(i, _)| i).collect();
        let mut fds: Vec<PollFd> = std::iter::once(self.sigfd.as_fd())
            .chain(self.effects.output.fds())
            .chain(self.effects.ready_pipes.fds().map(|(_, fd)| fd))
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        let ready = match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => fds.iter().map(|f| f.any().unwrap_or(false)).collect(),
            // EINTR cannot happen with every signal blocked; log anything else and go on.
            Err(err) => {
                log::debug!(target: SELF, "poll: {err}");
                Vec::new()
            }
        };
        (ready, services)
    }

    /// Reads the queued signals in batches; the signalfd blocks, so this is
    /// called only when it is readable, or to wait for the next signal. A
    /// batch shorter than the buffer means the queue was empty at that
    /// moment, which saves a read that would only block or say EAGAIN.
    /// True if a signal gave the core news (see `on_signal`).
    fn read_signals(&mut self) -> bool {
        // On the stack, zeroed at each wake-up (about 150 instructions):
        // a buffer kept on the heap cost each PID 1 8 kB more at rest
        // (musl's allocator gives it a group of its own; issue 14).
        let mut buf = [0u8; INFO * BATCH];
        self.read_batches(&mut buf)
    }

    fn read_batches(&mut self, buf: &mut [u8]) -> bool {
        let mut news = false;
        loop {
            match nix::unistd::read(self.sigfd.as_fd(), buf) {
                Ok(n) => {
                    for info in buf[..n].chunks_exact(INFO) {
                        let (signo, sender) = signals::decode(info);
                        news |= self.on_signal(signo, sender);
                    }
                    if n < buf.len() || !self.signal_pending() {
                        return news;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    log::error!(target: SELF, "reading signals: {err}");
                    return true;
                }
            }
        }
    }

    /// A signal is queued (a read would not block).
    fn signal_pending(&self) -> bool {
        let mut fds = [PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Acts on one signal; true if the core got news: a tracked child
    /// ended, the last child went, or a stop was requested.
    fn on_signal(&mut self, signo: i32, sender: Sender) -> bool {
        match signals::meaning(signo, sender, self.is_pid1) {
            Meaning::Child => return self.reap(),
            Meaning::Stop => {
                // First, so that the core knows whether anything is left.
                self.reap();
                let why = signals::name(signo);
                self.machine.request_stop(&why, Instant::now());
                return true;
            }
            Meaning::StopFromInside => log::warn!(
                target: SELF,
                "{} from pid {} inside the subhost (code {}) ignored: stop it from the host",
                signals::name(signo),
                sender.pid,
                sender.code
            ),
            Meaning::Hangup => log::info!(target: SELF, "SIGHUP received: nothing to reload"),
            Meaning::Ignore => log::debug!(target: SELF, "{} ignored", signals::name(signo)),
        }
        false
    }

    /// Reaps every child that ended and tells the core about tracked ones;
    /// true if there were any, or if the last child went (`no_children`).
    fn reap(&mut self) -> bool {
        let had_children = !self.effects.children.none();
        let ended = self.effects.children.reap();
        let news = !ended.is_empty() || had_children == self.effects.children.none();
        for ended in ended {
            if let Role::Run(index) = ended.role {
                self.effects.ready_pipes.close(index);
            }
            let now = Instant::now();
            self.machine
                .exited(ended.role, ended.pid, ended.outcome, now);
        }
        news
    }
}
