//! The subinit's status snapshots (`--status-fd`, docs/subinit-contract.md),
//! the wire format: parsed, and the newest whole one taken off a stream.
//! The monitor keeps it in the run directory (`subhost::status`).
//!
//!     state booting|ready|stopping
//!     service NAME KIND STATE [COUNT]
//!     end

/// One service as the subinit reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The name, `%20` decoded back to a blank.
    pub name: String,
    /// `script` or `supervised`.
    pub kind: String,
    pub state: String,
    /// Restarts so far (COUNT), 0 when not given.
    pub restarts: u64,
}

/// A whole snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state: String,
    pub services: Vec<Service>,
}

impl Snapshot {
    /// Parses one snapshot (with or without its `end` line); None when
    /// there is no `state` line or a line is malformed.
    pub fn parse(text: &str) -> Option<Snapshot> {
        let mut state = None;
        let mut services = Vec::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            match words.next()? {
                "state" => state = Some(words.next()?.to_string()),
                "service" => {
                    let name = decode(words.next()?);
                    let kind = words.next()?.to_string();
                    let st = words.next()?.to_string();
                    let restarts = match words.next() {
                        Some(n) => n.parse().ok()?,
                        None => 0,
                    };
                    services.push(Service {
                        name,
                        kind,
                        state: st,
                        restarts,
                    });
                }
                "end" => break,
                "" => {}
                _ => return None,
            }
        }
        Some(Snapshot {
            state: state?,
            services,
        })
    }
}

/// A name as the subinit writes it, `%XX` decoded (it encodes `%` and
/// blanks so that a name is one word).
pub fn decode(word: &str) -> String {
    let b = word.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes every complete snapshot (through its `end` line) off the front of
/// `buf` and returns the newest one's text, if any.
pub fn newest(buf: &mut Vec<u8>) -> Option<String> {
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

    #[test]
    fn parses_a_snapshot() {
        let s = Snapshot::parse(
            "state ready\nservice ssh script started\nservice web%20ui supervised restarting 3\nend\n",
        );
        assert_eq!(
            s,
            Some(Snapshot {
                state: "ready".into(),
                services: vec![
                    Service {
                        name: "ssh".into(),
                        kind: "script".into(),
                        state: "started".into(),
                        restarts: 0
                    },
                    Service {
                        name: "web ui".into(),
                        kind: "supervised".into(),
                        state: "restarting".into(),
                        restarts: 3
                    },
                ]
            })
        );
        assert_eq!(Snapshot::parse("service a script started\nend\n"), None);
        assert_eq!(decode("a%20b%25c%09d%zz%2"), "a b%c\td%zz%2");
        assert_eq!(Snapshot::parse("state ready\nbogus\n"), None);
        assert_eq!(Snapshot::parse("state ready\nservice a script x y\n"), None);
    }

    #[test]
    fn keeps_the_newest_whole_snapshot() {
        let mut buf = b"state booting\nend\nstate ready\nend\nstate stop".to_vec();
        assert_eq!(newest(&mut buf).as_deref(), Some("state ready\nend\n"));
        assert_eq!(buf, b"state stop".to_vec());
        assert_eq!(newest(&mut buf), None);
        buf.extend_from_slice(b"ping\nend\n");
        assert_eq!(newest(&mut buf).as_deref(), Some("state stopping\nend\n"));
        assert!(buf.is_empty());
    }
}
