//! Status snapshots, subinit → launcher on `--status-fd`, one whole snapshot
//! per change of state:
//!
//! ```text
//! state booting|ready|stopping
//! service NAME KIND STATE [COUNT] [pid=PID]
//! end
//! ```
//!
//! NAME is escaped (see `escape_name`); COUNT, the restarts so far, follows
//! only `restarting` and `failing`; `pid=PID` (the pid inside the subhost)
//! follows a supervised service whose `run` is running.

use std::fmt::Write as _;

use crate::error::{number, DecodeError};
use crate::name::{escape_name, unescape_name};

/// Declares a closed set of words with `as_str` and `parse`.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            fn parse(field: &'static str, text: &str) -> Result<$name, DecodeError> {
                match text {
                    $($word => Ok($name::$variant),)+
                    _ => Err(DecodeError::BadField { field, text: text.to_owned() }),
                }
            }
        }
    };
}

words!(
    /// The subhost as a whole.
    SubhostState { Booting = "booting", Ready = "ready", Stopping = "stopping" }
);

words!(
    /// A start script (START entry, INIT, services-directory script) or a
    /// supervised service.
    Kind { Script = "script", Supervised = "supervised" }
);

words!(
    /// Scripts: starting, started, failed. Supervised: running,
    /// restarting, failing, down, stopped.
    ServiceState {
        Starting = "starting",
        Started = "started",
        Failed = "failed",
        Running = "running",
        Restarting = "restarting",
        Failing = "failing",
        Down = "down",
        Stopped = "stopped",
    }
);

impl ServiceState {
    /// The states written with a restart count.
    fn counts_restarts(self) -> bool {
        matches!(self, ServiceState::Restarting | ServiceState::Failing)
    }
}

/// One service in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub kind: Kind,
    pub state: ServiceState,
    /// Restarts so far; written only for `restarting` and `failing`, read
    /// as 0 when absent.
    pub restarts: u64,
    /// A supervised service's running `run`, as a pid inside the subhost.
    pub pid: Option<u32>,
}

/// A whole snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state: SubhostState,
    pub services: Vec<Service>,
}

impl Snapshot {
    pub fn encode(&self) -> String {
        let mut text = format!("state {}\n", self.state.as_str());
        for s in &self.services {
            let _ = write!(
                text,
                "service {} {} {}",
                escape_name(&s.name),
                s.kind.as_str(),
                s.state.as_str()
            );
            if s.state.counts_restarts() {
                let _ = write!(text, " {}", s.restarts);
            }
            if let Some(pid) = s.pid {
                let _ = write!(text, " pid={pid}");
            }
            text.push('\n');
        }
        text.push_str("end\n");
        text
    }

    /// One snapshot, with or without its `end` line (lines after it are
    /// not read).
    pub fn decode(text: &str) -> Result<Snapshot, DecodeError> {
        let mut state = None;
        let mut services = Vec::new();
        for line in text.lines() {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "state" => state = Some(SubhostState::parse("subhost state", rest)?),
                "service" => services.push(service(line, rest)?),
                "end" if rest.is_empty() => break,
                "" if rest.is_empty() => {}
                _ => return Err(DecodeError::UnknownLine(line.to_owned())),
            }
        }
        Ok(Snapshot {
            state: state.ok_or(DecodeError::NoState)?,
            services,
        })
    }
}

/// `NAME KIND STATE [COUNT]` of a `service` line.
fn service(line: &str, rest: &str) -> Result<Service, DecodeError> {
    let mut words = rest.split(' ');
    let mut next = |field| {
        words.next().ok_or_else(|| DecodeError::MissingField {
            line: line.to_owned(),
            field,
        })
    };
    let name = unescape_name(next("name")?);
    let kind = Kind::parse("kind", next("kind")?)?;
    let state = ServiceState::parse("service state", next("state")?)?;
    let (mut restarts, mut pid) = (0, None);
    for (i, word) in words.enumerate() {
        match word.strip_prefix("pid=") {
            Some(p) if pid.is_none() => pid = Some(number::<u32>("pid", p)?),
            None if i == 0 => restarts = number("restart count", word)?,
            _ => return Err(DecodeError::UnknownLine(format!("{line} ({word:?})"))),
        }
    }
    Ok(Service {
        name,
        kind,
        state,
        restarts,
        pid,
    })
}

/// Takes every complete snapshot (through its `end` line) off the front of
/// `buf`, a pipe's bytes so far, and returns the newest one's text, if any.
pub fn take_newest(buf: &mut Vec<u8>) -> Option<String> {
    let mut newest = None;
    // Start of the snapshot being read, and of the next line.
    let (mut at, mut pos) = (0, 0);
    while let Some(nl) = buf
        .get(pos..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let next = pos + nl + 1;
        if buf.get(pos..pos + nl) == Some(b"end".as_slice()) {
            newest = buf
                .get(at..next)
                .map(|s| String::from_utf8_lossy(s).into_owned());
            at = next;
        }
        pos = next;
    }
    buf.drain(..at);
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            state: SubhostState::Ready,
            services: vec![
                Service {
                    name: "ssh".into(),
                    kind: Kind::Script,
                    state: ServiceState::Started,
                    restarts: 0,
                    pid: None,
                },
                Service {
                    name: "web ui".into(),
                    kind: Kind::Supervised,
                    state: ServiceState::Restarting,
                    restarts: 3,
                    pid: None,
                },
            ],
        }
    }

    const SAMPLE: &str =
        "state ready\nservice ssh script started\nservice web%20ui supervised restarting 3\nend\n";

    #[test]
    fn bytes_as_before_and_round_trip() {
        assert_eq!(sample().encode(), SAMPLE);
        assert_eq!(Snapshot::decode(SAMPLE), Ok(sample()));
        let bare = Snapshot {
            state: SubhostState::Booting,
            services: vec![],
        };
        assert_eq!(Snapshot::decode(&bare.encode()), Ok(bare));
    }

    #[test]
    fn supervised_pid_round_trip() {
        let text = "state ready\nservice web supervised running pid=42\nend\n";
        let snap = Snapshot::decode(text).expect("decodes");
        assert_eq!(snap.services[0].pid, Some(42));
        assert_eq!(snap.encode(), text);
        let text = "state ready\nservice web supervised failing 2 pid=7\nend\n";
        let snap = Snapshot::decode(text).expect("decodes");
        assert_eq!(
            (snap.services[0].restarts, snap.services[0].pid),
            (2, Some(7))
        );
        assert!(
            Snapshot::decode("state ready\nservice w supervised running pid=1 pid=2\n").is_err()
        );
        assert!(Snapshot::decode("state ready\nservice w supervised running pid=x\n").is_err());
    }

    #[test]
    fn malformed() {
        use DecodeError::*;
        assert_eq!(
            Snapshot::decode("service a script started\nend\n"),
            Err(NoState)
        );
        assert_eq!(Snapshot::decode(""), Err(NoState));
        assert!(matches!(
            Snapshot::decode("state ready\nbogus\n"),
            Err(UnknownLine(_))
        ));
        assert!(matches!(
            Snapshot::decode("state odd\n"),
            Err(BadField { .. })
        ));
        assert!(matches!(
            Snapshot::decode("state ready\nservice a script x\n"),
            Err(BadField { .. })
        ));
        assert!(matches!(
            Snapshot::decode("state ready\nservice a script failing y\n"),
            Err(BadField { .. })
        ));
        assert!(matches!(
            Snapshot::decode("state ready\nservice a script\n"),
            Err(MissingField { field: "state", .. })
        ));
        assert!(matches!(
            Snapshot::decode("state ready\nservice a script started 1 2\n"),
            Err(UnknownLine(_))
        ));
    }

    #[test]
    fn keeps_the_newest_whole_snapshot() {
        let mut buf = b"state booting\nend\nstate ready\nend\nstate stop".to_vec();
        assert_eq!(take_newest(&mut buf).as_deref(), Some("state ready\nend\n"));
        assert_eq!(buf, b"state stop".to_vec());
        assert_eq!(take_newest(&mut buf), None);
        buf.extend_from_slice(b"ping\nend\n");
        assert_eq!(
            take_newest(&mut buf).as_deref(),
            Some("state stopping\nend\n")
        );
        assert!(buf.is_empty());
    }
}
