//! The session's command (`--session-fd`), as far as the decisions go: its
//! status becomes PID 1's exit status.

use proto::Outcome;

use crate::logging::SELF;

#[derive(Default)]
pub struct Session {
    /// Its status once it ended: its exit code, or 128+N for signal N.
    status: Option<i32>,
}

impl Session {
    pub fn status(&self) -> Option<i32> {
        self.status
    }

    /// It could not be executed (127: not found, 126: otherwise).
    pub fn failed(&mut self, outcome: Outcome) {
        if let Outcome::Exit(code) = outcome {
            self.status = Some(code);
        }
    }

    /// It ended; true when that ends the subhost.
    pub fn ended(&mut self, outcome: Outcome) -> bool {
        let code = match outcome {
            Outcome::Exit(code) => code,
            Outcome::Signal(sig) => 128 + sig,
            Outcome::Timeout => return false,
        };
        log::info!(target: SELF, "session: ended ({outcome})");
        self.status = Some(code);
        true
    }
}
