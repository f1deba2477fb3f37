//! Restart policy of a supervised service: 1 s doubling to 60 s between
//! restarts, reset once a run has lasted a minute; after `FAILING_AFTER`
//! quick exits in a row the service is reported as failing (and still
//! retried at the cap).

use std::time::Duration;

const FIRST: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(60);
/// A run that lasted this long counts as healthy and resets the delay.
const HEALTHY: Duration = Duration::from_secs(60);
pub const FAILING_AFTER: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
    /// Quick exits in a row.
    pub quick_exits: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST,
            quick_exits: 0,
        }
    }
}

impl Backoff {
    /// The run ended after `uptime`: how long to wait before the next start.
    pub fn after_exit(&mut self, uptime: Duration) -> Duration {
        if uptime >= HEALTHY {
            *self = Backoff::default();
        }
        self.quick_exits += 1;
        let delay = self.next;
        self.next = (self.next * 2).min(CAP);
        delay
    }

    pub fn failing(&self) -> bool {
        self.quick_exits >= FAILING_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(10);
        let delays: Vec<u64> = (0..8).map(|_| b.after_exit(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(b.failing());
        assert_eq!(b.after_exit(Duration::from_secs(61)), FIRST);
        assert!(!b.failing());
    }
}
